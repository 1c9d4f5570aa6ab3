"""A fleet under test: N pairs (each its own Cloze emulator and JSON-file external side), one
PostgreSQL database, and real ``syncd worker`` subprocesses with short timings.

Timings (CI): lease TTL 6 s (renewed every second), tick 1 s, reaper every 1 s, a worker is
dead after 3 s without a heartbeat (heartbeat 1 s).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from connectors.cloze.emulator import DEFAULT_API_KEY, ClozeEmulator
from connectors.cloze.emulator.stats import CallRecord

REPO = Path(__file__).resolve().parents[2]
_serial = itertools.count()

LEASE_TTL = 6.0
ENV = {"SYNCD_TEST_CLOZE_KEY": DEFAULT_API_KEY, "SYNCD_TEST_WEBHOOK_SECRET": "fleet-test-webhook-secret-0123"}


@dataclass
class Worker:
    """One ``syncd worker`` subprocess; its JSON log lines in a file."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def logs(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.out.read_text(errors="replace").splitlines():
            line = re.sub(r"^<\d>", "", line)
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return entries

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.logs() if e.get("event") == name]

    def wait_event(self, name: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None
            for e in self.events(name):
                if all(e.get(k) == v for k, v in fields.items()):
                    return e
            if exited or time.monotonic() > deadline:
                raise AssertionError(f"no {name} {fields} (exit {self.proc.returncode}):\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return (self.out.read_text(errors="replace")[-6000:] + "\n--- stderr ---\n"
                + self.err.read_text(errors="replace")[-4000:])

    stopped: bool = False  # told to stop or killed by the test

    def signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
            self.stopped = True
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)


class Fleet:
    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.emulators: dict[str, ClozeEmulator] = {}
        self.workers: list[Worker] = []
        self.config = tmp / "config.toml"

    # -- the world -------------------------------------------------------------------

    def add_pairs(self, count: int, *, seed_people: int = 0, prefix: str = "p", **emulator: Any) -> list[str]:
        names = []
        for i in range(count):
            name = f"{prefix}{len(self.emulators):04d}"
            emu = ClozeEmulator(seed=i, **emulator).start()
            if seed_people:
                emu.seed(seed_people, seed=i)
            self.emulators[name] = emu
            names.append(name)
        return names

    def external_path(self, pair: str) -> Path:
        return self.tmp / f"external-{pair}.json"

    def write_config(self, *, interval: float = 3600.0, jitter: float = 0.0, concurrency: int = 4, webhooks: bool = False,
                     port: int = 0, reconcile_cron: str = "", extra: str = "") -> Path:
        lines = [
            "[state]", f'url = "{self.db_url}"', f"lease_ttl = {LEASE_TTL}", "lock_timeout = 10", "",
            "[logging]", 'level = "info"', 'format = "json"', "",
            "[daemon]", 'shutdown_timeout = "30s"', "",
            "[daemon.http]", 'address = "127.0.0.1"', f"port = {port}", "",
            "[daemon.webhooks]", f"enabled = {'true' if webhooks else 'false'}",
            f'public_url = "http://127.0.0.1:{port or 9}"', 'secret = "env:SYNCD_TEST_WEBHOOK_SECRET"', "",
            "[fleet]", f"concurrency = {concurrency}", 'tick = "1s"', 'reap = "1s"', 'heartbeat = "1s"',
            'stall_after = "3s"', 'poll = "0.5s"', 'webhook_debounce = "0.2s"', extra, "",
        ]
        for name, emu in self.emulators.items():
            lines += [
                f"[pairs.{name}]", 'app_id = "crm.example.com"', 'app_name = "Example CRM"', "",
                f"[pairs.{name}.schedule]", f'interval = "{interval}s"', f'jitter = "{jitter}s"',
                f'reconcile_cron = "{reconcile_cron}"', "",
                f"[pairs.{name}.cloze]", 'api_key = "env:SYNCD_TEST_CLOZE_KEY"', f'base_url = "{emu.url}"',
                "rate_per_second = 1000", "retry_max_total = 20", "",
                f"[pairs.{name}.external]", 'connector = "memory"', f'backend = "ext-{name}"',
                f'path = "{self.external_path(name)}"', "",
            ]
        self.config.write_text("\n".join(lines))
        return self.config

    # -- workers ---------------------------------------------------------------------

    def start_worker(self, env: dict[str, str] | None = None) -> Worker:
        n = next(_serial)
        out, err = self.tmp / f"worker-{n}.out", self.tmp / f"worker-{n}.err"
        full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        full_env.update({"PYTHONPATH": str(REPO), **ENV, **(env or {})})
        proc = subprocess.Popen([sys.executable, "-m", "syncd.cli", "worker", "--config", str(self.config)],
                                cwd=self.tmp, env=full_env, stdout=out.open("wb"), stderr=err.open("wb"),
                                stdin=subprocess.DEVNULL)
        worker = Worker(proc, out, err)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                try:
                    os.kill(w.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                w.proc.kill()
                w.proc.wait(timeout=10)
        for emu in self.emulators.values():
            emu.stop()

    # -- the database ----------------------------------------------------------------

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(query, args)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def runs(self, pair: str | None = None) -> list[dict[str, Any]]:
        rows = self.sql("SELECT id, pair, mode, started_at, finished_at, status FROM runs ORDER BY started_at")
        out = [dict(zip(("id", "pair", "mode", "started_at", "finished_at", "status"), r)) for r in rows]
        return [r for r in out if pair is None or r["pair"] == pair]

    def lease(self, pair: str) -> tuple[str, int] | None:
        rows = self.sql("SELECT owner, epoch FROM leases WHERE pair = %s", pair)
        return (str(rows[0][0]), int(rows[0][1])) if rows and rows[0][0] else None

    def wait_until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll ``check`` until it is true; fails at ``timeout`` or when a worker exits that was not told to."""
        deadline = time.monotonic() + timeout
        while True:
            died = [w for w in self.workers if w.proc.poll() is not None and not w.stopped]
            if died:
                raise AssertionError(f"{what}: a worker exited ({died[0].proc.returncode}):\n{died[0].output()}")
            try:
                got = check()
            except psycopg.errors.UndefinedTable:
                got = None  # the first worker has not created the schema yet
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s\n" + "\n".join(w.output() for w in self.workers))
            time.sleep(0.1)

    # -- the emulators' request logs --------------------------------------------------

    def calls(self, pair: str) -> list[CallRecord]:
        return self.emulators[pair].stats.call_log()


def overlapping_runs(calls: Iterable[CallRecord]) -> list[tuple[str, str]]:
    """Pairs of run ids whose requests interleave in one account's request log (must be none)."""
    spans: dict[str, tuple[float, float]] = {}
    for c in calls:
        if c.run is None:
            continue
        lo, hi = spans.get(c.run, (c.started, c.finished))
        spans[c.run] = (min(lo, c.started), max(hi, c.finished))
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    return [(a, b) for (a, (_, a_end)), (b, (b_start, _)) in itertools.pairwise(ordered) if b_start < a_end]


def jain(values: Iterable[float]) -> float:
    xs = list(values)
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)) if xs and any(xs) else 0.0
