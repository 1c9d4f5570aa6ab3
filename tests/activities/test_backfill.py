"""The backfill is paced: a run's activity pass stops at its budget, record changes go first in every run,
and ``syncd status`` and /metrics show how far the backfill has got and when it should end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from config.loader import load_config
from state.store import StateStore
from syncd.activity_metrics import ActivityBackfill
from syncd.engine import activities
from syncd.engine.runner import sync_pair
from syncd.sandbox import tune_config
from tests.unpaced import unpaced_sandbox


def status_json(config: Path) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.run([sys.executable, "-m", "syncd.cli", "status", "--json", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list)
    return rows


def test_backfill_is_paced_behind_record_sync_and_its_progress_is_shown(tmp_path: Path) -> None:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0, "search_page_size": 5}})
        with config.open("a") as out:
            out.write("\n[pairs.sandbox.activities]\nmax_writes_per_run = 5\n")
        ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
        now = int(time.time() * 1000)
        for i in range(12):
            note = hubspot.add_object("notes", {"hs_timestamp": str(now - i * 60_000), "hs_note_body": f"n{i}"},
                                      modified_ms=now - 86_400_000 + i)
            hubspot.associate("notes", note, "contacts", ann)
        loaded = load_config(config)

        def run() -> None:
            store = StateStore.open(loaded.state_path)
            try:
                report = sync_pair(loaded, "sandbox", store=store)
                assert report.ok, report.as_dict()
            finally:
                store.close()

        run()
        assert len(cloze.timeline()) == 5, "the pass stops at its write budget"
        backfill = status_json(config)[0]["activities"]
        assert isinstance(backfill, dict)
        rows = {r["kind"]: r for r in backfill["backfill"]}
        assert sorted(rows) == ["call", "note", "task"] and rows["call"]["total"] == 0
        row = rows["note"]
        assert (row["kind"], row["total"], row["done"], row["finished"]) == ("note", 12, 5, False)
        assert isinstance(row["estimated_end_ms"], int) and row["estimated_end_ms"] >= now
        table = subprocess.run([sys.executable, "-m", "syncd.cli", "status", "--config", str(config)],
                               capture_output=True, text=True, timeout=120, check=False,
                               env={**os.environ, "COLUMNS": "200"})
        assert "sandbox: note backfill 5 of 12 (42 %), estimated end 20" in table.stdout, table.stdout

        # A record edit made during the backfill reaches Cloze in the very next run, before more history.
        hubspot.update_object("contacts", ann, {"jobtitle": "Chair"})
        run()
        person = next(p for p in cloze.records("person") if p["emails"][0]["value"] == "ann@acme.example")
        assert "Chair" in json.dumps(person), "the record edit reached Cloze"
        assert len(cloze.timeline()) == 10
        run()
        assert len(cloze.timeline()) == 12 and len({t["uniqueid"] for t in cloze.timeline()}) == 12

        store = StateStore.open(loaded.state_path, readonly=True)
        try:
            done = next(r for r in activities.progress(store, "sandbox") if r["kind"] == "note")
            assert (done["done"], done["finished"], done["estimated_end_ms"]) == (12, True, None)
            registry = CollectorRegistry()
            registry.register(ActivityBackfill(lambda: {"sandbox": activities.progress(store, "sandbox")}))
            scraped = generate_latest(registry).decode()
        finally:
            store.close()
        assert 'syncd_activity_backfill_total{kind="note",pair="sandbox"} 12.0' in scraped
        assert 'syncd_activity_backfill_done{kind="note",pair="sandbox"} 12.0' in scraped
        assert 'syncd_activity_backfill_estimated_end_timestamp_seconds{kind="note",pair="sandbox"} 0.0' in scraped
