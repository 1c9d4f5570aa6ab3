"""A ``syncd`` process freezes what its start-up builds out of the garbage collector; the CLI called
in another program's process leaves that program's collector as it was (``syncd/heap.py``)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncd.cli import main
from tests.heap_probe import START_UP_OBJECTS, probe_env
from tests.operator.worlds import KEYS, example_world


@pytest.mark.parametrize("program", [[sys.executable, "-m", "syncd.cli"], [str(Path(sys.executable).parent / "syncd")]],
                         ids=["python -m syncd.cli", "console script"])
def test_a_reconcile_freezes_its_start_up_and_leaves_the_collector_on(tmp_path: Path, program: list[str]) -> None:
    env, out = probe_env(tmp_path)
    with example_world(tmp_path, 20) as (_, config):
        done = subprocess.run([*program, "reconcile", "--json", "--config", str(config)], capture_output=True,
                              text=True, timeout=300, env={**KEYS, **env}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)[0]["status"] == "ok"
    heap = json.loads(out.read_text())
    assert heap["frozen"] > START_UP_OBJECTS
    assert heap["enabled"] is True


def test_a_bad_config_leaves_the_collector_on(tmp_path: Path) -> None:
    env, out = probe_env(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text("[pairs.main]\nnot_a_setting = 1\n")
    done = subprocess.run([sys.executable, "-m", "syncd.cli", "sync", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env={**KEYS, **env}, check=False)
    assert done.returncode == 78, done.stderr[-2000:]
    assert json.loads(out.read_text())["enabled"] is True


def test_the_cli_called_in_another_process_leaves_its_collector_alone(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    frozen = gc.get_freeze_count()
    with example_world(tmp_path, 5) as (_, config):
        result = CliRunner().invoke(main, ["reconcile", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == frozen
    assert gc.isenabled()
