"""What a worker keeps between runs (no database needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from syncd.fleet import tasks

PAIR = """
[pairs.{name}]
app_id = "crm.example.com"
app_name = "Example CRM"
[pairs.{name}.cloze]
api_key = "key-{name}"
base_url = "http://127.0.0.1:9/{name}"
[pairs.{name}.external]
connector = "memory"
backend = "ext-{name}"
"""


def _config(tmp_path: Path, names: list[str]) -> Any:
    path = tmp_path / f"config-{len(names)}.toml"
    path.write_text('[state]\nurl = "postgresql://syncd@127.0.0.1:9/syncd"\n' + "".join(PAIR.format(name=n) for n in names))
    return load_config(path)


def test_account_keys_are_worked_out_once_per_config_not_at_every_tick(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tick asks for every pair's account keys each period; hashing every pair's settings each
    time was a tenth of a worker's CPU at 200 pairs and grew with the fleet."""
    calls: list[str] = []
    real = tasks.account_keys
    monkeypatch.setattr(tasks, "account_keys", lambda loaded, pair: calls.append(pair) or real(loaded, pair))
    rt = tasks.Runtime(_config(tmp_path, ["a", "b"]), store=None, app=None, metrics=None)  # type: ignore[arg-type]
    first = rt.accounts
    for _ in range(5):
        assert rt.accounts == first
    assert sorted(calls) == ["a", "b"]
    assert set(first) == {"a", "b"} and all(len(keys) == 2 for keys in first.values())
    rt.loaded = _config(tmp_path, ["a", "b", "c"])  # a reload (SIGHUP) brings a new config
    assert set(rt.accounts) == {"a", "b", "c"}
    assert sorted(calls) == ["a", "a", "b", "b", "c"]
