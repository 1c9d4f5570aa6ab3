"""Names are shown as written (``Tomás``), in JSON log lines and in the conflict list."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from state.store import StateStore
from syncd.logs import configure_logging
from syncd.sandbox import write_config


def test_json_log_lines_keep_accented_names(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging("info", "json")
        structlog.get_logger("t").warning("conflict", base="Tomás", cloze="Zoë")
        line = capsys.readouterr().out.strip()
    finally:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    assert '"base": "Tomás"' in line and '"cloze": "Zoë"' in line and "\\u00" not in line


def test_conflict_list_shows_accented_names(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    store = StateStore.open(tmp_path / "state.db")
    with store.transaction() as s:
        StateStore.record_conflict(s, run_id="r1", pair="sandbox", entity="person", link_id=None, cloze_id="c1",
                                   external_id="e1", field="first", base='"Tomas"', cloze_value='"Tomás"',
                                   external_value='"Tomàs"', policy="manual", outcome="pending", status="open")
    store.close()
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-m", "syncd.cli", "conflicts", "list", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert '"Tomás"' in done.stdout and '"Tomàs"' in done.stdout and "\\u00" not in done.stdout
