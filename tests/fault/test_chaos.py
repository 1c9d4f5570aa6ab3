"""Random faults on both sides at once, through a first reconcile and an incremental sync with edits.

Each seed draws fault rates for both emulators (429s, 5xx, timeouts, cut-off
replies, truncated JSON) and how many attempts the Cloze client makes, so some
runs absorb the faults and others give up part-way. Whatever happens, every
run exits 0, 3 (with the failed records named) or 75 (a side unavailable), no
record is lost or duplicated, and once the faults stop a clean run converges,
keeps every edit made on either side, and the next run writes nothing.

CI runs one seed; ``SYNCD_LONG=1`` runs twelve; ``SYNCD_FAULT_SEED=5`` replays one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.fault.checks import check_errors_cover, check_joined, check_no_duplicates, check_nothing_lost
from tests.fault.edits import check_edits, make_edits
from tests.fault.seeding import Population, populate
from tests.fault.world import World, describe, open_world

LONG = os.environ.get("SYNCD_LONG") == "1"
SEEDS = [int(s) for s in os.environ["SYNCD_FAULT_SEED"].split(",")] if os.environ.get("SYNCD_FAULT_SEED") \
    else list(range(12 if LONG else 1))


def _faults(rng: random.Random, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    cloze = {
        "error_rate": rng.uniform(0, 0.15), "error_status": rng.choice([500, 502, 503]),
        "drop_rate": rng.uniform(0, 0.06), "malformed_rate": rng.uniform(0, 0.06),
        "timeout_rate": rng.uniform(0, 0.03), "slow_reply_s": 1.0,
        "rate_limit_next": rng.randint(0, 3), "retry_after_s": 0.1, "seed": seed,
    }
    hubspot = {
        "error_rate": rng.uniform(0, 0.05), "error_status": rng.choice([500, 502, 503]),
        "drop_rate": rng.uniform(0, 0.04), "malformed_rate": rng.uniform(0, 0.04),
        "slow_rate": rng.uniform(0, 0.03), "slow_seconds": 1.0, "seed": seed,
    }
    return cloze, hubspot


def _faulty_runs(world: World, pop: Population, command: str, rng: random.Random, seed: int) -> list[int]:
    """Up to three runs of ``command`` under fresh faults; stops at the first that exits 0."""
    codes = []
    for _ in range(3):
        cloze, hubspot = _faults(rng, seed)
        world.cloze.reset_faults()
        world.cloze.set_faults(**cloze)
        world.hubspot.set_faults(**hubspot)
        proc = world.syncd(command)
        codes.append(proc.returncode)
        assert proc.returncode in (0, 3, 75), describe(proc)
        assert "Traceback" not in proc.stderr + proc.stdout, describe(proc)
        check_no_duplicates(world)
        check_nothing_lost(world, pop)
        if proc.returncode == 3:
            check_errors_cover(world)
        if proc.returncode == 0:
            break
    world.clear_faults()
    return codes


@pytest.mark.parametrize("seed", SEEDS)
def test_random_faults_on_both_sides_lose_and_duplicate_nothing(tmp_path: Path, seed: int) -> None:
    rng = random.Random(f"chaos:{seed}")
    attempts = rng.randint(2, 6)
    with open_world(tmp_path, cloze={"timeout": 0.5, "retry_attempts": attempts},
                    external={"timeout": 0.5}) as world:
        pop = populate(world, seed=seed, cloze_people=20, hub_people=20, overlap=5, companies=3, deals=3)
        codes = _faulty_runs(world, pop, "reconcile", rng, seed)
        world.syncd("reconcile", check=0)
        check_joined(world, pop)

        edits = make_edits(world, rng, people=5, tag=f"x{seed}")
        pop.extend(populate(world, seed=seed, cloze_people=3, hub_people=3, overlap=0, companies=1, deals=1,
                            tag=f"n{seed}"))
        codes += _faulty_runs(world, pop, "sync", rng, seed)
        world.syncd("sync", check=0)
        check_no_duplicates(world)
        check_joined(world, pop)
        check_edits(world, edits)

        before = world.writes()
        report = world.run("full")
        assert report.exit_code() == 0 and report.total_writes == 0, (codes, report.as_dict())
        assert world.writes() == before
