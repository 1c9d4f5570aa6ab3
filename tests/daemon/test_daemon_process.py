"""``syncd run`` as a real subprocess: systemd notify, signals, reload, HTTP endpoints.

The daemon syncs a Cloze emulator (served by the test, over HTTP) with the
file-backed memory connector; it learns nothing about the test otherwise.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from connectors.cloze.emulator import ClozeEmulator
from tests.daemon.procs import Daemon

pytestmark = pytest.mark.timeout(60)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """The engine logs a run's end a moment before the daemon has counted it: poll briefly."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_bad_config_exits_78_before_ready(
    tmp_path: Path, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    config = write_config()
    config.write_text(config.read_text().replace('interval = "3600s"', 'interval = "1s"\nintervall = 3'))
    d = start_daemon(config)
    assert d.wait(30) == 78
    err = d.stderr_path.read_text()
    assert "pairs.main.schedule.interval" in err and "pairs.main.schedule.intervall" in err
    assert d.notify.count("READY") == 0


def test_ready_endpoints_watchdog_and_sigterm(
    write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    d = start_daemon(write_config(), env={"WATCHDOG_USEC": "1000000"})
    ready = d.wait_ready()
    assert "syncing 1 pair(s): main" in ready["STATUS"]
    d.wait_event("run_finished", pair="main", status="ok")
    eventually(lambda: 'outcome="ok"' in httpx.get(d.url + "/metrics", timeout=5).text)

    health = httpx.get(d.url + "/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["ok"] is True and body["pairs"]["main"]["last_success"] is not None

    metrics = httpx.get(d.url + "/metrics", timeout=5).text
    assert 'syncd_build_info{version="0.1.0"} 1.0' in metrics
    assert 'syncd_runs_total{kind="incremental",outcome="ok",pair="main"} 1.0' in metrics
    assert 'syncd_api_requests_total{side="cloze",status_class="2xx"}' in metrics
    assert "syncd_last_success_timestamp_seconds{pair=\"main\"}" in metrics

    hook = httpx.post(d.url + "/webhooks/cloze/main", json=[{"person": {"direct": "x"}}], timeout=5)
    assert hook.status_code == 401
    hook = httpx.post(d.url + "/webhooks/cloze/main", params={"token": "guess"}, json=[], timeout=5)
    assert hook.status_code == 401

    # WATCHDOG_USEC=1 s: pinged every 0.5 s while the scheduler shows progress
    time.sleep(1.5)
    assert d.notify.count("WATCHDOG") >= 2

    started = time.monotonic()
    d.signal(signal.SIGTERM)
    d.notify.wait_for("STOPPING", "1", timeout=10)
    assert d.wait(20) == 0
    assert time.monotonic() - started < 20
    assert d.logs()[-1]["event"] == "stopped"
    assert not any(e.get("event") == "webhook sync" for e in d.logs())  # the 401s triggered nothing


def test_sighup_bad_config_keeps_running_good_config_applies(
    write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    config = write_config(interval=3600)
    d = start_daemon(config)
    d.wait_ready()
    d.wait_event("run_finished", pair="main")
    good = config.read_text()

    config.write_text(good.replace('reconcile_cron = "0 3 * * 0"', 'reconcile_cron = "0 3 * *"')
                      .replace('jitter = 0', 'jitter = 0\nfrequency = 2'))
    mark, notes = len(d.logs()), len(d.notify.messages)
    d.signal(signal.SIGHUP)
    rejected = d.wait_event("reload rejected; the previous config keeps running", after=mark)
    problems = " ".join(rejected["problems"])
    assert "pairs.main.schedule.frequency" in problems
    d.notify.wait_for("STATUS", after=notes, contains="reload rejected")
    assert d.notify.count("RELOADING") == 0
    assert d.proc.poll() is None
    assert httpx.get(d.url + "/healthz", timeout=5).status_code == 200  # the old config still serves

    config.write_text(good.replace('interval = "3600s"', 'interval = "5s"'))
    mark, notes = len(d.logs()), len(d.notify.messages)
    d.signal(signal.SIGHUP)
    reloaded = d.wait_event("config reloaded", after=mark)
    assert reloaded["rescheduled"] == ["incremental:main"]
    reloading = d.notify.wait_for("RELOADING", "1", after=notes)
    assert int(reloading["MONOTONIC_USEC"]) > 0
    d.notify.wait_for("READY", "1", after=notes)
    t0 = time.monotonic()
    d.wait_event("run_finished", pair="main", after=mark, timeout=15)
    assert 3 <= time.monotonic() - t0 <= 10  # the new 5 s interval, counted from the reload
    assert d.stop() == 0


def test_healthz_reports_a_stale_pair_and_recovers(
    emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    emulator.set_faults(error_rate=1.0, error_status=401)  # credentials refused: every run fails at once
    d = start_daemon(write_config(interval=5, health_max_age="2s"))
    d.wait_ready()
    d.wait_event("run_failed", pair="main")
    time.sleep(2.2)
    health = httpx.get(d.url + "/healthz", timeout=5)
    assert health.status_code == 503
    body = health.json()
    assert body["stale"] == ["main"] and body["pairs"]["main"]["last_success"] is None
    assert body["pairs"]["main"]["last_outcome"] == "failed"

    emulator.reset_faults()
    d.wait_event("run_finished", pair="main", status="ok", timeout=10)
    eventually(lambda: httpx.get(d.url + "/healthz", timeout=5).status_code == 200)
    assert httpx.get(d.url + "/healthz", timeout=5).json()["stale"] == []
    metrics = httpx.get(d.url + "/metrics", timeout=5).text
    assert 'syncd_runs_total{kind="incremental",outcome="failed",pair="main"}' in metrics
    assert 'syncd_api_requests_total{side="cloze",status_class="4xx"}' in metrics
    assert d.stop() == 0
