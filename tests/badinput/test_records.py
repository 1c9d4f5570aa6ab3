"""Bad records on both sides, among good ones: each is synced as normalised or refused with a recorded
error, the good records all sync, and no run crashes.

One pair of emulators holds every case of :mod:`tests.badinput.cases` plus a
population of good records; ``syncd reconcile`` runs once as a user would run
it, then once more. Each case is then its own test, so a failure names the
input that broke the promise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd.engine.report import RunReport
from tests.badinput.cases import CASES, Case, Outcome, Seeded
from tests.fault.checks import Sides, cloze_identity, cloze_links, hub_identity
from tests.fault.seeding import Population, populate
from tests.fault.world import ENTITY_TYPES, World, describe, open_world


@dataclass
class Runs:
    world: World
    pop: Population
    seeded: dict[str, Seeded]
    first_code: int
    first_output: str
    outcome: Outcome
    status: dict[str, Any]
    second: RunReport


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    directory = tmp_path_factory.mktemp("badinput")
    with open_world(directory) as world:
        pop = populate(world, seed=5, cloze_people=12, hub_people=12, overlap=3, companies=2, deals=2)
        seeded = {case.name: case.seed(world) for case in CASES}
        first = world.syncd("reconcile")
        outcome = Outcome(world, world.open_errors())
        [status] = json.loads(world.syncd("status", "--json", check=0).stdout)
        second = world.run("full")
        yield Runs(world, pop, seeded, first.returncode, describe(first), outcome, status, second)


def test_the_run_finishes_with_exit_3_and_no_traceback(runs: Runs) -> None:
    assert runs.first_code == 3, runs.first_output
    assert "Traceback" not in runs.first_output


def test_every_good_record_is_synced(runs: Runs) -> None:
    for entity in ENTITY_TYPES:
        sides = Sides.read(runs.world, entity)
        hub = {o["id"]: o for o in sides.hubspot}
        joined = set()
        for record in sides.cloze:
            links = cloze_links(record)
            if len(links) == 1 and links[0] in hub and hub[links[0]]["properties"].get("cloze_syncd_id") == \
                    record["direct"] and hub_identity(entity, hub[links[0]]) == cloze_identity(entity, record):
                joined.add(cloze_identity(entity, record))
        missing = sorted(runs.pop.union(entity) - joined)
        assert not missing, f"good {entity} records not synced: {missing[:5]}"


def test_status_and_state_export_show_the_refused_records(runs: Runs) -> None:
    assert runs.status["record_errors"] == len(runs.outcome.errors) > 0, runs.status
    assert runs.status["last_status"] == "errors"
    for error in runs.outcome.errors:
        assert error["message"] and error["record_id"] and error["side"] in ("cloze", "external"), error


def test_a_second_run_writes_nothing_and_still_reports_the_errors(runs: Runs) -> None:
    assert runs.second.ok and runs.second.total_writes == 0, runs.second.as_dict()
    assert runs.second.exit_code() == 3 and runs.second.record_errors > 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(runs: Runs, case: Case) -> None:
    case.check(runs.outcome, runs.seeded[case.name])


def test_the_run_writes_nothing_garbled_anywhere(runs: Runs) -> None:
    """No Python rendering of a list, dict or boolean reached a text field on either side."""
    garbled = ("['", "{'", "True", "False")
    for entity in ENTITY_TYPES:
        sides = Sides.read(runs.world, entity)
        for obj in sides.hubspot:
            for prop, value in obj["properties"].items():
                assert not (isinstance(value, str) and value.startswith(garbled)) or _seeded_raw(runs, obj["id"]), \
                    f"HubSpot {entity} {obj['id']} {prop} = {value!r}"


def _seeded_raw(runs: Runs, object_id: str) -> bool:
    """Records whose garbage was put there by the test itself (on their own side)."""
    return any(object_id in s.hubspot for s in runs.seeded.values())


def test_state_file_is_left_sound(runs: Runs, tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(f"file:{runs.world.state_path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
