"""The Tryton connector passes the conformance suite against a real Tryton server (started as tests/tryton does)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.tryton import TrytonConnector, TrytonSettings
from connectors.tryton.testserver import TrytonServer
from tests.kit.conformance import ConnectorConformance
from tests.tryton.conftest import tryton_install, tryton_server

pytestmark = pytest.mark.tryton
__all__ = ["tryton_install", "tryton_server"]  # the session fixtures, shared with tests/tryton


def tryton(server: TrytonServer, **changes: Any) -> TrytonConnector:
    uid = uuid.uuid4().hex[:10]  # a universe of its own on the shared database (see tests/tryton/conftest.py)
    table = server.settings(company_category=f"Company {uid}", person_category=f"Person {uid}", cursor_overlap=0,
                            **changes)
    return TrytonConnector(TrytonSettings.model_validate(table), ConnectorContext("p", "external", "tryton.example.com"))


class TestTrytonConnector(ConnectorConformance):
    side = "external"

    @pytest.fixture
    def connector(self, tryton_server: TrytonServer) -> Iterator[TrytonConnector]:
        with tryton(tryton_server) as conn:
            yield conn

    @pytest.fixture
    def refused_connector(self, tryton_server: TrytonServer) -> Iterator[TrytonConnector]:
        with tryton(tryton_server, password="wrong-password-1234") as conn:
            yield conn
