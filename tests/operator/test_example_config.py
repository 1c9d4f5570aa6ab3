"""The shipped example config, pointed at the emulators with their default seeds, syncs without record errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.cloze.seed import seed_emulator
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.seed import build_dataset, load_into
from syncd.sandbox import HUBSPOT_TOKEN, tune_config
from syncd.sandbox_files import CLOZE_KEY

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
PEOPLE = 300


def _syncd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncd.cli", *args], capture_output=True, text=True, timeout=600, check=False,
                          env=env)


@pytest.fixture
def example_world(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="ops@example.com", seed=7) as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        seed_emulator(cloze, PEOPLE, 7)
        load_into(hubspot, build_dataset(7, companies=16, contacts=PEOPLE // 3, deals=PEOPLE // 10))
        config = tmp_path / "config.toml"
        config.write_text(EXAMPLE.read_text())
        # Only what differs between this machine and a real account: where the two APIs are, and
        # the Cloze request pace (a real account's limit; the emulator has none).
        tune_config(config, {
            "state": {"path": str(tmp_path / "state.db")},
            "daemon.http": {"enabled": False},
            "pairs.main.cloze": {"base_url": cloze.url, "api_key": "env:EXAMPLE_CLOZE_KEY", "rate_per_second": 200},
            "pairs.main.external": {"base_url": hubspot.url, "token": "env:EXAMPLE_HUBSPOT_TOKEN"},
        })
        env = {**os.environ, "EXAMPLE_CLOZE_KEY": CLOZE_KEY, "EXAMPLE_HUBSPOT_TOKEN": HUBSPOT_TOKEN}
        yield config, env


@pytest.mark.timeout(600)
def test_example_config_reconciles_with_zero_record_errors(example_world: tuple[Path, dict[str, str]]) -> None:
    config, env = example_world
    check = _syncd("config", "check", "--config", str(config), env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    done = _syncd("reconcile", "--json", "--config", str(config), env=env)
    reports = json.loads(done.stdout)
    assert [r["record_errors"] for r in reports] == [0], done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert sum(reports[0]["writes"].values()) > PEOPLE  # it really synced: people, companies and deals


def test_default_company_mapping_leaves_out_hubspots_fixed_industry_list() -> None:
    from config.models import EntityConfig
    from connectors.entities import ENTITY_KINDS
    from connectors.hubspot.mapping import Mapper
    from connectors.hubspot.settings import HubSpotSettings
    from syncd.core.mapping import build_entity_mapping

    cloze_fields = ENTITY_KINDS.fields("company")
    builtin = Mapper(HubSpotSettings(token="t"), {}).fields("company")
    mapping, problems = build_entity_mapping("company", EntityConfig(), cloze_fields, builtin)
    assert not problems and "industry" not in {r.name for r in mapping.rules} and "name" in {r.name for r in mapping.rules}
    # Pointed at a text property of one's own, industry syncs by default again.
    own = Mapper(HubSpotSettings(token="t", company_industry_property="cloze_industry"), {}).fields("company")
    mapping, _ = build_entity_mapping("company", EntityConfig(), cloze_fields, own)
    assert "industry" in {r.name for r in mapping.rules}
