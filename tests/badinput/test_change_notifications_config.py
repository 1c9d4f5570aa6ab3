"""Config for change notifications: per side, checked against what each side's connector offers, with errors
that name the key to fix; the existing Cloze webhook keys keep working as they were."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from connectors.errors import ConfigError
from syncd.sandbox import tune_config, write_config
from syncd.webhooks import notification_sources

PAIR = "sandbox"


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tables: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    monkeypatch.setenv("SYNCD_TEST_WEBHOOK_SECRET", "shared-webhook-secret")
    monkeypatch.setenv("SYNCD_TEST_HUBSPOT_CLIENT_SECRET", "app-client-secret")
    path = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    hooks = {"daemon.webhooks": {"enabled": True, "public_url": "https://sync.example.com",
                                 "secret": "env:SYNCD_TEST_WEBHOOK_SECRET"}}
    tune_config(path, {**hooks, **(tables or {})})
    return path


def test_existing_cloze_webhook_keys_alone_give_the_cloze_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = notification_sources(load_config(_config(tmp_path, monkeypatch)))
    assert sorted(sources) == [f"/webhooks/cloze/{PAIR}"]
    assert sources[f"/webhooks/cloze/{PAIR}"].target_url().startswith(
        f"https://sync.example.com/webhooks/cloze/{PAIR}?token=")


def test_both_sides_and_neither(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, monkeypatch, {
        f"pairs.{PAIR}.change_notifications": {"external": True},
        f"pairs.{PAIR}.external": {"webhook_client_secret": "env:SYNCD_TEST_HUBSPOT_CLIENT_SECRET"},
    })
    loaded = load_config(path)
    assert sorted(notification_sources(loaded)) == [f"/webhooks/cloze/{PAIR}", f"/webhooks/external/{PAIR}"]
    assert "app-client-secret" in loaded.secrets  # scrubbed from logs like every connector secret
    tune_config(path, {f"pairs.{PAIR}.change_notifications": {"cloze": False, "external": False}})
    assert notification_sources(load_config(path)) == {}


def test_an_external_side_that_cannot_take_notices_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, monkeypatch, {f"pairs.{PAIR}.change_notifications": {"external": True}})
    with pytest.raises(ConfigError) as caught:
        notification_sources(load_config(path))
    (problem,) = caught.value.problems
    assert problem.startswith(f"pairs.{PAIR}.change_notifications.external: the hubspot connector cannot take")
    assert "webhook_client_secret" in problem


def test_typos_and_service_keys_are_refused_by_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, monkeypatch, {f"pairs.{PAIR}.change_notifications": {"extrenal": True}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("extrenal" in p for p in caught.value.problems)
    path = _config(tmp_path, monkeypatch, {f"pairs.{PAIR}.external": {
        "token_kind": "service_key", "webhook_client_secret": "env:SYNCD_TEST_HUBSPOT_CLIENT_SECRET"}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("Service Keys cannot receive webhooks" in p for p in caught.value.problems), caught.value.problems
