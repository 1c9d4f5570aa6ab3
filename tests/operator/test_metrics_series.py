"""/metrics of a running daemon: every series from start-up, backlog gauges per pair, no ``_created``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from state.store import StateStore
from tests.daemon.conftest import emulator, start_daemon, write_config  # noqa: F401 - fixtures
from tests.daemon.procs import Daemon


def test_series_exist_from_start_and_backlog_follows_the_state_database(
    write_config: Callable[..., Path], start_daemon: Callable[..., Daemon], tmp_path: Path,  # noqa: F811
) -> None:
    daemon = start_daemon(write_config())
    daemon.wait_ready()
    text = httpx.get(daemon.url + "/metrics", timeout=10).text
    assert "_created" not in text
    for series in ('syncd_runs_total{kind="reconcile",outcome="failed",pair="main"} 0.0',
                   'syncd_records_written_total{entity="company",op="create",pair="main",side="cloze"} 0.0',
                   'syncd_record_errors_total{pair="main"} 0.0',
                   'syncd_runs_skipped_total{kind="webhook",pair="main"} 0.0',
                   'syncd_api_requests_total{side="external",status_class="5xx"} 0.0',
                   'syncd_conflicts_pending{pair="main"} 0.0',
                   'syncd_record_errors_open{pair="main"} 0.0'):
        assert series in text, series
    assert 'syncd_last_success_timestamp_seconds{pair="main"}' in text
    # An operator-visible backlog appears at the next scrape (read from the state database).
    store = StateStore.open(tmp_path / "state.db")
    with store.transaction() as s:
        StateStore.record_error(s, run_id="r", pair="main", entity="person", side="external", op="create",
                                record_id="c1", source_side="cloze", code="VALIDATION_ERROR", message="bad")
        StateStore.record_conflict(s, run_id="r", pair="main", entity="person", link_id=None, cloze_id="c1",
                                   external_id="e1", field="title", base=None, cloze_value='"A"',
                                   external_value='"B"', policy="manual", outcome="pending", status="open")
    store.close()
    text = httpx.get(daemon.url + "/metrics", timeout=10).text
    assert 'syncd_conflicts_pending{pair="main"} 1.0' in text
    assert 'syncd_record_errors_open{pair="main"} 1.0' in text
