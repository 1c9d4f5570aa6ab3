"""A world for the end-to-end suites: both emulators on loopback and the sandbox pair config tuned for tests.

The fault, crash, bad-input and security suites all run ``syncd`` against the
Cloze and HubSpot emulators over real HTTP. :func:`open_world` starts both
emulators (HubSpot's account limits off unless asked for) and writes the pair
config with fast pacing, short backoff and the given overrides; :class:`World`
runs ``syncd`` as a subprocess or in-process and reads the state database.
Seeding is in :mod:`tests.fault.seeding`, the promises in :mod:`tests.fault.checks`,
edits between runs in :mod:`tests.fault.edits`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import HUBSPOT_TOKEN, tune_config, write_config
from syncd.sandbox_files import CLOZE_KEY

PAIR = "sandbox"
APP_ID = "hubspot.com"
CLOZE_USER = "sandbox@example.com"
SYNCD = [sys.executable, "-m", "syncd.cli"]
REPO = Path(__file__).resolve().parents[2]
ENTITY_TYPES: Mapping[str, str] = {"person": "contacts", "company": "companies", "project": "deals"}

# Pacing and backoff for tests: the emulators run on loopback, so only the faults should slow a run down.
FAST_CLOZE: Mapping[str, Any] = {
    "rate_per_second": 1000, "retry_initial_wait": 0.02, "retry_max_total": 60, "timeout": 10,
}
# The emulator's search has no indexing lag, so the change feed's look-back can be short (the default
# 30 s would re-read every record a test touched).
FAST_HUBSPOT: Mapping[str, Any] = {"requests_per_10s": 100000, "search_per_second": 1000, "timeout": 10,
                                   "retry_initial_wait": 0.02, "retry_max_total": 60, "change_overlap_seconds": 1.0}
NO_LIMITS: Mapping[str, Any] = {"rate_limit_per_10s": None, "search_rate_per_second": None, "daily_limit": None}


# -- the world ---------------------------------------------------------------------


@dataclass
class World:
    cloze: ClozeEmulator
    hubspot: HubSpotEmulator
    directory: Path
    config: Path

    @property
    def state_path(self) -> Path:
        return self.directory / "state.db"

    def writes(self) -> tuple[int, int]:
        """Write requests received so far: (Cloze create/update/delete calls, HubSpot records written)."""
        return self.cloze.writes, self.hubspot.stats.writes

    def clear_faults(self) -> None:
        self.cloze.reset_faults()
        self.hubspot.set_faults(latency=0.0, error_rate=0.0, slow_rate=0.0, drop_rate=0.0, malformed_rate=0.0,
                                script=[])

    def syncd(self, *args: str, check: int | None = None, timeout: float = 240,
              env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``syncd ARGS --config CONFIG`` as a subprocess (the way a user or a timer runs it)."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        full_env["PYTHONPATH"] = str(REPO)
        full_env.update(env or {})
        proc = subprocess.run([*SYNCD, *args, "--config", str(self.config)], capture_output=True, text=True,
                              timeout=timeout, env=full_env, cwd=self.directory, check=False)
        if check is not None:
            assert proc.returncode == check, describe(proc)
        return proc

    def run(self, mode: str = "full") -> RunReport:
        """One run in this process (quicker than a subprocess where only the outcome matters)."""
        loaded = load_config(self.config)
        store = StateStore.open(loaded.state_path)
        try:
            return sync_pair(loaded, PAIR, store=store, mode=mode)  # type: ignore[arg-type]
        finally:
            store.close()

    def export(self) -> dict[str, Any]:
        store = StateStore.open(self.state_path, readonly=True)
        try:
            return store.export()
        finally:
            store.close()

    def open_errors(self) -> list[dict[str, Any]]:
        return [e for e in self.export().get("record_errors", []) if not e["resolved"]]

    def cloze_http(self) -> httpx.Client:
        """A plain HTTP client on the Cloze API, for edits a user would make."""
        return httpx.Client(base_url=self.cloze.url, params={"api_key": CLOZE_KEY, "user": CLOZE_USER}, timeout=30)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"


@contextmanager
def open_world(
    directory: Path,
    *,
    cloze_emulator: Mapping[str, Any] | None = None,
    hubspot_emulator: Mapping[str, Any] | None = None,
    cloze: Mapping[str, Any] | None = None,
    external: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[World]:
    """Both emulators running and a tuned config in ``directory``.

    ``cloze_emulator`` / ``hubspot_emulator`` are emulator settings (faults, limits);
    ``cloze`` / ``external`` override connector settings; ``config`` sets keys in
    other tables (``{"logging": {"level": "debug"}}``).
    """
    hub_settings = {**NO_LIMITS, **(hubspot_emulator or {})}
    with ClozeEmulator(api_key=CLOZE_KEY, user=CLOZE_USER, **(cloze_emulator or {})) as c, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, **hub_settings) as h:
        path = write_config(directory, c.url, h.url)
        tables: dict[str, Mapping[str, Any]] = {
            f"pairs.{PAIR}.cloze": {**FAST_CLOZE, **(cloze or {})},
            f"pairs.{PAIR}.external": {**FAST_HUBSPOT, **(external or {})},
        }
        tables.update(config or {})
        tune_config(path, tables)
        yield World(c, h, directory, path)
