"""``syncd run`` freezes what its start-up builds out of the garbage collector and keeps collecting the rest."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.daemon.procs import Daemon
from tests.heap_probe import START_UP_OBJECTS, probe_env

pytestmark = pytest.mark.timeout(60)


def test_the_daemon_freezes_its_start_up_and_leaves_the_collector_on(
    tmp_path: Path, write_config: Callable[..., Path], start_daemon: Callable[..., Daemon]
) -> None:
    env, out = probe_env(tmp_path)
    d = start_daemon(write_config(), env=env)
    d.wait_ready()
    d.wait_event("run_finished", pair="main", status="ok")
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0
    heap = json.loads(out.read_text())
    assert heap["frozen"] > START_UP_OBJECTS
    assert heap["enabled"] is True
