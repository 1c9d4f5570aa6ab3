"""Rounds of edits on both sides, each synced by a run killed with SIGKILL, then finished by a clean run.

One pair of emulators lives through all rounds. Each round edits linked records
on both sides (different fields of some of the same people, so the merge must
keep both), adds new records on both sides, then starts ``syncd sync``
(incremental: the cursors are on trial) or ``syncd reconcile`` and kills it at
a seeded point. The next run of the same command must deliver every edit and
every new record exactly once, and the run after it must write nothing.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash.killer import LONG, KillPoint, check_state_database, run_and_kill, seeds
from tests.fault.checks import check_joined, check_no_duplicates, check_nothing_lost
from tests.fault.edits import check_edits, make_edits
from tests.fault.seeding import populate
from tests.fault.world import open_world

ROUNDS = seeds(default=4, long=30)


@pytest.mark.slow
def test_edits_survive_runs_killed_at_random_points(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze_emulator={"latency_ms": 2}, hubspot_emulator={"latency": 0.002}) as world:
        pop = populate(world, seed=99, cloze_people=60, hub_people=60, overlap=12, companies=6, deals=6)
        world.syncd("reconcile", check=0)
        check_joined(world, pop)
        for n in ROUNDS:
            rng = random.Random(f"crash-round:{n}")
            command = "sync" if n % 2 == 0 else "reconcile"
            edits = make_edits(world, rng, people=6 if not LONG else rng.randint(2, 20), tag=f"r{n}")
            pop.extend(populate(world, seed=n, cloze_people=4, hub_people=4, overlap=0, companies=1, deals=1,
                                tag=f"r{n}"))
            new_records = 2 * (4 + 4 + 1 + 1 + 1 + 1)  # a create on one side and a marker on the other
            point = KillPoint.draw(rng, expected_writes=2 * len(edits) + new_records)

            outcome = run_and_kill(world, [command], point)
            context = f"round {n} ({command}): {outcome}"
            check_state_database(world)
            check_no_duplicates(world)
            check_nothing_lost(world, pop)

            report = world.run("incremental" if command == "sync" else "full")  # the same kind of run
            assert report.exit_code() == 0, f"{context}: {report.as_dict()}"
            check_no_duplicates(world)
            check_joined(world, pop)
            check_edits(world, edits)
            assert not world.export()["journal"], f"{context}: creates left in the journal"

            before = world.writes()
            quiet = world.run("full")
            assert quiet.exit_code() == 0 and quiet.total_writes == 0, f"{context}: {quiet.as_dict()}"
            assert world.writes() == before, f"{context}: a quiet run wrote {before} -> {world.writes()}"
