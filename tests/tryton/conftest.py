"""Fixtures: one real Tryton 8.2 server per test session (per xdist worker), and connectors bound to it.

Tryton is installed into a cached venv with a cached template database
(:mod:`connectors.tryton.testserver`). Without PyPI access the tests are skipped
with the reason shown, except in CI (``CI=true``), where that is a failure.

Tests share the server's database, so each test works in a "universe" of its own:
its connector's ``company_category`` and ``person_category`` carry a unique
suffix, and it only ever sees the parties it made.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base import ConnectorContext
from connectors.tryton import TrytonConnector, TrytonSettings
from connectors.tryton.rpc import RpcClient
from connectors.tryton.testserver import (
    Install,
    TrytonServer,
    TrytonUnavailable,
    ensure_install,
    running_server,
)

APP_ID = "tryton.example.com"


@pytest.fixture(scope="session")
def tryton_install() -> Install:
    try:
        return ensure_install()
    except TrytonUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Tryton could not be installed, and CI must run the Tryton tests: {exc}")
        pytest.skip(f"Tryton could not be installed here (PyPI unreachable?): {exc}")


@pytest.fixture(scope="session")
def tryton_server(tryton_install: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    with running_server(tryton_install, tmp_path_factory.mktemp("tryton")) as server:
        yield server


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def admin(tryton_server: TrytonServer) -> Iterator[RpcClient]:
    """A separate JSON-RPC session: edits made "by someone else" in Tryton."""
    client = RpcClient(TrytonSettings(url=tryton_server.url, database=tryton_server.database,
                                      username=tryton_server.username, password=SecretStr(tryton_server.password)))
    yield client
    client.close()


ConnectorFactory = Callable[..., TrytonConnector]


@pytest.fixture
def make_connector(tryton_server: TrytonServer, uid: str) -> Iterator[ConnectorFactory]:
    made: list[TrytonConnector] = []

    def make(custom_fields: dict[str, list[str]] | None = None, **overrides: Any) -> TrytonConnector:
        table = tryton_server.settings(company_category=f"Company {uid}", person_category=f"Person {uid}",
                                       cursor_overlap=0)
        if overrides.get("auth") == "rest_key":
            table = {k: v for k, v in table.items() if k not in ("username", "password")}
            table["rest_key"] = tryton_server.rest_key
        table.update(overrides)
        context = ConnectorContext(pair="test", side="external", app_id=APP_ID,
                                   custom_fields=custom_fields or {})
        connector = TrytonConnector(TrytonSettings.model_validate(table), context)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture(params=["session", "rest_key"])
def auth(request: pytest.FixtureRequest) -> str:
    """Run a test over JSON-RPC (login session) and over the REST API (bearer key)."""
    return str(request.param)


@pytest.fixture
def connector(make_connector: ConnectorFactory, auth: str) -> TrytonConnector:
    return make_connector(auth=auth)
