"""No activity text (bodies, subjects) in syncd's logs, errors, state database or exports.

``syncd`` runs as a subprocess at debug level with JSON logs, against both emulators, through
a refused write, a send whose reply is lost and a run that fails on Cloze errors; every byte it
printed, the state file (and its WAL) and ``state export`` / ``status --json`` are searched for
sentinel strings planted in the activities' texts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from syncd.sandbox import tune_config
from tests.unpaced import unpaced_sandbox

SENTINELS = {
    "note": "Zebra-NOTE-7431 prefers invoices by fax",
    "task": "Zebra-TASK-1187 chase the signed contract",
    "task_body": "Zebra-TASKBODY-5521",
    "call": "Zebra-CALL-9034",
    "call_body": "Zebra-CALLBODY-2291 discussed the divorce",
    "email_subject": "Zebra-MAILSUBJ-6610",
    "email_body": "Zebra-MAILBODY-3342 password is hunter2",
    "meeting": "Zebra-MEET-4409",
}


def syncd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run([sys.executable, "-m", "syncd.cli", "--log-level", "debug", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=180, env=env, check=False)


def test_no_activity_text_in_logs_errors_state_or_exports(tmp_path: Path) -> None:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        tune_config(config, {"logging": {"format": "json"},
                             "pairs.sandbox.cloze": {"retry_attempts": 2, "retry_initial_wait": 0.01}})
        with config.open("a") as out:
            out.write('\n[pairs.sandbox.activities]\nkinds = ["note", "task", "call", "meeting", "email"]\n'
                      'call_as = "communication"\nemail_body = "preview"\n')
        now = int(time.time() * 1000)
        ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
        made = [
            hubspot.add_object("notes", {"hs_timestamp": str(now - 10_000), "hs_note_body": SENTINELS["note"]}),
            hubspot.add_object("tasks", {"hs_timestamp": str(now), "hs_task_subject": SENTINELS["task"],
                                         "hs_task_body": SENTINELS["task_body"]}),
            hubspot.add_object("calls", {"hs_timestamp": str(now - 5000), "hs_call_title": SENTINELS["call"],
                                         "hs_call_body": SENTINELS["call_body"]}),
            hubspot.add_object("meetings", {"hs_timestamp": str(now - 4000), "hs_meeting_title": SENTINELS["meeting"]}),
            hubspot.add_object("emails", {"hs_timestamp": str(now - 3000), "hs_email_subject": SENTINELS["email_subject"],
                                          "hs_email_text": SENTINELS["email_body"]}),
        ]
        types = ("notes", "tasks", "calls", "meetings", "emails")
        for type_, object_id in zip(types, made):
            hubspot.associate(type_, object_id, "contacts", ann)

        outputs: list[str] = []
        # Run 1: Cloze refuses the call (a definite no). Run 2: the call's reply is lost (uncertain).
        cloze.set_faults(paths=("/v1/timeline/communication",), error_next=1, error_status=400)
        first = syncd(config, "reconcile")
        cloze.set_faults(paths=("/v1/timeline/communication",), drop_next=1)
        second = syncd(config, "sync")
        # Run 3: an edited note meets a Cloze that keeps failing: the run fails.
        cloze.reset_faults()
        hubspot.update_object("notes", made[0], {"hs_note_body": SENTINELS["note"] + " (edited)"})
        cloze.set_faults(paths=("/v1/timeline/content",), error_next=10, error_status=503)
        third = syncd(config, "sync")
        cloze.reset_faults()
        for proc in (first, second, third):
            outputs += [proc.stdout, proc.stderr]
        export = syncd(config, "state", "export")
        status = syncd(config, "status", "--json")
        outputs += [export.stdout, export.stderr, status.stdout, status.stderr]

        assert (first.returncode, second.returncode) != (0, 0), "the refusal and the lost reply are reported"
        assert third.returncode != 0 and export.returncode == 0 and status.returncode == 0
        printed = "\n".join(outputs)
        assert "activities_pass" in printed and "activity_refused" in printed and "activity_uncertain" in printed
        assert "activity_journal" in export.stdout
        # The texts did reach Cloze (so the search below means something)...
        stored = repr(cloze.timeline())
        assert SENTINELS["note"] in stored and SENTINELS["call"] in stored and SENTINELS["task"] in stored
        assert SENTINELS["email_body"][:20] in stored, "as a preview"
        # ...and nowhere else.
        state_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
        for name, text in SENTINELS.items():
            marker = text.split()[0]
            assert marker not in printed, f"{name} text in syncd's output"
            assert marker.encode() not in state_bytes, f"{name} text in the state database"
