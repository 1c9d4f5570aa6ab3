"""``[pairs.NAME.activities]``: validated like every other table, with the kinds' defaults from their declaration."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from config.loader import load_config
from config.models import ActivitiesConfig
from connectors.activity import ACTIVITY_KINDS, DEFAULT_KINDS, ActivityKind
from connectors.errors import ConfigError
from syncd.engine.activities import options_of
from syncd.sandbox import write_config


def config_with(tmp_path: Path, table: str) -> Path:
    path = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    with path.open("a") as out:
        out.write("\n[pairs.sandbox.activities]\n" + table + "\n")
    return path


def test_the_table_absent_means_off_and_present_means_notes_tasks_and_calls(tmp_path: Path) -> None:
    bare = write_config(tmp_path / "a", "http://127.0.0.1:9", "http://127.0.0.1:9")
    assert load_config(bare, resolve_secrets=False).pair("sandbox").activities is None
    acfg = load_config(config_with(tmp_path / "b", ""), resolve_secrets=False).pair("sandbox").activities
    assert acfg is not None and acfg.enabled and acfg.kinds == ["note", "task", "call"]
    assert (acfg.call_as, acfg.meeting_as, acfg.email_body, acfg.on_delete, acfg.backfill_days) == (
        "content", "event", "none", "ignore", 90)


def test_kinds_are_those_of_the_declaration() -> None:
    assert set(get_args(ActivityKind)) == set(ACTIVITY_KINDS)
    assert DEFAULT_KINDS == ("note", "task", "call")
    assert ActivitiesConfig().kinds == list(DEFAULT_KINDS)


@pytest.mark.parametrize(("table", "named"), [
    ('kinds = ["note", "sms"]', "pairs.sandbox.activities.kinds"),
    ('kinds = ["note", "note"]', "each kind may be listed once"),
    ('call_as = "todo"', "pairs.sandbox.activities.call_as"),
    ("backfill_days = -1", "pairs.sandbox.activities.backfill_days"),
    ('ref_wait = "soon"', "pairs.sandbox.activities.ref_wait"),
    ("email_bodies = true", "email_bodies"),
])
def test_mistakes_are_named(tmp_path: Path, table: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(config_with(tmp_path, table), resolve_secrets=False)
    assert named in str(err.value)


def test_options_follow_the_table(tmp_path: Path) -> None:
    path = config_with(tmp_path, 'kinds = ["call", "meeting"]\ncall_as = "communication"\nref_wait = "2h"\n'
                                 'meeting_as = "communication"')
    pair = load_config(path, resolve_secrets=False).pair("sandbox")
    assert pair.activities is not None
    opts = options_of(pair, pair.activities)
    assert opts.kinds == {"call", "meeting"} and opts.ref_wait_ms == 7_200_000
    assert (opts.target("call"), opts.target("meeting"), opts.target("note")) == (
        "communication", "communication", "content_note")
    assert opts.app_id == "hubspot.com"
