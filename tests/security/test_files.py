"""Files: the state database (and its WAL and shared-memory files) is owner-only whatever the umask,
including while a run is under way; a config file holding secrets inline that others can read is
warned about."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

from tests.badinput.procs import syncd_many
from tests.fault.seeding import populate
from tests.fault.world import REPO, SYNCD, open_world


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_files_are_owner_only_even_with_an_open_umask(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze_emulator={"latency_ms": 3}) as world:
        populate(world, seed=51, cloze_people=60, hub_people=60, overlap=10)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")} | {"PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([*SYNCD, "reconcile", "--config", str(world.config)], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: os.umask(0))  # noqa: PLW1509 - the point of the test
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 60
        # Look at the files while the run writes (WAL and SHM exist only then), then stop it hard.
        while proc.poll() is None and time.monotonic() < deadline:
            for path in tmp_path.glob("state.db*"):
                try:
                    seen[path.name] = _mode(path)
                except FileNotFoundError:
                    pass
            if {"state.db", "state.db-wal", "state.db-shm"} <= seen.keys() and sum(world.writes()) > 20:
                proc.send_signal(signal.SIGKILL)
            time.sleep(0.005)
        proc.wait(timeout=30)
        assert {"state.db", "state.db-wal", "state.db-shm"} <= seen.keys(), seen
        assert {name: oct(mode) for name, mode in seen.items() if mode & 0o077} == {}
        for path in tmp_path.glob("state.db*"):  # what the killed run left behind
            assert _mode(path) & 0o077 == 0, (path.name, oct(_mode(path)))


def test_inline_secrets_in_a_config_others_can_read_are_warned_about(tmp_path: Path) -> None:
    inline = tmp_path / "inline.toml"
    inline.write_text('[pairs.main]\napp_id = "hubspot.com"\n[pairs.main.cloze]\napi_key = "inline-key-123456"\n'
                      '[pairs.main.external]\nconnector = "hubspot"\ntoken = "inline-token-123456"\n')
    private = tmp_path / "private.toml"
    private.write_text(inline.read_text())
    inline.chmod(0o644)
    private.chmod(0o600)
    shared, owned = syncd_many([["config", "check", "--config", str(inline)],
                                ["config", "check", "--config", str(private)]], cwd=tmp_path)
    assert shared.returncode == 0 and owned.returncode == 0, shared.stderr + owned.stderr
    assert "readable by group or others" in shared.stderr
    assert "readable by group or others" not in owned.stderr
    for proc in (shared, owned):
        assert "inline-key-123456" not in proc.stdout + proc.stderr
        assert "inline-token-123456" not in proc.stdout + proc.stderr
