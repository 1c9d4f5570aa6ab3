"""An incremental run loads only the links of the records it read, looked up by id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from state.models import Link
from state.store import LinkRow, StateStore
from tests.engine.harness import World, assert_converged, assert_no_duplicates


class CountingStore(StateStore):
    """The real state database, counting the link rows each way of reading them returns."""

    def __init__(self, base: StateStore) -> None:
        super().__init__(base.engine, base.path, base.readonly)
        self.rows = 0

    def _counted(self, rows: list[Any]) -> list[Any]:
        self.rows += len(rows)
        return rows

    def links(self, pair: str, entity: str) -> list[Link]:
        return self._counted(super().links(pair, entity))

    def links_by_ids(self, pair: str, entity: str, side: str, ids: Iterable[str]) -> list[LinkRow]:
        return self._counted(super().links_by_ids(pair, entity, side, ids))

    def links_with_ids(self, pair: str, entity: str, link_ids: Iterable[int]) -> list[Link]:
        return self._counted(super().links_with_ids(pair, entity, link_ids))

    def iter_links(self, pair: str, entity: str, batch: int = 1000) -> Iterator[list[Link]]:
        for rows in super().iter_links(pair, entity, batch):
            yield self._counted(rows)


def _world(tmp_path: Path, people: int) -> tuple[World, CountingStore, list[str]]:
    world = World(tmp_path)
    ids = [world.cloze.put("person", {"first": f"P{n}", "title": "CEO", "emails": [f"p{n}@x.com"]})
           for n in range(people)]
    world.run("full")
    world.run("incremental")  # past the full run's own echoes
    counting = CountingStore(world.store)
    world.store = counting
    return world, counting, ids


def run(world: World, mode: str = "incremental", **kw: Any) -> Any:
    report = world.run(mode, **kw)
    assert report.ok, report.error
    return report


def test_a_quiet_sync_loads_no_link(tmp_path: Path) -> None:
    world, counting, _ = _world(tmp_path, 40)
    try:
        run(world)
        assert counting.rows == 0
    finally:
        world.close()


def test_an_edit_loads_the_links_of_the_edited_records_only(tmp_path: Path) -> None:
    world, counting, ids = _world(tmp_path, 40)
    try:
        world.cloze.edit("person", ids[3], title="Chair")
        report = run(world)
        assert dict(report.writes) == {"external.person.update": 1}
        # The edited record's link, read once for the plan (and once more by the executor's settle, if any).
        assert 1 <= counting.rows <= 2  # (before the check below reads every link itself)
        assert_converged(world)
    finally:
        world.close()


def test_a_new_record_matching_a_linked_one_is_still_held_back(tmp_path: Path) -> None:
    """The duplicate guard sees the linked record through the look-up by e-mail, not through all links."""
    world, counting, _ = _world(tmp_path, 40)
    try:
        world.ext.put("person", {"first": "Dup", "emails": ["p5@x.com"]})
        report = run(world)
        assert report.record_errors == 1
        assert "cloze.person.create" not in report.writes
        assert counting.rows <= 2  # (before the check below reads every link itself)
        assert_no_duplicates(world)
    finally:
        world.close()


def test_a_deleted_record_loads_its_link_and_unlinks(tmp_path: Path) -> None:
    world, counting, ids = _world(tmp_path, 40)
    try:
        world.cloze.remove("person", ids[7])
        report = run(world)
        assert counting.rows <= 2  # (before the check below reads every link itself)
        assert dict(report.writes) == {"external.person.update": 1}
        assert len(world.links()) == 39
    finally:
        world.close()


def test_a_full_reconcile_still_reads_every_link(tmp_path: Path) -> None:
    world, counting, ids = _world(tmp_path, 40)
    try:
        world.cloze.remove("person", ids[0])
        report = run(world, "full")
        # A record not listed is gone: every link is decided on. Each is read once to tie it to its
        # records, and once more by id in the batch that plans it (the batches do not hold them all).
        assert counting.rows == 2 * 40
        assert dict(report.writes) == {"external.person.update": 1}  # its survivor's marker removed (unlink)
        assert len(world.links()) == 39
    finally:
        world.close()


def _planned(monkeypatch: Any) -> list[tuple[int, int]]:
    """(records observed, links given) of every plan of people the runner makes."""
    from syncd.core.plan import plan_entity as real
    from syncd.engine import runner

    seen: list[tuple[int, int]] = []

    def spy(entity: str, links: Any, obs: Any, *args: Any, **kw: Any) -> Any:
        links = list(links)
        if entity == "person":
            seen.append((len(obs.cloze) + len(obs.external), len(links)))
        return real(entity, links, obs, *args, **kw)

    monkeypatch.setattr(runner, "plan_entity", spy)
    return seen


def test_the_echo_sync_keeps_none_of_its_echoes(tmp_path: Path, monkeypatch: Any) -> None:
    """The first sync after a reconcile reads back every record it wrote; each page's echoes are let go."""
    world = World(tmp_path)
    try:
        for n in range(120):
            world.cloze.put("person", {"first": f"P{n}", "emails": [f"p{n}@x.com"]})
        world.run("full")
        planned = _planned(monkeypatch)
        report = run(world)
        assert report.reads["cloze.person"] == 120 and report.reads["external.person"] == 120
        assert dict(report.writes) == {}
        assert planned == [(0, 0)]
    finally:
        world.close()


