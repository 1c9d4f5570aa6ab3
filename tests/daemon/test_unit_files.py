"""The shipped systemd units pass ``systemd-analyze verify`` with no output at all.

``verify`` exits 0 even for unknown keys and unparsable values (it only prints a
warning), so any output is a failure. It also insists that ``ExecStart=`` points
at an executable, so copies are checked with the install path rewritten.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted(p.name for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
INSTALLED = "/opt/cloze-syncd/bin/syncd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (CI installs systemd)")


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED, "/bin/true"))
    return tmp_path


def test_units_exist() -> None:
    assert {"cloze-syncd.service", "cloze-syncd-reconcile.service", "cloze-syncd-reconcile.timer"} <= set(UNITS)


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_verify_prints_nothing(unit_dir: Path, name: str) -> None:
    assert ANALYZE is not None
    proc = subprocess.run(
        [ANALYZE, "verify", name], cwd=unit_dir, capture_output=True, text=True, timeout=60, check=False,
    )
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and output == "", f"systemd-analyze verify {name}:\n{output}"


@needs_analyze
@pytest.mark.parametrize("name", [n for n in UNITS if n.endswith(".service")])
def test_security_exposure_is_low(unit_dir: Path, name: str) -> None:
    assert ANALYZE is not None
    proc = subprocess.run(
        [ANALYZE, "security", "--offline=yes", name], cwd=unit_dir, capture_output=True, text=True, timeout=60, check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout[-2000:] + proc.stderr
    assert float(match.group(1)) <= 2.0, f"{name}: exposure {match.group(1)} (was 1.1 when written)"


def test_daemon_unit_contract() -> None:
    """The directives the daemon's behaviour relies on are present (and the one that breaks it absent)."""
    text = (DEPLOY / "cloze-syncd.service").read_text()
    directives = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")}
    lines = set(text.splitlines())
    for needed in (
        "Type=notify", "RestartPreventExitStatus=78", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=cloze-syncd", "NoNewPrivileges=yes", "ProtectSystem=strict",
    ):
        assert needed in lines, needed
    assert {"WatchdogSec", "LoadCredential", "TimeoutStopSec"} <= directives
    assert "ProcSubset" not in directives  # hides /proc/stat: prometheus process metrics vanish
    assert "Type=notify-reload" not in lines  # systemd 252 rejects it
    stop = int(re.search(r"^TimeoutStopSec=(\d+)s$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert stop > 60, "TimeoutStopSec must exceed the default daemon.shutdown_timeout (60 s)"


def test_reconcile_unit_shares_identity_and_credentials() -> None:
    daemon = (DEPLOY / "cloze-syncd.service").read_text().splitlines()
    reconcile = (DEPLOY / "cloze-syncd-reconcile.service").read_text().splitlines()
    for prefix in ("User=", "DynamicUser=", "StateDirectory=", "LoadCredential="):
        assert [l for l in daemon if l.startswith(prefix)] == [l for l in reconcile if l.startswith(prefix)], prefix
    assert "Type=oneshot" in reconcile
