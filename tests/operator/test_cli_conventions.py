"""-v / -q / --log-level, the new-state-database notice, --version and shell completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from syncd import __version__
from syncd.sandbox import write_config
from tests.operator.worlds import KEYS, example_world

SYNCD = str(Path(sys.executable).with_name("syncd"))


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNCD, *args], capture_output=True, text=True, timeout=300, env=env or KEYS, check=False)


def test_version_and_completion() -> None:
    assert _run("--version").stdout.strip() == f"cloze-syncd, version {__version__}"
    assert "_SYNCD_COMPLETE=bash_complete" in _run(env={**KEYS, "_SYNCD_COMPLETE": "bash_source"}).stdout
    words = _run(env={**KEYS, "_SYNCD_COMPLETE": "bash_complete", "COMP_WORDS": "syncd con", "COMP_CWORD": "1"})
    assert {"plain,config", "plain,conflicts"} <= set(words.stdout.split())


def test_new_state_database_notice_and_quiet(tmp_path: Path) -> None:
    config = write_config(tmp_path / "a", "http://127.0.0.1:9", "http://127.0.0.1:9")
    first = _run("conflicts", "resolve", "1", "--take", "cloze", "--config", str(config))
    assert "created a new state database at" in first.stderr and str(tmp_path / "a" / "state.db") in first.stderr
    again = _run("conflicts", "resolve", "1", "--take", "cloze", "--config", str(config))
    assert "new state database" not in again.stderr
    other = write_config(tmp_path / "b", "http://127.0.0.1:9", "http://127.0.0.1:9")
    assert "new state database" not in _run("-q", "conflicts", "resolve", "1", "--take", "cloze",
                                            "--config", str(other)).stderr
    assert _run("-v", "-q", "status", "--config", str(other)).returncode == 2


@pytest.mark.timeout(300)
def test_verbose_and_log_level_override_the_config(tmp_path: Path) -> None:
    with example_world(tmp_path, 10, tables={"logging": {"format": "json", "level": "warning"}}) as (_, config):
        loud = _run("-v", "reconcile", "--config", str(config))  # the first run writes: debug events
        info = _run("--log-level", "info", "reconcile", "--config", str(config))
        quiet = _run("reconcile", "--config", str(config))

    def levels(done: subprocess.CompletedProcess[str]) -> set[str]:
        return {json.loads(line)["level"] for line in done.stderr.splitlines() if line.startswith("{")}

    assert not levels(quiet) & {"debug", "info"}
    assert "debug" in levels(loud)
    assert "info" in levels(info) and "debug" not in levels(info)
