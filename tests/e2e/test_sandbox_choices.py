"""``syncd sandbox`` converges with the Cloze emulator at its documented defaults and with each choice flipped.

The emulator's defaults follow Cloze's documentation; every behaviour beyond it is
an opt-in setting (``connectors/cloze/EMULATOR_CHOICES.md``). The sync must not
depend on either answer: for the defaults and for every choice flipped on its own,
the sandbox's three runs (reconcile, incremental sync after edits, reconcile) end
with zero record errors and a last run that writes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from connectors.cloze.emulator.settings import BehaviourSettings
from connectors.entities import ENTITY_KINDS
from state.store import StateStore

SYNCD = [sys.executable, "-m", "syncd.cli"]


def flipped_choices() -> list[tuple[str, Any]]:
    """Every behaviour choice of the emulator set to each value other than its default."""
    hints = get_type_hints(BehaviourSettings)
    defaults = BehaviourSettings()
    out: list[tuple[str, Any]] = []
    for f in fields(BehaviourSettings):
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            out.append((f.name, not default))
        elif get_origin(hints[f.name]) is Literal:
            out.extend((f.name, value) for value in get_args(hints[f.name]) if value != default)
    return out


def test_the_documented_conveniences_are_opt_in() -> None:
    behaviour = BehaviourSettings()
    assert behaviour.app_link_get == "projects"
    assert behaviour.direct_id_forms == "documented"
    assert behaviour.empty_enum_as_none is False
    assert behaviour.project_pending_stage is False
    assert behaviour.project_segment_keys == "dashed"
    names = {name for name, _ in flipped_choices()}
    assert {"app_link_get", "direct_id_forms", "empty_enum_as_none", "project_pending_stage",
            "project_segment_keys"} <= names


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run([*SYNCD, *args], check=False, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


@pytest.mark.parametrize(
    "setting", [None, *flipped_choices()], ids=lambda s: "defaults" if s is None else f"{s[0]}={s[1]}"
)
def test_sandbox_converges_with_zero_record_errors(setting: tuple[str, Any] | None, tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    extra = [] if setting is None else ["--cloze-setting", f"{setting[0]}={json.dumps(setting[1])}"]
    proc = run("sandbox", "--dir", str(directory), "--people", "20", "--seed", "3", *extra, cwd=tmp_path)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    store = StateStore.open(directory / "state.db")
    try:
        errors = [e for entity in ENTITY_KINDS for e in store.open_errors("sandbox", entity)]
        links = [link for entity in ENTITY_KINDS for link in store.links("sandbox", entity)]
    finally:
        store.close()
    assert errors == [], errors
    assert links, "the sandbox linked nothing"
