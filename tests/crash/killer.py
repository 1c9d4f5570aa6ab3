"""Kill a ``syncd`` subprocess with SIGKILL at a chosen moment of its run, and check what it left.

A kill point is "after the emulators have seen ``after_writes`` write events,
plus ``delay`` seconds": write events are counted by the emulators themselves
(Cloze write requests as they arrive, HubSpot records as they are written), so
the kill lands between a side's write and the state database's record of it,
inside a batch, or in the middle of a commit. Points come from a seeded
``random.Random``, so a failing point replays (``SYNCD_CRASH_SEED``).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from click.testing import CliRunner

from syncd.cli import main as syncd_main
from tests.fault.world import REPO, SYNCD, World

LONG = os.environ.get("SYNCD_LONG") == "1"


@dataclass(frozen=True)
class KillPoint:
    after_writes: int
    delay: float

    @classmethod
    def draw(cls, rng: random.Random, expected_writes: int) -> KillPoint:
        # One point in eight is during reading or start-up (before any write), the rest among the writes.
        if rng.random() < 0.125:
            return cls(0, round(rng.uniform(0.3, 2.5), 3))
        return cls(rng.randint(1, max(1, expected_writes)), round(rng.uniform(0.0, 0.02), 4))


@dataclass(frozen=True)
class Killed:
    point: KillPoint
    killed: bool  # False: the run finished before the point was reached
    writes_seen: int
    returncode: int


def seeds(default: int, long: int) -> list[int]:
    """The seeds to run: ``SYNCD_CRASH_SEED`` alone, else ``long`` of them with SYNCD_LONG=1, else ``default``."""
    chosen = os.environ.get("SYNCD_CRASH_SEED")
    if chosen:
        return [int(s) for s in chosen.split(",")]
    return list(range(long if LONG else default))


def run_and_kill(world: World, args: list[str], point: KillPoint, *, timeout: float = 180) -> Killed:
    """Start ``syncd ARGS`` and SIGKILL it at ``point``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["PYTHONPATH"] = str(REPO)
    base = sum(world.writes())
    proc = subprocess.Popen([*SYNCD, *args, "--config", str(world.config)], cwd=world.directory, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    killed = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if sum(world.writes()) - base >= point.after_writes:
                if point.delay:
                    time.sleep(point.delay)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
                break
            time.sleep(0.0005)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Killed(point, killed, sum(world.writes()) - base, code)


def check_state_database(world: World) -> None:
    """The state file left by a killed run passes SQLite's integrity check and ``syncd state check``."""
    path = world.state_path
    if not path.exists():
        return  # killed before the database was created
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    result = invoke(["state", "check", "--config", str(world.config)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def invoke(args: list[str]) -> CliResult:
    """Run a ``syncd`` command in this process (the command's own code, without a new interpreter)."""
    saved = structlog.get_config()  # the command configures logging onto the runner's captured streams
    try:
        result = CliRunner().invoke(syncd_main, args)
    finally:
        structlog.configure(**saved)
    return CliResult(result.exit_code, result.output)


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    output: str


def state_file_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
