"""One measured ``syncd`` run: a subprocess, timed, with its peak memory and the API calls each emulator saw."""

from __future__ import annotations

import compileall
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.world import World

REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunResult:
    label: str
    command: str
    exit_code: int
    wall_s: float
    cpu_s: float  # the syncd process's own user + system CPU seconds (its rusage; the emulators run in this process)
    peak_rss_mb: float
    cloze_calls: int
    hubspot_calls: int
    cloze_writes: int
    hubspot_writes: int
    records: int = 0  # records the run had to handle (for records/s)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_ms_per_write(self) -> float:
        """``syncd``'s CPU milliseconds per record it wrote (both sides)."""
        written = self.cloze_writes + self.hubspot_writes
        return 1000 * self.cpu_s / written if written else 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s > 0 and self.records else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["records_per_s"] = round(self.records_per_s, 1)
        out["cpu_ms_per_write"] = round(self.cpu_ms_per_write, 3)
        return out


def run_syncd(world: World, label: str, *args: str, records: int = 0, profile: Path | None = None,
              time_limit: float | None = None, sample_every: float = 30.0) -> RunResult:
    """``syncd ARGS --json`` against ``world``; the child's peak RSS is its ``VmHWM``, sampled while it runs.

    (``wait4``'s ``ru_maxrss`` would not do: on Linux a child starts from the RSS its parent had when it
    forked, and this parent holds both emulators' data.) Its CPU time is ``wait4``'s user + system time:
    the child's own, since the emulators answer from this process.

    Every ``sample_every`` seconds the emulators' write counters are sampled (``progress``), so a run
    that slows down as the data grows shows it. Past ``time_limit`` the run gets SIGINT (a profile is
    still written) and is reported as stopped.
    """
    # PYTHONDONTWRITEBYTECODE is dropped: an installed syncd runs from compiled modules, and a run
    # that compiled the project's sources again each time would measure the compiler, not syncd.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    compile_project()
    prefix = [sys.executable, "-m", "bench.cpuprofile", "-o", str(profile)] if profile else [sys.executable]
    out_path, err_path = world.directory / "run.out", world.directory / "run.err"
    calls0, writes0 = world.api_calls(), world.writes()
    server0 = world.timer.snapshot()
    progress: list[tuple[float, int, int]] = []
    stopped = threading.Event()
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*prefix, "-m", "syncd.cli", *args, "--json", "--config", str(world.config)],
                                cwd=world.directory, env=env, stdout=out, stderr=err)
        done = threading.Event()
        peak_kb = [0]

        def sample_memory() -> None:
            while not done.wait(0.1):
                peak_kb[0] = max(peak_kb[0], _vm_hwm_kb(proc.pid))

        def watch() -> None:
            while not done.wait(sample_every):
                elapsed = time.perf_counter() - started
                c, h = world.writes()
                progress.append((round(elapsed, 1), c - writes0[0], h - writes0[1]))
                if time_limit is not None and elapsed > time_limit and not stopped.is_set():
                    stopped.set()
                    proc.send_signal(signal.SIGINT)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        try:
            # The last sample just before the child exits: waitid leaves it unreaped (and readable) until wait4.
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            peak_kb[0] = max(peak_kb[0], _vm_hwm_kb(proc.pid))
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    calls1, writes1 = world.api_calls(), world.writes()
    stdout, stderr = out_path.read_text(), err_path.read_text()
    report: dict[str, Any] = {}
    try:
        parsed = json.loads(stdout)
        report = parsed[0] if parsed else {}
    except (json.JSONDecodeError, IndexError):
        report = {"unparsed_stdout": stdout[-2000:]}
    if proc.returncode not in (0, 3):
        report["stderr"] = stderr[-4000:]
    if stopped.is_set():
        report["stopped_at_time_limit_s"] = time_limit
    report["progress_s_cloze_writes_hubspot_writes"] = progress
    report["emulator_time_by_route"] = world.timer.since(server0)
    cpu = usage.ru_utime + usage.ru_stime
    return RunResult(label, " ".join(args), proc.returncode, round(wall, 3), round(cpu, 3), round(peak_kb[0] / 1024, 1),
                     calls1[0] - calls0[0], calls1[1] - calls0[1], writes1[0] - writes0[0], writes1[1] - writes0[1],
                     records, report)


@functools.cache
def compile_project() -> None:
    """Write the project's bytecode caches (once per process) before the first measured run."""
    for package in ("syncd", "connectors", "state", "config"):
        compileall.compile_dir(REPO / package, quiet=1)


def _vm_hwm_kb(pid: int) -> int:
    """The process's peak resident memory so far (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
