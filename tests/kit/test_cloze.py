"""The Cloze connector passes the conformance suite against the Cloze emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.cloze import ClozeConnector
from connectors.cloze.connector import ClozeSettings
from connectors.cloze.emulator import ClozeEmulator
from tests.kit.conformance import ConnectorConformance

KEY, USER = "kit-key-5e1d7c3b9a", "owner@example.com"


def cloze(emulator: ClozeEmulator, **changes: Any) -> ClozeConnector:
    settings = ClozeSettings.model_validate({"base_url": emulator.url, "api_key": KEY, "user": USER, "page_size": 2,
                                             "rate_per_second": 1000, "retry_attempts": 2, "retry_initial_wait": 0.01,
                                             **changes})
    return ClozeConnector(settings, ConnectorContext("p", "cloze", "crm.example.com", app_name="CRM"))


class TestClozeConnector(ConnectorConformance):
    side = "cloze"

    @pytest.fixture
    def emulator(self) -> Iterator[ClozeEmulator]:
        with ClozeEmulator(api_key=KEY, user=USER) as emu:
            yield emu

    @pytest.fixture
    def connector(self, emulator: ClozeEmulator) -> Iterator[ClozeConnector]:
        with cloze(emulator) as conn:
            yield conn

    @pytest.fixture
    def refused_connector(self, emulator: ClozeEmulator) -> Iterator[ClozeConnector]:
        with cloze(emulator, api_key="kit-wrong-key-000000") as conn:
            yield conn
