"""Records that stand in the way of a new one are judged by the keys they hold after this run's writes.

A linked record can gain or lose an e-mail address in the very run that decides whether a
new record duplicates it. Judged on the keys as read, the next run (seeing the written keys)
decides otherwise and writes again: a create in the "second run writes nothing" check.
"""

from __future__ import annotations

from tests.engine.harness import World, assert_converged


def test_an_address_a_match_brings_makes_the_later_duplicate_visible_in_the_same_run() -> None:
    world = World(entities={"company": {"enabled": False}, "project": {"enabled": False}})
    try:
        world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@example.com"]})
        dee = world.ext.put("person", {"first": "Ann", "last": "Lee", "emails": ["dee@example.com"]})
        world.ext.put("person", {"first": "Ann", "last": "Lee", "emails": ["cy@example.com", "ann@example.com"]})
        world.ext.put("person", {"first": "Ann", "last": "Lee", "emails": ["cy@example.com", "dee@example.com"]})
        first = world.run("full")
        # The Cloze person matched by ann@ gains cy@ in this run, so the third record, holding cy@,
        # is a duplicate of it; the one holding only dee@ then has no twin and is created.
        assert first.writes["cloze.person.create"] == 1
        assert dee in {l.external_id for l in world.links()}
        again = world.run("full")
        assert again.total_writes == 0, dict(again.writes)
        assert_converged(world)
    finally:
        world.close()


def test_an_address_a_sync_removes_no_longer_blocks_a_new_record() -> None:
    world = World(entities={"company": {"enabled": False}, "project": {"enabled": False}})
    try:
        world.cloze.put("person", {"first": "Ann", "last": "Lee", "emails": ["ann@example.com", "fay@example.com"]})
        world.run("full")
        [ext_ann] = list(world.ext.items["person"])
        # An external removal of fay@ reaches Cloze in the same run that sees a new record with fay@.
        world.ext.edit("person", ext_ann, emails=["ann@example.com"])
        world.ext.put("person", {"first": "Fay", "last": "Ng", "emails": ["fay@example.com"]})
        first = world.run("full")
        assert first.writes["cloze.person.create"] == 1, dict(first.writes)
        again = world.run("full")
        assert again.total_writes == 0, dict(again.writes)
        assert_converged(world)
    finally:
        world.close()
