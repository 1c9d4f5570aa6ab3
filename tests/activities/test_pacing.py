"""The activity pass's share of the interval counts from the start of the run, so a run with a backfill
ends within its interval and the daemon's next run (the next person edit) is not pushed back; and the
backfill's progress counts every activity written, also inside a page the pass stopped in."""

from __future__ import annotations

import time
from pathlib import Path

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine import activities
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import HUBSPOT_TOKEN, tune_config, write_config
from syncd.sandbox_files import CLOZE_KEY


def seeded(tmp_path: Path, cloze: ClozeEmulator, hubspot: HubSpotEmulator, activities_toml: str,
           interval: str = "1h") -> Path:
    config = write_config(tmp_path, cloze.url, hubspot.url)
    tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0},
                         "pairs.sandbox.schedule": {"interval": interval}})
    with config.open("a") as out:
        out.write(f"\n[pairs.sandbox.activities]\n{activities_toml}\n")
    ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
    now = int(time.time() * 1000)
    for i in range(12):
        note = hubspot.add_object("notes", {"hs_timestamp": str(now - i * 60_000), "hs_note_body": f"n{i}"},
                                  modified_ms=now - 86_400_000 + i)
        hubspot.associate("notes", note, "contacts", ann)
    return config


def run(config: Path) -> RunReport:
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        report = sync_pair(loaded, "sandbox", store=store)
        assert report.ok, report.as_dict()
        return report
    finally:
        store.close()


def test_a_record_pass_that_used_the_share_leaves_the_backfill_one_write(tmp_path: Path) -> None:
    """The share is 1 s of the run (0.2 of 5 s); every Cloze call takes 0.5 s, so the record pass alone
    (its feed polls) uses it up: the pass makes its one guaranteed write and stops."""
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        config = seeded(tmp_path, cloze, hubspot, "run_share = 0.2", interval="5s")
        run(config)  # links Ann and writes what the share allows
        cloze.set_faults(latency_ms=500)
        before = len(cloze.timeline())
        report = run(config)
        assert len(cloze.timeline()) == before + 1, "the share was spent by the records: one write, for progress"
        assert any("used its share" in n for n in report.notes), report.notes


def test_progress_counts_the_writes_of_a_page_the_pass_stopped_in(tmp_path: Path) -> None:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        config = seeded(tmp_path, cloze, hubspot, "max_writes_per_run = 5")
        run(config)
        assert len(cloze.timeline()) == 5
        store = StateStore.open(load_config(config).state_path, readonly=True)
        try:
            note = next(r for r in activities.progress(store, "sandbox") if r["kind"] == "note")
        finally:
            store.close()
        assert (note["total"], note["done"], note["finished"]) == (12, 5, False), "5 of the page's 12 written"
        assert isinstance(note["estimated_end_ms"], int)
