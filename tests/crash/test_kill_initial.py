"""SIGKILL during a sizeable first reconcile, then a clean run: converged, no duplicate, nothing lost.

Each seed builds a fresh pair of emulators (a few ms of latency per request)
with people, companies and deals on both sides, some people on both, and kills
``syncd reconcile`` at a seeded point among its writes (or during start-up and
reading). The state file must pass SQLite's integrity check and ``syncd state
check``; the next run must finish the job without duplicating anything, and
the run after that must write nothing.

CI runs a few seeds; ``SYNCD_LONG=1`` runs many; ``SYNCD_CRASH_SEED=7`` replays one.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash.killer import KillPoint, check_state_database, run_and_kill, seeds, state_file_mode
from tests.fault.checks import check_joined, check_no_duplicates, check_nothing_lost
from tests.fault.seeding import populate
from tests.fault.world import open_world

PEOPLE = 100  # per side; a fifth of them on both sides
LATENCY = {"cloze_emulator": {"latency_ms": 2}, "hubspot_emulator": {"latency": 0.002}}


@pytest.mark.parametrize("seed", seeds(default=2, long=24))
def test_first_reconcile_killed_anywhere_then_finished_by_the_next_run(tmp_path: Path, seed: int) -> None:
    rng = random.Random(f"crash-initial:{seed}")
    with open_world(tmp_path, **LATENCY) as world:  # type: ignore[arg-type]
        pop = populate(world, seed=seed, cloze_people=PEOPLE, hub_people=PEOPLE, overlap=PEOPLE // 5,
                       companies=PEOPLE // 8, deals=PEOPLE // 8)
        distinct = sum(len(pop.union(e)) for e in pop.cloze)
        point = KillPoint.draw(rng, expected_writes=2 * distinct)  # a create on one side, a marker on the other

        outcome = run_and_kill(world, ["reconcile"], point)
        context = f"seed {seed}: {outcome}"
        check_state_database(world)
        if world.state_path.exists():
            assert state_file_mode(world.state_path) == 0o600, context
        check_no_duplicates(world)
        check_nothing_lost(world, pop)

        world.syncd("reconcile", check=0)
        check_no_duplicates(world)
        check_joined(world, pop)
        assert not world.export()["journal"], f"{context}: creates left in the journal"

        before = world.writes()
        quiet = world.run("full")
        assert quiet.exit_code() == 0 and quiet.total_writes == 0, f"{context}: {quiet.as_dict()}"
        assert world.writes() == before, f"{context}: the run after recovery wrote {before} -> {world.writes()}"
        check_state_database(world)
