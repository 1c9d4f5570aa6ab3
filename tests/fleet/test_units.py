"""The worker's systemd unit: what ``syncd worker`` relies on, and the daemon's identity and secrets.

``systemd-analyze verify`` and ``security`` check it with every other unit in ``deploy/``
(tests/daemon/test_unit_files.py).
"""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_worker_unit_contract() -> None:
    text = (DEPLOY / "cloze-syncd-worker.service").read_text()
    lines = set(text.splitlines())
    for needed in ("Type=notify", "ExecStart=/opt/cloze-syncd/bin/syncd worker --config /etc/cloze-syncd/config.toml",
                   "RestartPreventExitStatus=78", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
                   "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert needed in lines, needed
    assert not any(line.startswith("WatchdogSec=") for line in lines)  # the worker sends no watchdog pings
    stop = int(re.search(r"^TimeoutStopSec=(\d+)s$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert stop > 60, "TimeoutStopSec must exceed the default daemon.shutdown_timeout (60 s)"
    daemon = (DEPLOY / "cloze-syncd.service").read_text().splitlines()
    for prefix in ("User=", "DynamicUser=", "StateDirectory=", "LoadCredential="):
        assert [l for l in daemon if l.startswith(prefix)] == [l for l in text.splitlines() if l.startswith(prefix)]


def test_the_wheel_ships_the_worker_unit() -> None:
    shipped = Path(__file__).resolve().parents[2] / "syncd" / "units" / "cloze-syncd-worker.service"
    assert shipped.read_text() == (DEPLOY / "cloze-syncd-worker.service").read_text()


def test_a_worker_refuses_a_state_on_sqlite(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from syncd.cli import main

    config = tmp_path / "config.toml"
    config.write_text(f"""
[state]
path = "{tmp_path / 'state.db'}"

[pairs.main]
app_id = "crm.example.com"
app_name = "Example CRM"

[pairs.main.cloze]
api_key = "k"
base_url = "http://127.0.0.1:9"

[pairs.main.external]
connector = "memory"
""")
    result = CliRunner().invoke(main, ["worker", "--config", str(config)])
    assert result.exit_code == 78, result.output
    assert "state.url" in result.output and "PostgreSQL" in result.output
    assert not (tmp_path / "state.db").exists()  # refused before anything was opened
