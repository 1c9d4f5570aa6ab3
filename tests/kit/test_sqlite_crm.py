"""The SQLite-file CRM written from the kit passes the conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import ConnectorContext
from tests.kit.conformance import ConnectorConformance
from tests.kit.sqlite_crm import SqliteCrmConnector, SqliteCrmSettings, create_crm

KEY = "crm-file-key-0b7f"


class TestSqliteCrmConnector(ConnectorConformance):
    side = "external"

    @pytest.fixture
    def crm(self, tmp_path: Path) -> Path:
        create_crm(tmp_path / "crm.sqlite", KEY)
        return tmp_path / "crm.sqlite"

    @pytest.fixture
    def connector(self, crm: Path) -> Iterator[SqliteCrmConnector]:
        settings = SqliteCrmSettings(path=crm, api_key=KEY, page_size=2)
        with SqliteCrmConnector(settings, ConnectorContext("p", "external", "crm.example.com")) as conn:
            yield conn

    @pytest.fixture
    def refused_connector(self, crm: Path) -> Iterator[SqliteCrmConnector]:
        settings = SqliteCrmSettings(path=crm, api_key="not-the-key")
        with SqliteCrmConnector(settings, ConnectorContext("p", "external", "crm.example.com")) as conn:
            yield conn
