"""Run reports book every read to the side it went to."""

from __future__ import annotations

from tests.engine.harness import World, assert_converged


def test_a_cloze_only_edit_books_one_read_to_each_side() -> None:
    world = World()
    try:
        cid = world.cloze.put("person", {"first": "Ann", "title": "CEO", "emails": ["a@x.com"]})
        world.run("full")
        world.run("incremental")  # past the full run's own echoes
        world.cloze.edit("person", cid, title="Chair")
        report = world.run("incremental")
        assert dict(report.writes) == {"external.person.update": 1}
        # One read from Cloze's change feed, one read of its external counterpart by id.
        assert report.reads["cloze.person"] == 1
        assert report.reads["external.person"] == 1
        assert_converged(world)
    finally:
        world.close()


def test_an_external_only_edit_books_one_read_to_each_side() -> None:
    world = World()
    try:
        world.cloze.put("person", {"first": "Ann", "title": "CEO", "emails": ["a@x.com"]})
        world.run("full")
        world.run("incremental")
        [xid] = list(world.ext.items["person"])
        world.ext.edit("person", xid, title="Chair")
        report = world.run("incremental")
        assert dict(report.writes) == {"cloze.person.update": 1}
        assert report.reads["external.person"] == 1
        assert report.reads["cloze.person"] == 1
    finally:
        world.close()
