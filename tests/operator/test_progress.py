"""A run shows how far it has got: progress log lines off a terminal, bars with rate and ETA on one."""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from tests.operator.worlds import EXAMPLE, KEYS, example_world

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.timeout(600)
def test_json_logs_carry_periodic_progress_lines(tmp_path: Path) -> None:
    with example_world(tmp_path, 60, tables={"logging": {"format": "json", "progress_interval": "0s"}}) as (_, config):
        done = subprocess.run([sys.executable, "-m", "syncd.cli", "reconcile", "--config", str(config)],
                              capture_output=True, text=True, timeout=600, env=KEYS, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["event"] == "progress"]
    phases = {e["phase"] for e in progress}
    assert {"read person", "plan person", "write person", "read company", "write project"} <= phases
    write = next(e for e in progress if e["phase"] == "write person" and e.get("finished"))
    assert write["done"] == write["total"] > 0 and write["rate_per_s"] > 0 and write["pair"] == "main"
    assert any(e["eta_s"] is not None for e in progress if e["phase"] == "write person" and not e.get("finished"))


def _in_a_terminal(args: list[str]) -> tuple[int, str]:
    parent, child = pty.openpty()
    env = {**KEYS, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(args, stdin=child, stdout=child, stderr=child, env=env, close_fds=True)
    os.close(child)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([parent], [], [], 1.0)
        if ready:
            try:
                data = os.read(parent, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(parent)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.timeout(600)
def test_terminal_shows_bars_per_phase_and_log_lines_on_their_own_lines(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('# "custom.lead_source"', '"custom.lead_source"')  # some record errors
    with example_world(tmp_path, 60, text=text, tables={"logging": {"level": "warning"}}) as (_, config):
        code, screen = _in_a_terminal([sys.executable, "-m", "syncd.cli", "reconcile", "--config", str(config)])
    assert code == 3, screen[-3000:]
    lines = [ANSI.sub("", line).strip() for line in re.split(r"[\r\n]", screen)]
    for phase in ("read person", "plan person", "write person", "write company"):
        assert any(f"main: {phase}" in line and "ETA" in line for line in lines), phase
    assert any(re.search(r"main: write person .* \d+/\d+ ", line) for line in lines)
    logged = [line for line in lines if "record_error" in line]
    assert logged and all(re.match(r"^20\d\d-\d\d-\d\d", line) for line in logged)  # never glued to a bar


def test_log_progress_is_periodic_and_quiet_for_short_phases() -> None:
    from structlog.testing import capture_logs

    from syncd.progress import LogProgress

    now = [0.0]
    progress = LogProgress("main", interval=10, clock=lambda: now[0])
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with capture_logs() as logs:
        progress.start("read person")
        progress.advance(50)          # 0 s in: too soon
        progress.start("write person", total=100)  # the short read phase ends silently
        now[0] = 12.0
        progress.advance(30)          # 12 s in: a line, with rate and ETA
        now[0] = 15.0
        progress.advance(20)          # 3 s after the last line: none
        now[0] = 23.0
        progress.advance(50)
        progress.finish()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    lines = [e for e in logs if e["event"] == "progress"]
    assert [(e["phase"], e["done"], e.get("finished", False)) for e in lines] == [
        ("write person", 30, False), ("write person", 100, False), ("write person", 100, True)]
    assert lines[0]["rate_per_s"] == 2.5 and lines[0]["eta_s"] == 28.0 and lines[0]["total"] == 100
