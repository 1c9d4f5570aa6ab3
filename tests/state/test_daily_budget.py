"""The API usage ledger from a real run: ``syncd reconcile`` against the HubSpot emulator with a daily
limit records every call it made and what HubSpot's ``X-HubSpot-RateLimit-Daily*`` headers said;
once 90 % of the day is used, ``account_available`` defers the account and says why."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.budget import account_available, usage_day
from state.store import StateStore
from syncd.sandbox import CLOZE_KEY, HUBSPOT_TOKEN, set_keys, write_config

PEOPLE = 25


def _reconcile(tmp: Path, daily_limit: int | None) -> tuple[int, Path]:
    """One initial reconcile of the same seed; the HubSpot requests it made, and its state file."""
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, daily_limit=daily_limit) as hubspot:
        config = write_config(tmp, cloze.url, hubspot.url)
        config.write_text(set_keys(config.read_text(), "pairs.sandbox.external", {"batch_size": 5}))
        for i in range(PEOPLE):
            cloze.add_record("person", {"first": f"Ann{i}", "last": "Lee", "name": f"Ann{i} Lee",
                                        "emails": [{"value": f"ann{i}@acme.example"}]})
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        done = subprocess.run([sys.executable, "-m", "syncd.cli", "reconcile", "--config", str(config)],
                              capture_output=True, text=True, env=env, timeout=180, check=False)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        assert hubspot.stats.daily_limited == 0
        return hubspot.stats.requests, tmp / "state.db"


def test_a_run_fills_the_ledger_from_hubspot_and_an_account_at_90_percent_is_deferred(tmp_path: Path) -> None:
    calls, _ = _reconcile(tmp_path / "measure", None)  # how many calls this run makes
    budget = math.floor(calls / 0.9)  # the real run then uses at least 90 % of its day, and no more than all
    assert calls >= 10 and 0.9 <= calls / budget < 1
    served, state = _reconcile(tmp_path / "real", budget)
    assert served == calls
    store = StateStore.open(state, readonly=True)
    try:
        [key] = [row["account_key"] for row in store.export()["api_usage"] if row["account_key"].startswith("hubspot")]
        row = store.usage(key, usage_day())
        assert row is not None
        assert (row.calls, row.daily_limit, row.last_remaining) == (calls, budget, budget - calls)
        verdict = account_available(store, key)
        assert not verdict.available
        assert verdict.reason == (f"account {key} has used {calls:,} of its {budget:,} calls for {usage_day()} "
                                  f"({calls / budget:.0%}, at least 90%): deferred until the day's budget resets")
        assert HUBSPOT_TOKEN not in key
    finally:
        store.close()
