"""SIGKILL ``syncd`` right after a timeline write reached Cloze, then run it cleanly: no keyed record
twice, and the call (a communication, which Cloze cannot key) never sent twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncd.sandbox import tune_config
from tests.unpaced import unpaced_sandbox

HOUR = 3_600_000


def syncd(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.Popen([sys.executable, "-m", "syncd.cli", *args, "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("kill_after", [1, 2, 3, 4])
def test_killed_after_a_timeline_write_then_a_clean_run(tmp_path: Path, kill_after: int) -> None:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0}})
        with config.open("a") as config_file:
            config_file.write('\n[pairs.sandbox.activities]\nkinds = ["note", "task", "call", "meeting"]\n'
                      'call_as = "communication"\n')
        now = int(time.time() * 1000)
        ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
        for type_, props in (("notes", {"hs_note_body": "n"}), ("tasks", {"hs_task_subject": "t"}),
                             ("calls", {"hs_call_title": "c"}), ("meetings", {"hs_meeting_title": "m"})):
            engagement = hubspot.add_object(type_, {"hs_timestamp": str(now - HOUR), **props})
            hubspot.associate(type_, engagement, "contacts", ann)
        cloze.set_faults(latency_ms=100)  # every Cloze request takes a moment: the kill lands mid-run
        proc = syncd(config, "reconcile")
        deadline = time.monotonic() + 120
        while len(cloze.timeline()) < kill_after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, f"the run ended before write {kill_after}: {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        cloze.reset_faults()
        with sqlite3.connect(tmp_path / "state.db") as db:
            found = db.execute("SELECT state FROM activity_journal WHERE kind = 'call'").fetchall()
        call_state = found[0][0] if found else None

        clean = syncd(config, "sync")
        out, err = clean.communicate(timeout=180)
        items = cloze.timeline()
        keyed = [(t["source"], t["uniqueid"]) for t in items if t.get("uniqueid")]
        assert len(keyed) == len(set(keyed)) == 3, (items, err)
        calls = cloze.timeline(kind="communication")
        assert len(calls) <= 1, "never sent twice"
        if call_state == "sending":
            # Killed between the call's "sending" record and its "sent" record: reported, not repeated.
            assert clean.returncode != 0 and "may or may not have reached Cloze" in out + err, (out, err)
        else:
            assert len(calls) == 1 and clean.returncode == 0, (call_state, out, err)
        again = syncd(config, "sync")
        again.communicate(timeout=180)
        assert len(cloze.timeline(kind="communication")) == len(calls) and len(cloze.timeline()) == len(items)
