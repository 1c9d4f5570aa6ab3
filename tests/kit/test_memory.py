"""The memory example passes the conformance suite (the model of a connector's ~20-line conformance module)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import ConnectorContext
from connectors.memory import MemoryConnector, MemorySettings, MemoryStore
from tests.kit.conformance import ConnectorConformance


class TestMemoryConnector(ConnectorConformance):
    side = "external"
    has_credentials = False  # nothing to refuse

    @pytest.fixture
    def connector(self) -> Iterator[MemoryConnector]:
        name = f"conformance-{uuid.uuid4().hex}"
        with MemoryConnector(MemorySettings(backend=name, page_size=2), ConnectorContext("p", "external", "crm")) as conn:
            yield conn
        MemoryStore.forget(name)


class TestMemoryConnectorOnTheClozeSide(TestMemoryConnector):
    side = "cloze"


class TestMemoryConnectorInAFile(ConnectorConformance):
    has_credentials = False

    @pytest.fixture
    def connector(self, tmp_path: Path) -> Iterator[MemoryConnector]:
        settings = MemorySettings(backend=f"file-{uuid.uuid4().hex}", path=tmp_path / "crm.json", page_size=3)
        with MemoryConnector(settings, ConnectorContext("p", "external", "crm")) as conn:
            yield conn
