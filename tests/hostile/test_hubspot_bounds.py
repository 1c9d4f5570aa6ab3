"""A hostile server in front of the HubSpot API: the same bounds as for Cloze, through the same kit.

``syncd reconcile`` / ``syncd sync`` run as real processes against the HubSpot
emulator behind :class:`~tests.hostile.proxy.HostileProxy`; the external side's
errors name ``side=external``, the URL path and the setting to change.
"""

from __future__ import annotations

from pathlib import Path

from syncd.sandbox import HUBSPOT_TOKEN
from tests.fault.world import World
from tests.hostile import faults
from tests.hostile.world import Ran, assert_within, hostile_world, last_run, run_syncd

# ``/crm/v3/objects/contacts`` (the sandbox's API version) or ``/crm/objects/2026-03/contacts``
LIST = r"/crm/(v3/)?objects/([^/]+/)?contacts$"
SEARCH = r"/crm/(v3/)?objects/([^/]+/)?contacts/search$"


def seed_contacts(world: World, count: int, tag: str = "c") -> None:
    for i in range(count):
        world.hubspot.add_object("contacts", {"email": f"hostile{tag}{i}@contacts.example", "firstname": "Hos",
                                              "lastname": f"Tile{tag}{i}"})


def assert_failed_run(world: World, ran: Ran, code: int, *needles: str) -> None:
    assert ran.returncode == code, ran.describe()
    assert "Traceback" not in ran.output, ran.describe()
    for needle in needles:
        assert needle in ran.output, f"{needle!r} missing\n{ran.describe()}"
    assert HUBSPOT_TOKEN not in ran.output, ran.describe()
    run = last_run(world)
    assert run["status"] == "failed", run
    for needle in needles:
        assert needle in (run["error"] or ""), run


def test_a_listing_trickled_byte_by_byte_is_cut_off_at_the_request_deadline(tmp_path: Path) -> None:
    with hostile_world(tmp_path, "external", limits={"request_deadline": "2s", "run_deadline": "8s"}) as (world, proxy):
        seed_contacts(world, 3)
        proxy.add(LIST, faults.Slow(byte_interval=0.05), method="GET")
        ran = run_syncd(world, "reconcile", timeout=90)
    # HubSpot's own retries (6 attempts) would take longer: the run deadline ends it first
    assert_within(world, ran, 8)
    assert_failed_run(world, ran, 75, "side=external", "/contacts")
    assert "limits.run_deadline" in ran.output or "limits.request_deadline" in ran.output


def test_a_listing_whose_paging_token_never_advances_is_stopped_as_a_loop(tmp_path: Path) -> None:
    with hostile_world(tmp_path, "external", external={"list_page_size": 2}) as (world, proxy):
        seed_contacts(world, 5)
        proxy.add(LIST, faults.Loop(), method="GET")
        ran = run_syncd(world, "reconcile", timeout=60)
    assert_within(world, ran, 4)
    assert_failed_run(world, ran, 1, "same paging token again", "side=external", "entity=person", "/contacts")


def test_a_change_feed_whose_search_repeats_is_stopped_as_a_loop(tmp_path: Path) -> None:
    with hostile_world(tmp_path, "external", external={"search_page_size": 2}) as (world, proxy):
        seed_contacts(world, 3)
        first = run_syncd(world, "reconcile", timeout=120)
        assert first.returncode == 0, first.describe()
        seed_contacts(world, 5, tag="n")
        proxy.add(SEARCH, faults.Loop(), method="POST")
        ran = run_syncd(world, "sync", timeout=60)
    assert_within(world, ran, 4)
    assert_failed_run(world, ran, 1, "same search position again", "side=external", "/contacts/search")


def test_a_listing_that_never_ends_stops_at_the_records_cap_with_bounded_memory(tmp_path: Path) -> None:
    with hostile_world(tmp_path, "external", limits={"max_records": 3000},
                       external={"list_page_size": 50}) as (world, proxy):
        seed_contacts(world, 50)
        endless = faults.Endless(faults.hubspot_list_page)
        proxy.add(LIST, endless, method="GET")
        ran = run_syncd(world, "reconcile", timeout=90)
    assert_failed_run(world, ran, 1, "more than 3,000 person records", "side=external", "limits.max_records")
    assert endless.served <= 3000 // 50 + 1
    assert ran.peak_mb < 200, ran.describe()


def test_a_huge_valid_listing_is_dropped_past_the_size_cap(tmp_path: Path) -> None:
    with hostile_world(tmp_path, "external", limits={"max_reply_mb": 16}) as (world, proxy):
        seed_contacts(world, 3)
        proxy.add(LIST, faults.Inflate(300 * 1024 * 1024), method="GET")
        ran = run_syncd(world, "reconcile", timeout=120)
        sent = proxy.bytes_sent
    assert_failed_run(world, ran, 1, "larger than 16 MB", "side=external", "/contacts", "limits.max_reply_mb")
    assert sent < 40 * 1024 * 1024, sent
    assert ran.peak_mb < 150, ran.describe()


def test_a_listing_nested_100000_deep_fails_typed(tmp_path: Path) -> None:
    with hostile_world(tmp_path, "external", limits={"run_deadline": "60s"}) as (world, proxy):
        seed_contacts(world, 1)
        proxy.add(LIST, faults.Nest(100_000), method="GET")
        ran = run_syncd(world, "reconcile", timeout=90)
    assert_failed_run(world, ran, 75, "nested too deeply", "side=external", "/contacts")
