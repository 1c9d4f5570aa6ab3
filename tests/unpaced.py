"""The sandbox pair on emulators with their rate limits off, and a config that does not pace for them.

The connectors pace themselves for the real services' documented limits (HubSpot's search: 4 to 5
requests a second). Against emulators that enforce no limit, that pacing is only waiting: a test
that reads four kinds of activity three times would spend most of its time asleep.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from syncd.sandbox import HUBSPOT_TOKEN, tune_config, write_config
from syncd.sandbox_files import CLOZE_KEY

# HubSpot connector settings for an emulator that limits nothing: no pacing, short backoffs.
UNPACED_HUBSPOT: Mapping[str, Any] = {"requests_per_10s": 100000, "search_per_second": 1000,
                                      "retry_initial_wait": 0.02, "retry_max_total": 60}


@contextmanager
def unpaced_sandbox(directory: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    """Both emulators, without rate limits, and the sandbox config for them in ``directory``."""
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        config = write_config(directory, cloze.url, hubspot.url)
        tune_config(config, {"pairs.sandbox.external": UNPACED_HUBSPOT})
        yield cloze, hubspot, config
