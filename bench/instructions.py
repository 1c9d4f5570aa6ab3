"""Instructions the ``syncd`` process executes for one initial reconcile, counted by valgrind.

    python bench/instructions.py [--sizes 0,1000]

CPU seconds move with the machine's load; the count of instructions does not. For each size N the
benchmark's world is seeded (``bench/world.py``: N people, companies and deals, both emulators in this
process) and ``syncd reconcile`` runs under ``valgrind --tool=callgrind``. Size 0 is the process's
start-up (its imports, the config, the state database); the difference between two sizes, divided by
the records written in between, is the cost of a record. Python under valgrind runs about fifty times
slower: N = 1,000 takes a few minutes. Needs ``valgrind`` on the PATH. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.measure import compile_project
from bench.world import Scenario, open_world, seed


def count(size: int, work: Path) -> tuple[int, int, int]:
    """(exit code, instructions, records written) of one reconcile of ``size`` people."""
    with open_world(work / f"n{size}", Scenario("loopback")) as world:
        seed(world, size)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = str(REPO)
        before = world.writes()
        proc = subprocess.run(  # its exit code is reported
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/callgrind.out", "--dump-instr=no",
             sys.executable, "-m", "syncd.cli", "reconcile", "--json", "--config", str(world.config)],
            check=False, cwd=world.directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        after = world.writes()
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.returncode, int(found.group(1)), (after[0] - before[0]) + (after[1] - before[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,1000", help="people per reconcile (comma-separated; 0 is start-up)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    compile_project()
    work = Path(tempfile.mkdtemp(prefix="syncd-instructions-"))
    rows: list[tuple[int, int, int]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            code, instructions, written = count(size, work)
            rows.append((size, instructions, written))
            print(f"N = {size:>7,}: exit {code}, {instructions / 1e9:.3f} G instructions, {written:,} records written"
                  + (f", {instructions / written / 1e6:.2f} M per record written" if written else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for (n0, i0, w0), (n1, i1, w1) in itertools.pairwise(rows):
        if w1 > w0:
            print(f"N = {n0:,} to {n1:,}: {(i1 - i0) / (w1 - w0) / 1e6:.2f} M instructions per further record written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
