"""``syncd config check`` reports every problem in one pass, sorted by line, with "did you mean"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"


def _broken(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text()
    text = text.replace('interval = "5m"', 'intervall = "5m"')                  # a typo in the schema
    text = text.replace('reconcile_cron = "0 3 * * *"', 'reconcile_cron = "0 3 * *"')  # a bad cron
    text = text.replace('api_key = "credential:cloze_api_key"', 'apikey = "credential:cloze_api_key"')  # connector
    text = text.replace('token = "credential:hubspot_token"', 'token = "env:SYNCD_TEST_UNSET_TOKEN"')  # unset env
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_every_problem_at_once_sorted_by_line(tmp_path: Path) -> None:
    path = _broken(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SYNCD_TEST_UNSET_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "syncd.cli", "config", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 78
    text = " ".join(done.stderr.split())
    assert "pairs.main.schedule.intervall: Extra inputs are not permitted; did you mean 'interval'?" in text
    assert "pairs.main.schedule.reconcile_cron: invalid schedule" in text
    assert "pairs.main.cloze.apikey: Extra inputs are not permitted; did you mean 'api_key'?" in text
    assert "pairs.main.external.token: environment variable SYNCD_TEST_UNSET_TOKEN is not set" in text
    lines = [int(n) for n in re.findall(r"\(line (\d+)\)", done.stderr)]
    assert len(lines) >= 4 and lines == sorted(lines)
