"""End to end: the daemon really syncs — on its interval, on a webhook, and across a SIGTERM.

Cloze is the emulator (in this process, over HTTP); the external side is the
memory connector persisted to a JSON file, read back here after the daemon wrote it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import DEFAULT_API_KEY, ClozeEmulator
from syncd.cli_daemon import webhooks_group
from tests.daemon.procs import REPO, Daemon, free_port

pytestmark = pytest.mark.timeout(90)


def external_people(tmp: Path) -> dict[str, dict[str, Any]]:
    """External person records by first e-mail (the JSON file the memory connector keeps)."""
    path = tmp / "external.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str((i["fields"].get("emails") or [""])[0]): i for i in data["items"].get("person", [])}


def wait_until(check: Callable[[], bool], timeout: float, what: str, daemon: Daemon) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not within {timeout}s:\n{daemon.output()}")
        time.sleep(0.1)
    return time.monotonic() - start


def client(emu: ClozeEmulator) -> ClozeClient:
    return ClozeClient(DEFAULT_API_KEY, base_url=emu.url, rate_per_second=None)


def test_change_in_cloze_is_synced_within_one_interval(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    d = start_daemon(write_config(interval=5))
    d.wait_ready()
    d.wait_event("run_finished", pair="main")
    with client(emulator) as c:
        c.create("person", {"name": "Ada Lovelace", "emails": [{"value": "ada@example.com"}]})
    took = wait_until(lambda: "ada@example.com" in external_people(tmp_path), 12, "person synced", d)
    assert took <= 5 + 5  # one interval plus the run itself (and a loaded CI machine)
    assert d.stop() == 0


def test_webhook_delivery_syncs_well_before_the_next_interval(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    port = free_port()
    config = write_config(interval=3600, port=port, public_url=f"http://127.0.0.1:{port}")
    d = start_daemon(config)
    d.wait_ready()
    d.wait_event("run_finished", pair="main")

    result = CliRunner().invoke(webhooks_group, ["subscribe", "--config", str(config)])
    assert result.exit_code == 0, result.output
    subs = emulator.subscriptions()
    assert sorted(s["client_reference"] for s in subs) == [
        "cloze-syncd:main:company.change", "cloze-syncd:main:person.change", "cloze-syncd:main:project.change",
    ]
    again = CliRunner().invoke(webhooks_group, ["subscribe", "--config", str(config)])
    assert again.exit_code == 0 and len(emulator.subscriptions()) == 3  # re-subscribing replaces
    listed = CliRunner().invoke(webhooks_group, ["list", "--config", str(config), "--json"])
    assert listed.exit_code == 0 and "token=***" in listed.output and "token=" + "x" not in listed.output

    mark = len(d.logs())
    with client(emulator) as c:
        c.create("person", {"name": "Grace Hopper", "emails": [{"value": "grace@example.com"}]})
    took = wait_until(lambda: "grace@example.com" in external_people(tmp_path), 15, "webhook-triggered sync", d)
    assert took < 10  # the next interval run is an hour away
    hook_run = d.wait_event("webhook sync", after=mark)
    assert hook_run["records"] == 1
    assert emulator.subscriptions()[0]["suspended"] is False

    gone = CliRunner().invoke(webhooks_group, ["unsubscribe", "--config", str(config)])
    assert gone.exit_code == 0 and "removed 3" in gone.output and emulator.subscriptions() == []
    assert d.stop() == 0


def test_sigterm_mid_sync_loses_nothing(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    total = 120
    for i in range(total):
        emulator.add_record("person", {"name": f"Person {i:03}", "emails": [{"value": f"p{i:03}@example.com"}]})
    emulator.set_faults(latency_ms=10)  # every request is slow: the first sync takes seconds
    config = write_config(interval=3600, page_size=20)
    d = start_daemon(config)
    d.wait_ready()
    wait_until(lambda: 0 < len(external_people(tmp_path)) < total, 30, "sync under way", d)
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(25) == 0, d.output()
    assert time.monotonic() - started < 20
    synced_before_stop = len(external_people(tmp_path))
    assert synced_before_stop < total, "the stop came too late to test anything"
    d.close()

    # restart; the reconcile at start finds and syncs what was left, duplicating nothing
    emulator.set_faults(latency_ms=0)
    d2 = start_daemon(config)
    d2.wait_ready()
    wait_until(lambda: len(external_people(tmp_path)) == total, 45, "everything synced", d2)
    assert d2.stop() == 0
    people = external_people(tmp_path)
    assert sorted(people) == [f"p{i:03}@example.com" for i in range(total)]
    assert len({p["cloze_ref"] for p in people.values()}) == total  # no duplicates

    # a full reconcile afterwards finds nothing missing and nothing to write
    proc = subprocess.run(
        [sys.executable, "-m", "syncd.cli", "reconcile", "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)[0]
    assert report["status"] == "ok" and report["writes"] == {}, report
    assert report["reads"]["cloze.person"] == total


def test_second_sigterm_stops_at_once(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    for i in range(60):
        emulator.add_record("person", {"name": f"Slow {i:03}"})
    emulator.set_faults(latency_ms=400)
    d = start_daemon(write_config(interval=3600, page_size=5, shutdown_timeout=60))
    d.wait_ready()
    d.wait_event("run_started", pair="main")
    d.signal(signal.SIGTERM)
    d.notify.wait_for("STOPPING", "1")
    time.sleep(0.3)
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    code = d.wait(10)
    assert code == 128 + signal.SIGTERM
    assert time.monotonic() - started < 5
    assert any(e.get("event") == "forced exit" for e in d.logs())
