"""The wheel carries the systemd units and the example config; ``syncd deploy units`` writes the units."""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("cloze-syncd.service", "cloze-syncd-reconcile.service", "cloze-syncd-reconcile.timer")
SYNCD = str(Path(sys.executable).with_name("syncd"))


@pytest.mark.timeout(300)
def test_wheel_contents(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("cloze_syncd-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for unit in UNITS:
            assert archive.read(f"syncd/units/{unit}") == (ROOT / "deploy" / unit).read_bytes()
        assert archive.read("config/example.toml") == (ROOT / "config" / "example.toml").read_bytes()
    assert {"syncd/py.typed", "syncd/cli.py", "connectors/hubspot/emulator/server.py", "state/store.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


def test_deploy_units_writes_the_shipped_units(tmp_path: Path) -> None:
    done = subprocess.run([SYNCD, "deploy", "units", "--dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for unit in UNITS:
        path = tmp_path / unit
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        shipped = (ROOT / "deploy" / unit).read_text()
        assert path.read_text() == shipped.replace("/opt/cloze-syncd/bin/syncd", SYNCD)
    assert f"ExecStart={SYNCD} run --config /etc/cloze-syncd/config.toml" in (tmp_path / UNITS[0]).read_text()
    (tmp_path / UNITS[0]).write_text("# edited locally\n")
    refused = subprocess.run([SYNCD, "deploy", "units", "--dir", str(tmp_path)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert (tmp_path / UNITS[0]).read_text() == "# edited locally\n"
    forced = subprocess.run([SYNCD, "deploy", "units", "--dir", str(tmp_path), "--force"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert forced.returncode == 0 and "ExecStart=" in (tmp_path / UNITS[0]).read_text()
