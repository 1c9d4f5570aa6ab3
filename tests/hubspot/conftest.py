"""Fixtures: a fresh HubSpot emulator per test (real HTTP on 127.0.0.1, port 0) and connectors bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from connectors.base import ConnectorContext
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.emulator import HubSpotEmulator

TOKEN = "pat-na1-test-token-1234"

hypothesis_settings.register_profile("hubspot", max_examples=60, deadline=None)
hypothesis_settings.load_profile("hubspot")


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    """No rate limits unless a test sets them: most tests are about behaviour, not pacing."""
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hs:
        yield hs


@pytest.fixture
def http(emulator: HubSpotEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        yield client


ConnectorFactory = Callable[..., HubSpotConnector]


@pytest.fixture
def make_connector(emulator: HubSpotEmulator) -> Iterator[ConnectorFactory]:
    made: list[HubSpotConnector] = []

    def make(custom_fields: dict[str, list[str]] | None = None, **overrides: Any) -> HubSpotConnector:
        values: dict[str, Any] = {"base_url": emulator.url, "token": TOKEN, "change_overlap_seconds": 0,
                                  "requests_per_10s": 1000, "search_per_second": 50}
        values.update(overrides)
        context = ConnectorContext(pair="test", side="external", app_id="hubspot.com",
                                   custom_fields=custom_fields or {})  # type: ignore[arg-type]
        connector = HubSpotConnector(HubSpotSettings(**values), context)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def connector(make_connector: ConnectorFactory) -> HubSpotConnector:
    return make_connector()
