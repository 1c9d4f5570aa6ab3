"""A stateful emulator of the Cloze REST API, served on 127.0.0.1.

Product code: the sandbox runs it, and the tests run the client and the
connector against it over real HTTP. See ``ClozeEmulator`` for the Python API,
``serve_forever`` / ``python -m connectors.cloze.emulator`` for the command line,
and ``connectors/cloze/EMULATOR_CHOICES.md`` for every behaviour the Cloze
documentation leaves open and what the emulator does there.
"""

from connectors.cloze.emulator.app import DEFAULT_API_KEY, DEFAULT_USER, ClozeEmulator, entity_of
from connectors.cloze.emulator.cli import main, serve_forever
from connectors.cloze.emulator.settings import BehaviourSettings, FaultSettings

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_USER",
    "BehaviourSettings",
    "ClozeEmulator",
    "FaultSettings",
    "entity_of",
    "main",
    "serve_forever",
]
