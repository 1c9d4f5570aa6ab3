"""``syncd --help`` starts quickly: the CLI module imports neither the emulators nor the engine."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("connectors", "state", "config", "sqlalchemy", "sqlmodel", "pydantic", "httpx", "syncd.engine",
         "syncd.sandbox")
# The bottom layer's errors and scrubber import the standard library only: the CLI needs them at once.
FLOOR = ("connectors", "connectors.errors", "connectors.scrub")

PROBE = """
import json, sys
from syncd.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after_help() -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert "sandbox" in done.stdout and "reconcile" in done.stdout
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def test_help_imports_no_emulator_engine_or_state_module() -> None:
    loaded = _modules_after_help()
    assert not [m for m in loaded if "emulator" in m]
    assert not [m for m in loaded if (m.split(".")[0] in HEAVY or m.startswith(HEAVY)) and m not in FLOOR]


def test_help_lists_every_command_with_its_summary() -> None:
    done = subprocess.run([sys.executable, "-m", "syncd.cli", "--help"], capture_output=True, text=True, timeout=60,
                          check=True)
    for name in ("reconcile", "sync", "run", "status", "conflicts", "config", "sandbox", "webhooks", "state"):
        assert f"  {name} " in done.stdout
    assert "Run a reconcile against local Cloze and HubSpot (or Salesforce)" in done.stdout


def test_lazy_summaries_match_the_commands() -> None:
    import click

    from syncd.cli import LAZY_COMMANDS, main

    ctx = click.Context(main)
    for name, (_, summary) in LAZY_COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.get_short_help_str(limit=200) == summary
