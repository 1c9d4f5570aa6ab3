"""The demo data set is deterministic, loads into the emulator, and the emulator runs as a program."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from connectors.hubspot import HubSpotSettings
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.seed import build_dataset, load_into
from connectors.registry import load

ROOT = Path(__file__).resolve().parents[2]


def test_dataset_is_deterministic_and_realistic() -> None:
    one, two = build_dataset(3), build_dataset(3)
    assert one == two and build_dataset(4) != one
    assert (len(one.companies), len(one.contacts), len(one.deals)) == (12, 40, 15)
    emails = [c.properties["email"] for c in one.contacts]
    assert len(set(emails)) == len(emails)
    hs = HubSpotEmulator()
    ids = load_into(hs, one)
    assert len(ids) == 67 and len(hs.objects("deals")) == 15
    deal = hs.get_object("deals", ids["deal-01"])
    assert deal is not None and deal["associations"]["companies"] == [ids["company-01"]]


def test_settings_validation() -> None:
    settings = HubSpotSettings(token="secret-token", base_url="http://localhost:1/")
    assert settings.base_url == "http://localhost:1" and settings.api_version == "2026-03"
    assert "secret-token" not in repr(settings) and not settings.webhooks_available
    for bad in ({"api_version": "v4"}, {"search_page_size": 201}, {"identity_property": "Bad Name"},
                {"base_url": "ftp://x"}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            HubSpotSettings(token="t", **bad)


def test_registered_entry_point() -> None:
    assert load("hubspot").name == "hubspot"


def test_module_entry_serves_until_stopped() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.hubspot.emulator", "--port", "0", "--token", "cli-token", "--seed"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[3]
        assert httpx.get(f"{url}/_emulator/health", timeout=5).json() == {"ok": True}
        reply = httpx.get(f"{url}/crm/v3/objects/companies", headers={"Authorization": "Bearer cli-token"}, timeout=5)
        assert reply.status_code == 200 and len(reply.json()["results"]) == 10
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
