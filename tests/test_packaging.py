"""The installed package: its import names, its command, its connector registrations."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import packages_distributions

import pytest

from connectors import registry
from connectors.base import Connector


@pytest.mark.parametrize("name", ["syncd", "connectors", "state", "config"])
def test_top_level_import_names_belong_to_us_alone(name: str) -> None:
    # Generic names like "config" and "state" must not be shipped by anything else in the environment.
    assert set(packages_distributions().get(name, [])) == {"cloze-syncd"}


def test_every_builtin_connector_loads_through_its_entry_point() -> None:
    names = set(registry.available())
    assert {"cloze", "hubspot", "salesforce", "tryton", "memory"} <= names
    for name in ("cloze", "hubspot", "salesforce", "tryton", "memory"):
        cls = registry.load(name)
        assert issubclass(cls, Connector) and cls.name == name


def test_unknown_connector_is_a_config_error_naming_the_known_ones() -> None:
    from connectors.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        registry.load("pipedrive")
    assert "hubspot" in str(info.value)


def test_syncd_help_lists_the_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "syncd.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("reconcile", "sync", "run", "status", "conflicts", "state", "config", "webhooks", "sandbox"):
        assert command in out


def test_example_config_validates(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from config.loader import load_config

    creds = Path(str(tmp_path))
    (creds / "cloze_api_key").write_text("k" * 20)
    (creds / "hubspot_token").write_text("t" * 20)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    (creds / "webhook_secret").write_text("s" * 20)
    example = Path(__file__).resolve().parent.parent / "config" / "example.toml"
    loaded = load_config(example)
    assert list(loaded.app.pairs) == ["main"]
    assert loaded.secrets  # the credentials were resolved (and registered for scrubbing)
