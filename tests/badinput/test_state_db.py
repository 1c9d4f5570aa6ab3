"""A damaged or foreign state database: every command says so in one line with a hint, exits non-zero,
writes nothing to either side, and prints no traceback; the hint (move it away, ``state rebuild``) works.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncd.sandbox import set_keys
from tests.badinput.procs import syncd_many
from tests.fault.seeding import populate
from tests.fault.world import World, open_world

ALL_COMMANDS = (["reconcile"], ["status"], ["state", "check"], ["state", "export"])
SOME_COMMANDS = (["reconcile"], ["state", "check"])  # the others open the file the same way


def _truncate_half(path: Path, good: bytes) -> None:
    path.write_bytes(good[: len(good) // 2])


def _truncate_header(path: Path, good: bytes) -> None:
    path.write_bytes(good[:100])


def _garbage(path: Path, good: bytes) -> None:
    path.write_bytes(os.urandom(len(good)))


def _foreign(path: Path, good: bytes) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()


def _newer_schema(path: Path, good: bytes) -> None:
    path.write_bytes(good)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def _meta_version(value: str | None) -> Callable[[Path, bytes], None]:
    def damage(path: Path, good: bytes) -> None:
        path.write_bytes(good)
        conn = sqlite3.connect(path)
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = 'schema_version'")
        else:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
        conn.commit()
        conn.close()
    return damage


def commands(name: str) -> tuple[list[str], ...]:
    return ALL_COMMANDS if name in ("truncated-half", "meta-version-missing", "meta-version-not-a-number") \
        else SOME_COMMANDS


DAMAGE: dict[str, tuple[Callable[[Path, bytes], None], str]] = {
    "truncated-half": (_truncate_half, "cannot be read"),
    "truncated-to-header": (_truncate_header, "cannot be read"),
    "random-bytes": (_garbage, "cannot be read"),
    "another-programs-database": (_foreign, "is not a cloze-syncd state database; point [state] path at a new file"),
    "newer-schema": (_newer_schema, "newer than this cloze-syncd understands"),
    "meta-version-missing": (_meta_version(None), "is damaged: its meta table has no schema_version"),
    "meta-version-not-a-number": (_meta_version("two"), "is damaged: its schema_version 'two' is not a version"),
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, bytes]]:
    """A pair synced once, and its state database as the run left it (checkpointed, no WAL)."""
    with open_world(tmp_path_factory.mktemp("statedb")) as world:
        populate(world, seed=8, cloze_people=15, hub_people=15, overlap=3, companies=2, deals=2)
        world.syncd("reconcile", check=0)
        yield world, world.state_path.read_bytes()


@pytest.fixture(scope="module")
def damaged(synced: tuple[World, bytes]) -> dict[str, list[tuple[int, str]]]:
    """Every command against every damaged copy (each copy has its own config), run side by side."""
    world, good = synced
    todo: list[tuple[str, list[str]]] = []
    for name, (damage, _) in DAMAGE.items():
        directory = world.directory / name
        directory.mkdir()
        state = directory / "state.db"
        damage(state, good)
        config = directory / "config.toml"
        config.write_text(set_keys(world.config.read_text(), "state", {"path": str(state)}))
        config.chmod(0o600)
        todo += [(name, [*cmd, "--config", str(config)]) for cmd in commands(name)]
    before = world.writes()
    results = syncd_many([args for _, args in todo], cwd=world.directory)
    assert world.writes() == before, "a command wrote to a side although the state database is unusable"
    out: dict[str, list[tuple[int, str]]] = {}
    for (name, _), proc in zip(todo, results):
        out.setdefault(name, []).append((proc.returncode, proc.stderr + proc.stdout))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DAMAGE))
def test_every_command_refuses_a_damaged_state_database_clearly(
    damaged: dict[str, list[tuple[int, str]]], name: str
) -> None:
    expected = DAMAGE[name][1]
    for cmd, (code, text) in zip(commands(name), damaged[name]):
        where = f"{name}: syncd {' '.join(cmd)} (exit {code})\n{text[-2000:]}"
        assert code not in (0, 3), where
        assert "Traceback" not in text, where
        assert expected in text, where
        assert len([line for line in text.splitlines() if line.strip()]) <= 3, where


def test_moving_a_truncated_database_away_and_rebuilding_recovers_without_writes(
    synced: tuple[World, bytes]
) -> None:
    world, good = synced
    _truncate_half(world.state_path, good)
    proc = world.syncd("reconcile")
    assert proc.returncode == 1 and "state rebuild" in proc.stderr + proc.stdout, proc.stderr
    shutil.move(world.state_path, world.directory / "state.db.broken")
    before = world.writes()
    rebuilt = world.syncd("state", "rebuild", check=0)
    assert "links rebuilt" in rebuilt.stdout
    report = world.run("full")
    assert report.exit_code() == 0 and report.total_writes == 0, report.as_dict()
    assert world.writes() == before
