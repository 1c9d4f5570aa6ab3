"""The memory example passes the conformance suite (the model of a connector's ~20-line conformance module)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import connectors.memory as memory_module
from connectors.base import ConnectorContext
from connectors.memory import MemoryConnector, MemorySettings, MemoryStore
from connectors.model import CreateRequest, UpdateRequest
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


def _file_connector(path: Path) -> MemoryConnector:
    """A connector over ``path`` with a backend of its own: as another process would open the file."""
    return MemoryConnector(MemorySettings(backend=f"file-{uuid.uuid4().hex}", path=path),
                           ConnectorContext("p", "external", "crm"))


def test_a_file_that_did_not_change_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quiet run asks for changes of every kind; parsing the whole file each time made its cost the
    size of the account (14,500 records: 1.4 s of a worker's CPU for a run that found nothing)."""
    path = tmp_path / "crm.json"
    writer = _file_connector(path)
    writer.create("person", [CreateRequest(f"k{i}", {"first_name": f"P{i}"}) for i in range(30)])
    reader = _file_connector(path)
    cursor = reader.current_cursor("person")
    parsed: list[str] = []
    real_loads = memory_module.json.loads
    monkeypatch.setattr(memory_module.json, "loads", lambda text: parsed.append("x") or real_loads(text))
    for _ in range(3):
        assert [p.records for p in reader.changes("person", cursor)] == [[]]
    assert parsed == []


def test_a_change_written_by_another_process_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    writer, reader = _file_connector(path), _file_connector(path)
    writer.create("person", [CreateRequest("a", {"first_name": "Ada"})])
    cursor = reader.current_cursor("person")
    [made] = writer.create("person", [CreateRequest("b", {"first_name": "Bo"})])
    writer.update("person", [UpdateRequest("r1", {"first_name": "Ada L."})])
    seen = [r for page in reader.changes("person", cursor) for r in page.records]
    assert [(r.id, r.fields["first_name"]) for r in seen] == [(made.id, "Bo"), ("r1", "Ada L.")]
    # a hand edit of the file in place (same inode) is seen too
    data = json.loads(path.read_text())
    [ada] = [i for i in data["items"]["person"] if i["id"] == "r1"]
    data["seq"] += 1
    ada["fields"]["first_name"], ada["seq"] = "Edited", data["seq"]
    path.write_text(json.dumps(data))
    assert reader.get("person", ["r1"])["r1"].fields["first_name"] == "Edited"


def test_changes_come_in_the_order_they_were_made(tmp_path: Path) -> None:
    conn = _file_connector(tmp_path / "crm.json")
    conn.create("person", [CreateRequest(k, {"first_name": k}) for k in "abc"])
    start = conn.current_cursor("person")
    conn.update("person", [UpdateRequest("r2", {"last_name": "x"}), UpdateRequest("r1", {"last_name": "y"})])
    pages = list(conn.changes("person", start))
    assert [r.id for p in pages for r in p.records] == ["r2", "r1"]
    assert pages[-1].cursor == conn.current_cursor("person")
    assert [p.records for p in conn.changes("person", pages[-1].cursor)] == [[]]
