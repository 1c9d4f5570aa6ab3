"""The shipped example config pointed at the emulators with their default seeds (shared by these tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.cloze.emulator import ClozeEmulator
from connectors.cloze.seed import seed_emulator
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.seed import build_dataset, load_into
from syncd.sandbox import HUBSPOT_TOKEN, tune_config
from syncd.sandbox_files import CLOZE_KEY

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
NO_KEYS = {k: v for k, v in os.environ.items() if not k.startswith("EXAMPLE_")}
KEYS = {**NO_KEYS, "EXAMPLE_CLOZE_KEY": CLOZE_KEY, "EXAMPLE_HUBSPOT_TOKEN": HUBSPOT_TOKEN}


@contextmanager
def example_world(tmp_path: Path, people: int, *, text: str | None = None,
                  tables: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[tuple[ClozeEmulator, Path]]:
    """Both emulators seeded, and the example config (or ``text``) in ``tmp_path`` pointed at them."""
    with ClozeEmulator(api_key=CLOZE_KEY, user="ops@example.com", seed=7) as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        seed_emulator(cloze, people, 7)
        load_into(hubspot, build_dataset(7, companies=16, contacts=max(5, people // 3), deals=people // 10))
        config = tmp_path / "config.toml"
        config.write_text(text if text is not None else EXAMPLE.read_text())
        # Only what differs between this machine and a real account: where the two APIs are, and
        # the Cloze request pace (a real account's limit; the emulator has none).
        tune_config(config, {
            "state": {"path": str(tmp_path / "state.db")},
            "daemon.http": {"enabled": False},
            "pairs.main.cloze": {"base_url": cloze.url, "api_key": "env:EXAMPLE_CLOZE_KEY", "rate_per_second": 200},
            "pairs.main.external": {"base_url": hubspot.url, "token": "env:EXAMPLE_HUBSPOT_TOKEN"},
            **(tables or {}),
        })
        yield cloze, config