def test_an_edit_beside_an_echo_reads_the_echo_again(tmp_path: Path, monkeypatch: Any) -> None:
    """An external edit whose Cloze counterpart was let go as an echo still syncs: the counterpart is read by id."""
    world = World(tmp_path)
    try:
        for n in range(30):
            world.cloze.put("person", {"first": f"P{n}", "title": "CEO", "emails": [f"p{n}@x.com"]})
        world.run("full")
        xid = world.links()[4].external_id
        world.ext.edit("person", xid, title="Chair")
        planned = _planned(monkeypatch)
        report = run(world)
        assert dict(report.writes) == {"cloze.person.update": 1}
        assert planned == [(2, 1)]
        assert_converged(world)
    finally:
        world.close()


def _statements(store: StateStore) -> list[str]:
    """Every SQL statement the store sends from now on (its first line)."""
    from sqlalchemy import event

    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: sent.append(" ".join(statement.split())))
    return sent


def test_a_quiet_sync_reads_each_kind_of_state_once_and_writes_no_cursor(tmp_path: Path) -> None:
    """A run that finds nothing new asked the state database for each entity's cursors, errors,
    journal and operator choices one side at a time, and wrote every cursor back unchanged: 51
    statements on PostgreSQL for three entities, the most of a fleet's quiet run. Now one query each
    for the pair, and a cursor is written only when it moves."""
    world, _, ids = _world(tmp_path, 10)
    try:
        sent = _statements(world.store)
        run(world)
        cursor_writes = [s for s in sent if s.startswith(("UPDATE cursors", "INSERT INTO cursors"))]
        assert cursor_writes == []
        def reads(table: str) -> list[str]:
            return [s for s in sent if s.startswith("SELECT") and f"FROM {table} " in s + " "]
        for table in ("cursors", "record_errors", "journal"):
            assert len(reads(table)) == 1, (table, reads(table))
        # the operator's choices once; each entity's writer reads the open conflicts before it writes
        assert len(reads("conflicts")) == 1 + 3, reads("conflicts")
        world.cloze.edit("person", ids[0], title="Chair")
        sent.clear()
        run(world)
        moved = [s for s in sent if s.startswith("UPDATE cursors")]
        # the Cloze side's cursors moved (this memory system has one change counter for every kind)
        assert moved and all(s.startswith("UPDATE cursors SET value") for s in moved), sent
    finally:
        world.close()


def test_an_edit_of_a_linked_record_saves_its_link_without_looking_for_rivals(tmp_path: Path) -> None:
    """Saving the link of a record already linked to the same two ids looked for other links
    claiming either id (two queries) and flushed twice, for each record a sync wrote. The unique
    index on each id column already rules a rival out: one update of the row is all it takes."""
    world, _, ids = _world(tmp_path, 10)
    try:
        for n in range(3):
            world.cloze.edit("person", ids[n], title=f"Chair {n}")
        sent = _statements(world.store)
        run(world)
        link_reads = [s for s in sent if s.startswith("SELECT") and "FROM links WHERE" in s
                      and ("links.cloze_id =" in s or "links.external_id =" in s)]
        assert link_reads == [], link_reads
        assert len([s for s in sent if s.startswith("UPDATE links")]) >= 1
        assert_converged(world)
        assert_no_duplicates(world)
    finally:
        world.close()
