"""The shipped alert rules and dashboard are valid and name only metrics the daemon exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from syncd.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = DEPLOY / "cloze-syncd.rules.yml"
DASHBOARD = DEPLOY / "cloze-syncd.dashboard.json"


def _exported() -> str:
    metrics = Metrics()
    metrics.track_pairs(["main"], lambda: {"main": (0, 0)})
    return generate_latest(metrics.registry).decode()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_rules_and_dashboard_name_exported_metrics_only() -> None:
    exported = set(re.findall(r"^([a-z_]+)", _exported(), flags=re.MULTILINE))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\b((?:syncd|process)_[a-z_]+)", RULES.read_text() + "\n".join(exprs)))
    assert used and used <= exported, used - exported
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
