"""The state database seen from the command line, against both emulators over loopback:
concurrent reconciles, a database locked by another process, dry runs that leave no files,
a state database from another deployment, and a wall clock stepped forward mid-run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from syncd.sandbox import set_keys
from tests.fault.seeding import populate
from tests.fault.world import REPO, SYNCD, World, describe, open_world

LIBFAKETIME = next((p for p in (Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
                                Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
                                Path("/usr/lib/faketime/libfaketime.so.1")) if p.exists()), None)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as w:
        populate(w, seed=3, cloze_people=12, hub_people=12, overlap=3, companies=2, deals=1)
        yield w


def _tune(world: World, table: str, values: dict[str, object]) -> None:
    world.config.write_text(set_keys(world.config.read_text(), table, values))


def _start(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    return subprocess.Popen([*SYNCD, *args, "--config", str(world.config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, cwd=world.directory)


def _finish(proc: subprocess.Popen[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _side_files(world: World) -> list[str]:
    return sorted(p.name for p in world.directory.iterdir() if p.name.startswith("state.db-"))


# -- two reconciles at once ---------------------------------------------------------------


@pytest.mark.slow
def test_two_reconciles_started_together_never_crash_and_the_loser_exits_75(world: World) -> None:
    world.hubspot.set_faults(latency=0.02)  # long enough for the two runs to overlap
    codes: list[int] = []
    for round_no in range(6):
        with ThreadPoolExecutor(2) as pool:
            procs = list(pool.map(lambda _: world.syncd("reconcile"), range(2)))
        for proc in procs:
            text = proc.stdout + proc.stderr
            assert "Traceback" not in text and "IntegrityError" not in text, describe(proc)
            assert proc.returncode in (0, 75), describe(proc)
            if proc.returncode == 75:
                assert "is being synced by" in text, describe(proc)
        codes += [p.returncode for p in procs]
        assert 0 in [p.returncode for p in procs] or round_no > 0, [describe(p) for p in procs]
    assert 75 in codes, f"the runs never overlapped: {codes}"
    world.clear_faults()
    assert world.syncd("reconcile", check=0)
    again = world.run("full")
    assert again.exit_code() == 0 and again.total_writes == 0, again.as_dict()


# -- a locked database ----------------------------------------------------------------------


def test_a_database_locked_by_another_process_fails_typed_within_the_lock_timeout(world: World) -> None:
    world.syncd("reconcile", check=0)
    _tune(world, "state", {"lock_timeout": "2s"})
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sqlite3, sys, time\n"
                                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\n"
                                "print('locked', flush=True)\ntime.sleep(120)"), str(world.state_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        before = world.writes()
        started = time.monotonic()
        proc = world.syncd("reconcile")
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    text = proc.stdout + proc.stderr
    assert proc.returncode == 75, describe(proc)
    assert "locked by another process" in text and "lock_timeout" in text, describe(proc)
    assert "Traceback" not in text, describe(proc)
    assert took < 20, took
    assert world.writes() == before
    assert world.syncd("reconcile").returncode in (0, 3)


# -- dry runs and status leave nothing beside the database ------------------------------------


def test_dry_runs_and_status_leave_no_wal_or_shm_files(world: World) -> None:
    world.syncd("reconcile", check=0)
    assert _side_files(world) == []
    before = world.state_path.read_bytes()
    for args in (["reconcile", "--dry-run"], ["sync", "--dry-run"], ["status"], ["state", "check"]):
        proc = world.syncd(*args)
        assert proc.returncode in (0, 3), describe(proc)
        assert _side_files(world) == [], (args, _side_files(world))
    assert world.state_path.read_bytes() == before


# -- a state database from another deployment ---------------------------------------------------


def test_a_state_database_of_other_accounts_is_refused_until_adopted(world: World, tmp_path: Path) -> None:
    world.syncd("reconcile", check=0)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with open_world(other_dir, hubspot_emulator={"portal_id": 7_777_777}) as other:
        populate(other, seed=4, cloze_people=5, hub_people=5, overlap=1)
        shutil.copy(world.state_path, other.state_path)  # the same pair name, another HubSpot portal
        before = other.writes()
        for args in (["reconcile"], ["sync"], ["reconcile", "--dry-run"]):
            proc = other.syncd(*args)
            text = proc.stdout + proc.stderr
            assert proc.returncode == 78, describe(proc)
            assert "belongs to other accounts" in text and "external.portal_id" in text, describe(proc)
            assert "4242424" in text and "7777777" in text and "state adopt" in text, describe(proc)
            assert "Traceback" not in text
        assert other.writes() == before
        adopted = other.syncd("state", "adopt", "--pair", "sandbox", check=0)
        assert "portal_id=7777777" in adopted.stdout, describe(adopted)
        assert other.syncd("reconcile").returncode in (0, 3)
        assert {"cloze", "external", "app"} <= {r["side"] for r in other.export()["accounts"]}
    # the original deployment still runs against its own database
    assert world.syncd("reconcile").returncode in (0, 3)


# -- a wall clock stepped forward ---------------------------------------------------------------


@pytest.mark.skipif(LIBFAKETIME is None and not os.environ.get("CI"), reason="libfaketime (Debian: faketime) missing")
def test_a_clock_stepped_forward_does_not_let_a_second_reconcile_run_beside_the_first(world: World) -> None:
    assert LIBFAKETIME is not None, "install Debian's faketime package"
    world.hubspot.set_faults(latency=0.15)  # the first run takes several seconds
    first = _start(world, "reconcile")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the first run holds the lease
            if world.state_path.exists():
                conn = sqlite3.connect(world.state_path, timeout=30)
                try:
                    held = conn.execute("SELECT count(*) FROM leases WHERE owner <> ''").fetchone()[0]
                except sqlite3.OperationalError:
                    held = 0
                conn.close()
                if held:
                    break
            time.sleep(0.1)
        # The same host ten minutes later by the wall clock; the monotonic clock is not stepped
        # (as with a real clock step), which libfaketime leaves alone with DONT_FAKE_MONOTONIC.
        second = world.syncd("reconcile", env={"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "+10m",
                                               "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        assert second.returncode == 75, describe(second)
        assert "is being synced by" in second.stdout + second.stderr
    finally:
        done = _finish(first)
    assert done.returncode in (0, 3), describe(done)
    world.clear_faults()
    again = world.run("full")
    assert again.exit_code() == 0 and again.total_writes == 0, again.as_dict()


def test_status_treats_a_last_success_in_the_future_as_stale(world: World) -> None:
    world.syncd("reconcile", check=0)
    conn = sqlite3.connect(world.state_path)
    conn.execute("UPDATE runs SET finished_at = finished_at + 86400000")
    conn.commit()
    conn.close()
    import json

    proc = world.syncd("status", "--json", check=0)
    row = json.loads(proc.stdout)[0]
    assert row["last_success_in_future"] is True and row["last_success_age_s"] < 0, row
    table = world.syncd("status", check=0, env={"COLUMNS": "250"})
    assert "in the future" in table.stdout
    # a later genuine success is the last success again (not the largest time ever recorded)
    assert world.syncd("reconcile").returncode in (0, 3)
    row = json.loads(world.syncd("status", "--json", check=0).stdout)[0]
    assert row["last_success_in_future"] is False and 0 <= row["last_success_age_s"] < 600, row
