"""A Tryton edit landing between the sync's read and its write, against a real Tryton server.

The edit is made at an exact point of the run by wrapping the connector (no timing):
after the engine read the party and before the update reads it again, or between that
read and the write itself (Tryton then refuses the stale write). Either way an edit of
the field the sync writes is a recorded conflict settled by policy, never overwritten.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.models import PairConfig
from connectors.base import ConnectorContext
from connectors.tryton import TrytonConnector
from connectors.tryton.rpc import RpcClient
from connectors.tryton.settings import TrytonSettings
from connectors.tryton.testserver import TrytonServer
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import PairEngine
from tests.memory_rig import MemoryBackend, MemoryConnector, MemorySettings

pytestmark = pytest.mark.tryton

APP_ID = "tryton.example.com"


class Pair:
    def __init__(self, server: TrytonServer, policy: str) -> None:
        uid = uuid.uuid4().hex[:10]
        self.cloze_name = f"cloze-{uid}"
        self.cloze = MemoryBackend.named(self.cloze_name, "cloze")
        table = server.settings(company_category=f"Company {uid}", person_category=f"Person {uid}", cursor_overlap=0)
        self.settings = TrytonSettings.model_validate(table)
        self.cfg = PairConfig.model_validate({
            "app_id": APP_ID, "cloze": {}, "external": {"connector": "tryton"},
            "entities": {"person": {"policy": policy}, "company": {"enabled": False},
                         "project": {"enabled": False}}})
        self.store = StateStore.memory()
        self.store.readonly = False

    def run(self, mode: str = "incremental", wrap: Callable[[TrytonConnector], None] | None = None) -> RunReport:
        cloze = MemoryConnector(MemorySettings(backend=self.cloze_name, role="cloze"), ConnectorContext("p", "cloze", APP_ID))
        tryton = TrytonConnector(self.settings, ConnectorContext("p", "external", APP_ID))
        if wrap is not None:
            wrap(tryton)
        try:
            report = PairEngine(pair="p", cfg=self.cfg, cloze=cloze, external=tryton, store=self.store,
                                mode=mode).run()  # type: ignore[arg-type]
        finally:
            tryton.close()
        assert report.ok, report.error
        return report


@pytest.fixture
def make_pair(tryton_server: TrytonServer) -> Iterator[Callable[[str], Pair]]:
    made: list[Pair] = []

    def make(policy: str) -> Pair:
        made.append(Pair(tryton_server, policy))
        return made[-1]

    yield make
    for pair in made:
        MemoryBackend.forget(pair.cloze_name)


def before_first_update(edit: Callable[[], None]) -> Callable[[TrytonConnector], None]:
    """After the engine read everything, before the connector's update reads the party again."""
    def wrap(connector: TrytonConnector) -> None:
        real = connector.update

        def update(entity: Any, requests: Any) -> Any:
            if any(r.fields for r in requests) and not done:
                done.append(True)
                edit()
            return real(entity, requests)
        done: list[bool] = []
        connector.update = update  # type: ignore[method-assign]
    return wrap


def before_first_write(edit: Callable[[], None]) -> Callable[[TrytonConnector], None]:
    """Between the update's own read and its write: Tryton refuses the stale write itself."""
    def wrap(connector: TrytonConnector) -> None:
        real = connector.client.write

        def write(model: str, record_id: int, values: Any, *, timestamp: str | None = None) -> None:
            if not done:
                done.append(True)
                edit()
            real(model, record_id, values, timestamp=timestamp)
        done: list[bool] = []
        connector.client.write = write  # type: ignore[method-assign]
    return wrap


MOMENTS = {"before_the_updates_read": before_first_update, "between_read_and_write": before_first_write}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize(("policy", "tryton_last", "cloze_last", "status"), [
    ("cloze_wins", "Lee-Cloze", "Lee-Cloze", "auto"),
    ("external_wins", "Lee-Tryton", "Lee-Tryton", "auto"),
    ("manual", "Lee-Tryton", "Lee-Cloze", "open"),
])
def test_a_tryton_edit_of_the_same_field_in_the_write_window_is_a_conflict(
        make_pair: Callable[[str], Pair], admin: RpcClient, moment: str, policy: str, tryton_last: str,
        cloze_last: str, status: str) -> None:
    pair = make_pair(policy)
    cid = pair.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@race.example"]})
    pair.run("full")
    pair.run()
    [link] = pair.store.links("p", "person")
    pid = int(link.external_id or 0)

    pair.cloze.edit("person", cid, last="Lee-Cloze")
    pair.run(wrap=MOMENTS[moment](lambda: admin.write("party.party", pid, {"name": "Ann Lee-Tryton"})))

    found = [c for c in pair.store.conflicts("p") if c.field == "last"]
    assert [(json.loads(c.cloze_value or "null"), json.loads(c.external_value or "null"), c.status) for c in found] == [
        ("Lee-Cloze", "Lee-Tryton", status)]
    [row] = admin.search_read("party.party", [("id", "=", pid)], ["name"])
    assert row["name"] == f"Ann {tryton_last}"
    assert pair.cloze.items["person"][cid].fields["last"] == cloze_last
    assert pair.run().total_writes == 0
