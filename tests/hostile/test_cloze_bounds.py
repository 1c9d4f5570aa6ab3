"""A hostile server in front of the Cloze API: every run ends, in time, within its memory, typed.

Each test runs ``syncd reconcile`` as a real process against the Cloze emulator
behind :class:`~tests.hostile.proxy.HostileProxy` and checks the exit code, the
wall time against the configured deadline, the peak memory, what the process
printed (side, URL path, no query string, no key) and what the state database
recorded for the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.sandbox_files import CLOZE_KEY
from tests.fault.world import World
from tests.hostile import faults
from tests.hostile.world import Ran, assert_within, hostile_world, last_run, run_syncd

FEED = r"/v1/people/feed"


def seed_people(world: World, count: int) -> None:
    for i in range(count):
        world.cloze.add_record("person", {"first": "Hos", "last": f"Tile{i}", "name": f"Hos Tile{i}",
                                          "emails": [{"value": f"hostile{i}@people.example"}]})


def assert_failed_run(world: World, ran: Ran, code: int, *needles: str) -> None:
    """Exit ``code``, the run recorded as failed with the same story, and no secret anywhere."""
    assert ran.returncode == code, ran.describe()
    assert "Traceback" not in ran.output, ran.describe()
    for needle in needles:
        assert needle in ran.output, f"{needle!r} missing\n{ran.describe()}"
    assert CLOZE_KEY not in ran.output and "api_key=" not in ran.output, ran.describe()
    run = last_run(world)
    assert run["status"] == "failed", run
    for needle in needles:
        assert needle in (run["error"] or ""), run


def test_a_reply_trickled_byte_by_byte_is_cut_off_at_the_request_deadline(tmp_path: Path) -> None:
    with hostile_world(tmp_path, limits={"request_deadline": "2s"}, cloze={"retry_attempts": 2}) as (world, proxy):
        seed_people(world, 3)
        proxy.add(FEED, faults.Slow(byte_interval=0.05))
        ran = run_syncd(world, "reconcile", timeout=90)
    # two attempts of at most 2 s each, and the short backoff between them
    assert_within(world, ran, 2 * 2)
    assert_failed_run(world, ran, 75, "side=cloze", f"{proxy.url}{FEED}", "limits.request_deadline")


def test_a_run_ends_at_its_deadline_however_patient_each_request_is(tmp_path: Path) -> None:
    with hostile_world(tmp_path, limits={"request_deadline": "10m", "run_deadline": "5s"}) as (world, proxy):
        seed_people(world, 3)
        proxy.add(FEED, faults.Slow(byte_interval=0.05))
        ran = run_syncd(world, "reconcile", timeout=90)
    assert_within(world, ran, 5)
    assert_failed_run(world, ran, 75, "side=cloze", FEED, "limits.run_deadline")


def test_headers_trickled_byte_by_byte_are_cut_off_too(tmp_path: Path) -> None:
    with hostile_world(tmp_path, limits={"request_deadline": "2s"}, cloze={"retry_attempts": 1}) as (world, proxy):
        seed_people(world, 1)
        proxy.add(FEED, faults.Slow(byte_interval=0.1, trickle_headers=True))
        ran = run_syncd(world, "reconcile", timeout=90)
    assert_within(world, ran, 2)
    assert_failed_run(world, ran, 75, "side=cloze", FEED, "limits.request_deadline")


def test_a_feed_whose_cursor_never_advances_is_stopped_as_a_loop(tmp_path: Path) -> None:
    with hostile_world(tmp_path, cloze={"page_size": 2}) as (world, proxy):
        seed_people(world, 5)
        proxy.add(FEED, faults.Loop())
        ran = run_syncd(world, "reconcile", timeout=60)
    assert_within(world, ran, 4)
    assert_failed_run(world, ran, 1, "same cursor again", "side=cloze", "entity=person", FEED)
    assert proxy.hits < 10


def test_a_change_feed_stuck_on_one_cursor_is_stopped_as_a_loop(tmp_path: Path) -> None:
    with hostile_world(tmp_path) as (world, proxy):
        seed_people(world, 3)
        first = run_syncd(world, "reconcile", timeout=120)
        assert first.returncode == 0, first.describe()
        world.cloze.add_record("person", {"first": "New", "last": "Comer", "name": "New Comer",
                                          "emails": [{"value": "newcomer@people.example"}]})
        proxy.add(FEED, faults.Loop())
        ran = run_syncd(world, "sync", timeout=60)
    assert_within(world, ran, 4)
    assert_failed_run(world, ran, 1, "same cursor again", "side=cloze", FEED)


def test_a_feed_that_never_ends_stops_at_the_records_cap_with_bounded_memory(tmp_path: Path) -> None:
    with hostile_world(tmp_path, limits={"max_records": 3000}, cloze={"page_size": 50}) as (world, proxy):
        seed_people(world, 50)
        endless = faults.Endless(faults.cloze_feed_page("people"))
        proxy.add(FEED, endless)
        ran = run_syncd(world, "reconcile", timeout=90)
    assert_failed_run(world, ran, 1, "more than 3,000 person records", "side=cloze", "limits.max_records")
    assert endless.served <= 3000 // 50 + 1
    assert ran.peak_mb < 200, ran.describe()


@pytest.mark.parametrize("announce", [False, True], ids=["streamed", "announced"])
def test_a_huge_valid_reply_is_dropped_past_the_size_cap(tmp_path: Path, announce: bool) -> None:
    size = 300 * 1024 * 1024
    with hostile_world(tmp_path, limits={"max_reply_mb": 16}) as (world, proxy):
        seed_people(world, 3)
        proxy.add(FEED, faults.Inflate(size, announce=announce))
        ran = run_syncd(world, "reconcile", timeout=120)
        sent = proxy.bytes_sent
    assert_failed_run(world, ran, 1, "larger than 16 MB", "side=cloze", FEED, "limits.max_reply_mb")
    # reading stopped at the cap (plus what the sockets buffered), or before the body when announced
    assert sent < (4 if announce else 40) * 1024 * 1024, sent
    assert ran.peak_mb < 150, ran.describe()


def test_a_reply_cut_off_mid_body_fails_typed_and_names_the_url(tmp_path: Path) -> None:
    with hostile_world(tmp_path, cloze={"retry_attempts": 2}) as (world, proxy):
        seed_people(world, 3)
        proxy.add(FEED, faults.Truncate(0.5))
        ran = run_syncd(world, "reconcile", timeout=60)
    assert_failed_run(world, ran, 75, "connection dropped", "side=cloze", f"url={proxy.url}{FEED}")


def test_a_reply_nested_100000_deep_fails_typed(tmp_path: Path) -> None:
    with hostile_world(tmp_path, cloze={"retry_attempts": 2}) as (world, proxy):
        seed_people(world, 1)
        proxy.add(FEED, faults.Nest(100_000))
        ran = run_syncd(world, "reconcile", timeout=60)
    assert_failed_run(world, ran, 75, "malformed JSON", "side=cloze", FEED)


def test_a_mistyped_cursor_fails_typed(tmp_path: Path) -> None:
    with hostile_world(tmp_path) as (world, proxy):
        seed_people(world, 1)
        proxy.add(FEED, faults.Mistype(["cursor"], 12345))
        ran = run_syncd(world, "reconcile", timeout=60)
    assert_failed_run(world, ran, 1, "carries no cursor", "side=cloze", FEED)
