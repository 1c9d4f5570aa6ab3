"""What waits for an operator is labelled from the links it names, read by id, not from every link of the pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from state.models import Link
from state.store import StateStore
from syncd.backlog import error_groups, link_labels


class ByIdOnly(StateStore):
    """The state database, refusing to list every link of a pair (what a large account cannot afford)."""

    def links(self, pair: str, entity: str) -> list[Link]:
        raise AssertionError(f"every link of {pair}/{entity} was read")


def _store(tmp: Path) -> StateStore:
    store = StateStore.open(tmp / "state.db")
    with store.transaction() as s:
        for i in range(50):
            StateStore.save_link(s, pair="p", entity="person", app_id="crm.example.com", cloze_id=f"c{i}",
                                 external_id=f"e{i}", base={"first": f"First{i}", "last": "Lee",
                                                            "emails": [f"p{i}@example.com"]})
        for side, rid in (("cloze", "c7"), ("external", "e9"), ("cloze", "unlinked")):
            StateStore.record_error(s, run_id="r1", pair="p", entity="person", side=side, op="update",
                                    record_id=rid, source_side=side, message="refused", code="rejected")
    store.engine.dispose()
    return ByIdOnly.open(tmp / "state.db")


def test_error_groups_name_linked_records_without_reading_every_link(tmp_path: Path) -> None:
    store = _store(tmp_path)
    groups = error_groups(store, "p")
    named = {r["side_id"]: (r["record"], r["other_id"]) for g in groups for r in g["records"]}
    assert named["c7"] == ("First7 Lee <p7@example.com>", "e7")
    assert named["e9"] == ("First9 Lee <p9@example.com>", "c9")
    assert named["unlinked"] == (None, None)


def test_link_labels_read_only_the_links_named(tmp_path: Path) -> None:
    store = _store(tmp_path)
    links = {l.cloze_id: l.id for l in store.links_by_ids("p", "person", "cloze", ["c3", "c4"])}

    class Row:
        def __init__(self, link_id: Any) -> None:
            self.pair, self.entity, self.link_id = "p", "person", link_id
    labels = link_labels(store, [Row(links["c3"]), Row(links["c4"]), Row(None)])
    assert labels == {links["c3"]: "First3 Lee <p3@example.com>", links["c4"]: "First4 Lee <p4@example.com>"}
