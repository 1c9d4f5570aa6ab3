"""The Salesforce connector passes the conformance suite against the Salesforce emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.emulator import SalesforceEmulator
from connectors.salesforce.settings import SalesforceSettings
from tests.kit.conformance import ConnectorConformance

SESSION = "00D5g0000000001!kit-session-token"


def salesforce(emulator: SalesforceEmulator, **changes: Any) -> SalesforceConnector:
    settings = SalesforceSettings.model_validate({"auth": "session", "session_id": SESSION,
                                                  "instance_url": emulator.url, **changes})
    return SalesforceConnector(settings, ConnectorContext("p", "external", "acme.my.salesforce.com"))


class TestSalesforceConnector(ConnectorConformance):
    side = "external"

    @pytest.fixture
    def emulator(self) -> Iterator[SalesforceEmulator]:
        with SalesforceEmulator(SESSION, query_batch_size=200) as emu:
            yield emu

    @pytest.fixture
    def connector(self, emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
        with salesforce(emulator, query_batch_size=200) as conn:
            yield conn

    @pytest.fixture
    def refused_connector(self, emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
        with salesforce(emulator, session_id="00D5g0000000001!wrong-session") as conn:
            yield conn
