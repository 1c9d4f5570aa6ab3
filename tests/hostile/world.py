"""Both emulators with a hostile proxy in front of one side, and ``syncd`` run as a measured subprocess.

:func:`hostile_world` is :func:`tests.fault.world.open_world` with the chosen
side's ``base_url`` pointed at a :class:`~tests.hostile.proxy.HostileProxy`.
:func:`run_syncd` runs ``syncd ARGS --config CONFIG`` as a real process and
reports its exit code, wall time and peak memory (``VmHWM``, printed by the
process itself as it exits, so nothing is sampled too late).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from state.store import StateStore
from syncd.sandbox import tune_config
from tests.fault.world import PAIR, REPO, World, open_world
from tests.hostile.proxy import HostileProxy

# Runs syncd's CLI and, on the way out, prints the process's memory high-water mark to stderr.
_PEAK_WRAPPER = """
import atexit, runpy, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\nPEAK_KB=" + line.split()[1] + "\\n")
atexit.register(_peak)
sys.argv = ["syncd", *sys.argv[1:]]
runpy.run_module("syncd.cli", run_name="__main__")
"""


@dataclass(frozen=True)
class Ran:
    """One finished ``syncd`` process."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f} s, peak {self.peak_mb:.0f} MB\n"
                f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")


def run_syncd(world: World, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None) -> Ran:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *args, "--config", str(world.config)],
                          capture_output=True, text=True, timeout=timeout, env=full_env, cwd=world.directory,
                          check=False)
    seconds = time.monotonic() - started
    match = re.search(r"PEAK_KB=(\d+)", proc.stderr)
    peak = int(match.group(1)) / 1024 if match else float("nan")
    return Ran(proc.returncode, proc.stdout, proc.stderr, seconds, peak)


def last_run(world: World) -> dict[str, Any]:
    """The newest run the state database recorded (status, error)."""
    store = StateStore.open(world.state_path, readonly=True)
    try:
        runs = store.export().get("runs", [])
    finally:
        store.close()
    assert runs, "no run was recorded"
    newest: dict[str, Any] = max(runs, key=lambda r: str(r["started_at"]))
    return newest


# A fresh interpreter's start-up on a loaded two-core machine, added to a run's own time.
STARTUP_SLACK = 20.0


def assert_within(world: World, ran: Ran, seconds: float, slack: float = 3.0) -> None:
    """The last recorded run took at most ``seconds`` (+ ``slack``), and the whole process ended soon after."""
    run = last_run(world)
    took = (int(run["finished_at"]) - int(run["started_at"])) / 1000
    assert took < seconds + slack, f"the run took {took:.1f} s\n{ran.describe()}"
    assert ran.seconds < seconds + slack + STARTUP_SLACK, ran.describe()


@contextmanager
def hostile_world(directory: Path, side: str = "cloze", *, limits: Mapping[str, Any] | None = None,
                  **world: Any) -> Iterator[tuple[World, HostileProxy]]:
    """``open_world`` with a hostile proxy in front of ``side`` (``cloze`` or ``external``)."""
    with open_world(directory, **world) as w:
        upstream = w.cloze.url if side == "cloze" else w.hubspot.url
        with HostileProxy(upstream) as proxy:
            tables: dict[str, Mapping[str, Any]] = {f"pairs.{PAIR}.{side}": {"base_url": proxy.url}}
            if limits:
                tables[f"pairs.{PAIR}.limits"] = limits
            tune_config(w.config, tables)
            yield w, proxy
