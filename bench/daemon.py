"""Change-propagation delay in daemon mode (``syncd run``): by poll, and by Cloze webhook.

An edit is made on one side at a random moment; the delay is the time until
the other side holds the new value, read every 20 ms straight from the other
emulator's store.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.measure import REPO
from bench.world import CLOZE_USER, PAIR, World
from syncd.sandbox import tune_config
from syncd.sandbox_files import CLOZE_KEY

WEBHOOK_SECRET = "bench-webhook-secret-0123456789"


@dataclass
class Delays:
    mode: str
    direction: str
    samples_s: list[float]

    def as_dict(self) -> dict[str, Any]:
        s = sorted(self.samples_s)
        return {"mode": self.mode, "direction": self.direction, "samples": len(s),
                "median_s": round(statistics.median(s), 3) if s else None,
                "p90_s": round(s[max(0, int(len(s) * 0.9) - 1)], 3) if s else None,
                "max_s": round(max(s), 3) if s else None, "all_s": [round(x, 3) for x in s]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DaemonProcess:
    """``syncd run`` with JSON logs in a file."""

    def __init__(self, world: World, env: dict[str, str]) -> None:
        self.log = world.directory / "daemon.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "NOTIFY_SOCKET"))}
        full.update({"PYTHONPATH": str(REPO), **env})
        self._out = self.log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "syncd.cli", "run", "--config", str(world.config)],
                                     cwd=world.directory, env=full, stdout=self._out, stderr=subprocess.STDOUT)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def wait_for(self, event: str, count: int = 1, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for e in self.events() if e.get("event") == event) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon: no {event!r} (exit {self.proc.poll()}):\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


def _wait_until(check: Callable[[], bool], timeout: float) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            return float("nan")
        time.sleep(0.02)
    return time.perf_counter() - started


def _hub_has(world: World, hub_id: str, last: str) -> Callable[[], bool]:
    def check() -> bool:
        return bool((world.hubspot.get_object("contacts", hub_id) or {}).get("properties", {}).get("lastname") == last)

    return check


def _cloze_has(world: World, cloze_id: str, last: str) -> Callable[[], bool]:
    def check() -> bool:
        return bool((world.cloze.get_record("person", cloze_id) or {}).get("last") == last)

    return check


def _links(world: World) -> list[tuple[str, str]]:
    import sqlite3

    conn = sqlite3.connect(f"file:{world.state_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT cloze_id, external_id FROM links WHERE entity='person' AND status='active' "
                            "AND cloze_id IS NOT NULL AND external_id IS NOT NULL").fetchall()
    finally:
        conn.close()
    return [(str(c), str(e)) for c, e in rows]


def measure(world: World, mode: str, samples: int, interval_s: float, rng: random.Random) -> list[Delays]:
    """Start the daemon in ``mode`` ("poll" or "webhook"), make edits, and time their arrival."""
    env = {"SYNCD_BENCH_WEBHOOK_SECRET": WEBHOOK_SECRET}
    tables: dict[str, dict[str, Any]] = {
        "logging": {"level": "info", "format": "json"},
        f"pairs.{PAIR}.schedule": {"interval": f"{interval_s if mode == 'poll' else 3600}s", "jitter": 0,
                                   "reconcile_cron": ""},
    }
    if mode == "webhook":
        port = free_port()
        tables["daemon.http"] = {"port": port}
        tables["daemon.webhooks"] = {"enabled": True, "public_url": f"http://127.0.0.1:{port}",
                                     "secret": "env:SYNCD_BENCH_WEBHOOK_SECRET"}
    tune_config(world.config, tables)
    if mode == "webhook":
        subscribe = subprocess.run([sys.executable, "-m", "syncd.cli", "webhooks", "subscribe", "--config",
                                    str(world.config)], cwd=world.directory, capture_output=True, text=True, check=False,
                                   env={**os.environ, "PYTHONPATH": str(REPO), **env})
        if subscribe.returncode != 0:
            raise RuntimeError(f"webhooks subscribe failed: {subscribe.stderr[-2000:]}")
    daemon = DaemonProcess(world, env)
    try:
        daemon.wait_for("run_finished")  # the first poll, made at start
        links = _links(world)
        rng.shuffle(links)
        to_hub: list[float] = []
        to_cloze: list[float] = []
        with httpx.Client(base_url=world.cloze.url, params={"api_key": CLOZE_KEY, "user": CLOZE_USER}) as http:
            for n in range(samples):
                time.sleep(rng.uniform(0, interval_s if mode == "poll" else 1.0))
                cloze_id, hub_id = links[2 * n]
                value = f"Moved{mode}{n}"
                http.post("/v1/people/update", json={"direct": cloze_id, "last": value}).raise_for_status()
                to_hub.append(_wait_until(_hub_has(world, hub_id, value), 120))
                if mode == "poll":
                    time.sleep(rng.uniform(0, interval_s))
                    cloze_id, hub_id = links[2 * n + 1]
                    value = f"Back{n}"
                    world.hubspot.update_object("contacts", hub_id, {"lastname": value})
                    to_cloze.append(_wait_until(_cloze_has(world, cloze_id, value), 120))
    finally:
        daemon.stop()
    out = [Delays(mode, "cloze->hubspot", to_hub)]
    if to_cloze:
        out.append(Delays(mode, "hubspot->cloze", to_cloze))
    return out
