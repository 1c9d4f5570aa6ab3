"""``syncd run``: the daemon's /metrics shows each kind's activity backfill, read from the state database."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from syncd.sandbox import tune_config
from tests.daemon.procs import Daemon
from tests.unpaced import unpaced_sandbox

pytestmark = pytest.mark.timeout(120)


def test_metrics_show_the_backfill(tmp_path: Path) -> None:
    with unpaced_sandbox(tmp_path) as (cloze, hubspot, config):
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0},
                             "pairs.sandbox.schedule": {"interval": "1h", "jitter": 0},
                             "logging": {"level": "info", "format": "json"}})
        with config.open("a") as config_file:
            config_file.write('\n[pairs.sandbox.activities]\nkinds = ["note"]\n')
        ann = hubspot.add_object("contacts", {"email": "ann@acme.example", "firstname": "Ann", "lastname": "Lee"})
        now = int(time.time() * 1000)
        for i in range(3):
            note = hubspot.add_object("notes", {"hs_timestamp": str(now - 60_000), "hs_note_body": f"n{i}"},
                                      modified_ms=now - 3_600_000 + i)
            hubspot.associate("notes", note, "contacts", ann)
        daemon = Daemon(config, tmp_path)
        try:
            daemon.wait_ready()
            daemon.wait_event("run_finished", pair="sandbox", status="ok", timeout=60)
            assert len(cloze.timeline()) == 3
            metrics = httpx.get(daemon.url + "/metrics", timeout=5).text
        finally:
            daemon.close()
        assert 'syncd_activity_backfill_total{kind="note",pair="sandbox"} 3.0' in metrics
        assert 'syncd_activity_backfill_done{kind="note",pair="sandbox"} 3.0' in metrics
        assert 'syncd_activity_backfill_estimated_end_timestamp_seconds{kind="note",pair="sandbox"} 0.0' in metrics
