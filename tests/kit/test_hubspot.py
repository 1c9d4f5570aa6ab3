"""The HubSpot connector passes the conformance suite against the HubSpot emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.emulator import HubSpotEmulator
from tests.kit.conformance import ConnectorConformance

TOKEN = "pat-na1-kit-token-0000"


def hubspot(emulator: HubSpotEmulator, **changes: Any) -> HubSpotConnector:
    settings = HubSpotSettings.model_validate({"base_url": emulator.url, "token": TOKEN, "change_overlap_seconds": 0,
                                               "requests_per_10s": 1000, "search_per_second": 50, "search_page_size": 2, "list_page_size": 2,
                                               **changes})
    return HubSpotConnector(settings, ConnectorContext("p", "external", "hubspot.com"))


class TestHubSpotConnector(ConnectorConformance):
    side = "external"

    @pytest.fixture
    def emulator(self) -> Iterator[HubSpotEmulator]:
        with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as emu:
            yield emu

    @pytest.fixture
    def connector(self, emulator: HubSpotEmulator) -> Iterator[HubSpotConnector]:
        with hubspot(emulator) as conn:
            yield conn

    @pytest.fixture
    def refused_connector(self, emulator: HubSpotEmulator) -> Iterator[HubSpotConnector]:
        with hubspot(emulator, token="pat-na1-wrong-token-9999") as conn:
            yield conn
