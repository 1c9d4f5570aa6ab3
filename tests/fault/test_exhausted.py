"""Faults that retries cannot absorb: the run says so, loses and duplicates nothing, and a clean run finishes.

- A side that keeps failing until the retries run out: exit 75, one clear line
  naming the side, no traceback; ``syncd status`` shows the failed run.
- A create whose reply is cut off on every attempt (the record *was* made each
  time): nothing duplicated, and the next run links the record it made.
- Writes a side refuses (4xx): exit 3, every refused record in ``syncd status``
  and ``state export`` with the side's message, the rest of the run done; the
  next run retries them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fault.checks import (
    check_errors_cover,
    check_joined,
    check_no_duplicates,
    check_nothing_lost,
    unjoined,
)
from tests.fault.seeding import populate
from tests.fault.world import World, describe, open_world


def _finish_cleanly(world: World, pop: object) -> None:
    world.clear_faults()
    proc = world.syncd("reconcile")
    assert proc.returncode == 0, describe(proc)
    check_no_duplicates(world)
    check_joined(world, pop)  # type: ignore[arg-type]
    assert not world.open_errors(), world.open_errors()
    assert not world.export()["journal"]
    before = world.writes()
    report = world.run("full")
    assert report.exit_code() == 0 and report.total_writes == 0, report.as_dict()
    assert world.writes() == before


def _status(world: World) -> dict[str, object]:
    proc = world.syncd("status", "--json", check=0)
    [row] = json.loads(proc.stdout)
    return row  # type: ignore[no-any-return]


def test_cloze_down_exits_75_with_one_clear_line_then_recovers(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze={"retry_attempts": 3}) as world:
        pop = populate(world, seed=21, cloze_people=12, hub_people=12, overlap=3, companies=2, deals=2)
        world.cloze.set_faults(error_rate=1.0, error_status=503)
        proc = world.syncd("reconcile")
        assert proc.returncode == 75, describe(proc)
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "Cloze HTTP 503" in proc.stdout and "side=cloze" in proc.stdout
        assert _status(world)["last_status"] == "failed"
        check_no_duplicates(world)
        check_nothing_lost(world, pop)
        _finish_cleanly(world, pop)


def test_hubspot_refusing_creates_until_retries_run_out_stops_mid_run_then_recovers(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        pop = populate(world, seed=22, cloze_people=12, hub_people=12, overlap=3, companies=2, deals=2)
        # Every attempt of the first batch create gets a 429: the run gives up part-way (after the Cloze
        # writes of the people it matched) with HubSpot's message.
        world.hubspot.set_faults(script=[{"kind": "rate_limit", "match": "/batch/upsert"}] * 6)
        proc = world.syncd("reconcile")
        assert proc.returncode == 75, describe(proc)
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "HubSpot HTTP 429" in proc.stdout and "side=external" in proc.stdout
        assert world.hubspot.stats.faults_injected == 6
        check_no_duplicates(world)
        check_nothing_lost(world, pop)
        _finish_cleanly(world, pop)


def test_create_cut_off_on_every_attempt_is_made_once_and_linked_by_the_next_run(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze={"retry_attempts": 3}) as world:
        pop = populate(world, seed=23, cloze_people=6, hub_people=6, overlap=0)
        # The Cloze emulator makes the record, then cuts the reply mid-body, three times in a row.
        world.cloze.set_faults(drop_next=3, paths=["/v1/people/create"])
        proc = world.syncd("reconcile")
        assert proc.returncode == 75, describe(proc)
        assert world.cloze.stats_snapshot()["faults"] == {"drop": 3}
        check_no_duplicates(world)
        check_nothing_lost(world, pop)
        journal = world.export()["journal"]
        assert journal, "the interrupted create must stay in the journal for the next run"
        _finish_cleanly(world, pop)


def test_refused_writes_are_recorded_the_rest_is_done_and_they_are_retried(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        pop = populate(world, seed=24, cloze_people=10, hub_people=10, overlap=2, companies=2, deals=2)
        # Cloze refuses two updates (the App Links of two new HubSpot records), HubSpot a batch create
        # and then the first two of the single creates it is retried as.
        world.cloze.set_faults(error_next=2, error_status=400, paths=["/v1/people/update"])
        world.hubspot.set_faults(script=[{"kind": "error", "status": 400, "match": "/contacts/batch/upsert"}] * 3)
        proc = world.syncd("reconcile")
        assert proc.returncode == 3, describe(proc)
        assert "Traceback" not in proc.stderr + proc.stdout
        errors = world.open_errors()
        assert len(errors) >= 4, errors
        assert {e["side"] for e in errors} == {"cloze", "external"}
        assert all(e["message"] for e in errors)
        status = _status(world)
        assert (status["record_errors"], status["last_status"]) == (len(errors), "errors"), status
        check_no_duplicates(world)
        check_nothing_lost(world, pop)
        check_errors_cover(world)
        # Everything not refused was done.
        stuck = sum(len(v) for v in unjoined(world).values())
        assert stuck <= len(errors) * 2, unjoined(world)
        _finish_cleanly(world, pop)
        assert _status(world)["record_errors"] == 0
