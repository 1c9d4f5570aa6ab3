"""The sandbox pair on emulators with their rate limits off, unpacked as ``(cloze, hubspot, config)``.

The connectors pace themselves for the real services' documented limits (HubSpot's search: 4 to 5
requests a second). Against emulators that enforce no limit, that pacing is only waiting: a test
that reads four kinds of activity three times would spend most of its time asleep. The world is
:func:`tests.fault.world.open_world`'s, whose config paces and backs off for loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from tests.fault.world import open_world


@contextmanager
def unpaced_sandbox(directory: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    """Both emulators, without rate limits, and the sandbox config for them in ``directory``."""
    with open_world(directory) as world:
        yield world.cloze, world.hubspot, world.config
