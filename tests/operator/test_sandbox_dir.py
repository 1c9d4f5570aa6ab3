"""``syncd sandbox --dir`` only clears a directory it made itself (or with ``--force``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SYNCD = str(Path(sys.executable).with_name("syncd"))


def _sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    # Run from elsewhere with the venv off PATH, as after the README's quick start.
    env = {**os.environ, "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    return subprocess.run([SYNCD, "sandbox", "--people", "10", *args], capture_output=True, text=True, timeout=240, check=False,
                          cwd="/", env=env)


def test_refuses_a_directory_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = _sandbox("--dir", str(tmp_path))
    assert done.returncode != 0
    assert "not a sandbox" in done.stderr and "--force" in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_reuses_its_own_directory_and_force_clears_any(tmp_path: Path) -> None:
    first = _sandbox("--dir", str(tmp_path / "sb"))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "sb" / ".syncd-sandbox").is_file()
    # The hint names a command that works as typed from here (syncd may not be on PATH).
    assert f"{SYNCD} status --config {tmp_path / 'sb' / 'config.toml'}" in first.stdout
    (tmp_path / "sb" / "leftover").write_text("x")
    again = _sandbox("--dir", str(tmp_path / "sb"))
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "sb" / "leftover").exists()

    other = tmp_path / "other"
    other.mkdir()
    (other / "junk").write_text("x")
    forced = _sandbox("--dir", str(other), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (other / "junk").exists() and (other / "config.toml").is_file()


def test_hint_after_the_quick_start_is_the_venv_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.sandbox import syncd_command

    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(sys, "argv", [".venv/bin/syncd", "sandbox"])  # as `bash deploy/dev sandbox` runs it
    assert syncd_command() == ".venv/bin/syncd"
