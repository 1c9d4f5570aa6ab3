"""``/healthz`` with a last success in the future (a run made while the clock was a day ahead):
stale (503), never a negative age answered with 200, until a genuine success replaces it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from connectors.cloze.emulator import ClozeEmulator
from tests.daemon.conftest import ENV
from tests.daemon.procs import REPO, Daemon

pytestmark = pytest.mark.timeout(120)


def test_a_last_success_in_the_future_is_stale(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    config = write_config(interval=3600, reconcile_cron=None)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}, **ENV, "PYTHONPATH": str(REPO)}
    first = subprocess.run([sys.executable, "-m", "syncd.cli", "sync", "--config", str(config)], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("UPDATE runs SET finished_at = finished_at + 86400000")  # finished "tomorrow"
    conn.commit()
    conn.close()
    # every later run fails (the key was revoked): nothing replaces the future success
    d = start_daemon(config, env={"SYNCD_TEST_CLOZE_KEY": "revoked-key"})
    d.wait_ready()
    d.wait_event("run_failed", pair="main", timeout=60)
    health = httpx.get(d.url + "/healthz", timeout=5)
    body = health.json()
    pair = body["pairs"]["main"]
    assert health.status_code == 503, body
    assert pair["ok"] is False and pair["last_success_in_future"] is True and body["stale"] == ["main"], body
    assert d.stop() == 0


def test_health_is_fresh_again_after_a_genuine_success(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    config = write_config(interval=3600, reconcile_cron=None)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}, **ENV, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-m", "syncd.cli", "sync", "--config", str(config)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60, check=False).returncode == 0
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("UPDATE runs SET finished_at = finished_at + 86400000")
    conn.commit()
    conn.close()
    d = start_daemon(config)
    d.wait_ready()
    d.wait_event("run_finished", pair="main", timeout=60)
    deadline = time.monotonic() + 10
    while True:
        health = httpx.get(d.url + "/healthz", timeout=5)
        if health.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    pair = health.json()["pairs"]["main"]
    assert health.status_code == 200 and pair["last_success_in_future"] is False and pair["age_s"] >= 0, pair
    assert d.stop() == 0
