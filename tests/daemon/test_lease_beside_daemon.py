"""A hand-run ``syncd reconcile`` beside a running daemon on the same pair: each side either runs
or is told the pair is busy (exit 75, a logged skip); nothing crashes, nothing is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import DEFAULT_API_KEY, ClozeEmulator
from tests.daemon.conftest import ENV
from tests.daemon.procs import REPO, Daemon

pytestmark = pytest.mark.timeout(240)


def test_reconciles_beside_the_daemon_never_crash(
    tmp_path: Path, emulator: ClozeEmulator, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    with ClozeClient(DEFAULT_API_KEY, base_url=emulator.url, rate_per_second=None) as c:
        for i in range(20):
            c.create("person", {"name": f"Person {i}", "emails": [{"value": f"p{i}@example.com"}]})
    emulator.set_faults(latency_ms=30)  # runs long enough to overlap
    config = write_config(interval=5, page_size=5)
    d = start_daemon(config)
    d.wait_ready()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}, **ENV, "PYTHONPATH": str(REPO)}
    codes = []
    for _ in range(6):
        proc = subprocess.run([sys.executable, "-m", "syncd.cli", "reconcile", "--config", str(config)],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text and "IntegrityError" not in text, text[-3000:]
        assert proc.returncode in (0, 75), text[-3000:]
        if proc.returncode == 75:
            assert "is being synced by" in text
        codes.append(proc.returncode)
    assert d.proc.poll() is None, d.output()
    events = [e.get("event") for e in d.logs()]
    assert "run crashed" not in events and "run failed" not in events, d.output()
    assert 0 in codes, codes
    emulator.reset_faults()
    assert d.stop() == 0
    final = subprocess.run([sys.executable, "-m", "syncd.cli", "reconcile", "--config", str(config), "--json"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert final.returncode == 0, final.stderr[-3000:]
    assert json.loads(final.stdout)[0]["writes"] == {}, final.stdout  # converged: nothing left to write
