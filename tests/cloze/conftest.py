"""Fixtures for the Cloze tests: a fresh emulator per test, clients, and the live-API target.

The contract tests run once against the emulator and once against the real
Cloze API; the live run needs ``CLOZE_API_KEY`` and ``CLOZE_USER`` (optionally
``CLOZE_BASE_URL``) and is skipped, with the reason shown, when they are unset.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog

from connectors.base import ConnectorContext
from connectors.cloze.client import ClozeClient
from connectors.cloze.connector import ClozeConnector, ClozeSettings
from connectors.cloze.emulator import ClozeEmulator
from connectors.http import RetryPolicy
from connectors.model import Entity

API_KEY = "test-key-6f1c2d9e8a7b"
USER = "owner@example.com"
TEST_SOURCE = "cloze-syncd-test.example"
FAST_RETRY = RetryPolicy(attempts=4, initial=0.05, maximum=0.5, max_total=15.0, jitter=0.1)


@pytest.fixture
def emulator() -> Iterator[ClozeEmulator]:
    with ClozeEmulator(api_key=API_KEY, user=USER, seed=7, webhook_time_scale=0.001) as emu:
        yield emu


@pytest.fixture
def make_client(emulator: ClozeEmulator) -> Iterator[Callable[..., ClozeClient]]:
    made: list[ClozeClient] = []

    def make(**overrides: Any) -> ClozeClient:
        options: dict[str, Any] = {
            "base_url": emulator.url,
            "user": USER,
            "rate_per_second": None,
            "retry": FAST_RETRY,
            "timeout": 5.0,
        }
        options.update(overrides)
        client = ClozeClient(options.pop("api_key", API_KEY), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ClozeClient]) -> ClozeClient:
    return make_client()


@pytest.fixture
def connector(emulator: ClozeEmulator) -> Iterator[ClozeConnector]:
    settings = ClozeSettings(
        base_url=emulator.url,
        api_key=API_KEY,
        user=USER,
        rate_per_second=1000,
        page_size=50,
        retry_attempts=3,
        retry_initial_wait=0.05,
    )
    context = ConnectorContext(
        pair="main",
        side="cloze",
        app_id="crm.example.com",
        app_name="Example CRM",
        app_url_template="https://crm.example.com/{entity}/{id}",
        custom_fields={"person": ["lead-source"], "company": ["account-number"]},
    )
    with ClozeConnector(settings, context) as conn:
        assert isinstance(conn, ClozeConnector)
        yield conn


@dataclass
class Target:
    """Where a contract test runs: the emulator, or the real API with cleanup of what it created."""

    name: str
    client: ClozeClient
    emulator: ClozeEmulator | None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    created: list[tuple[Entity, str]] = field(default_factory=list)

    def uid(self, label: str) -> str:
        return f"{self.run_id}-{label}"

    def email(self, label: str) -> str:
        return f"syncd-test-{self.run_id}-{label}@example.com"

    def domain(self, label: str) -> str:
        return f"syncd-test-{self.run_id}-{label}.example.com"

    def track(self, entity: Entity, uniqueid: str) -> None:
        self.created.append((entity, uniqueid))

    def cleanup(self) -> None:
        for entity, uniqueid in reversed(self.created):
            try:
                self.client.delete(entity, uniqueid)
            except Exception:  # noqa: BLE001 - best effort: a failed cleanup must not hide the test result
                logging.getLogger(__name__).warning("cleanup failed for %s %s", entity, uniqueid)


@pytest.fixture(params=["emulator", pytest.param("live", marks=pytest.mark.live_cloze)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "emulator":
        with ClozeEmulator(api_key=API_KEY, user=USER, seed=11) as emu:
            client = ClozeClient(API_KEY, base_url=emu.url, user=USER, rate_per_second=None, retry=FAST_RETRY)
            yield Target("emulator", client, emu)
            client.close()
        return
    key, user = os.environ.get("CLOZE_API_KEY"), os.environ.get("CLOZE_USER")
    if not key or not user:
        pytest.skip("live Cloze contract run needs CLOZE_API_KEY and CLOZE_USER in the environment")
    client = ClozeClient(
        key,
        base_url=os.environ.get("CLOZE_BASE_URL", "https://api.cloze.com"),
        user=user,
        rate_per_second=2.0,
        retry=RetryPolicy(attempts=5, initial=1.0, maximum=10.0, max_total=60.0),
    )
    live = Target("live", client, None)
    try:
        yield live
    finally:
        live.cleanup()
        client.close()


@pytest.fixture
def all_logs() -> Iterator[None]:
    """Let every structlog level through for the duration of a test (the suite default drops them)."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield
    finally:
        structlog.configure(**previous)
