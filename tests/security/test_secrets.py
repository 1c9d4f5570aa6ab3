"""Secrets never appear in output, logs (debug level included), errors, the state database or its export:
in normal runs, under injected faults, with wrong credentials, and against a server that echoes the
request (query string and headers, so the key itself) back in its error messages."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from syncd.sandbox import HUBSPOT_TOKEN
from syncd.sandbox_files import CLOZE_KEY
from tests.fault.seeding import populate
from tests.fault.world import PAIR, World, open_world, tune_config
from tests.security.echo import EchoServer

DEBUG_JSON = {"logging": {"level": "debug", "format": "json"}}
WRONG_KEY, WRONG_TOKEN = "wrong-cloze-key-7c1d2e", "wrong-hubspot-token-9f8e7d"


def _leaks(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    found = []
    for text in texts:
        for secret in secrets:
            at = text.find(secret)
            if at >= 0:
                found.append(f"{secret!r} in: ...{text[max(0, at - 160): at + len(secret) + 20]}...")
    return found


def _state_bytes(world: World) -> list[str]:
    """The state database and its WAL/SHM files, as text (secrets would be stored as UTF-8)."""
    return [p.read_bytes().decode("latin-1") for p in world.directory.glob("state.db*")]


def _run_all(world: World, commands: list[list[str]]) -> list[str]:
    return [p.stdout + p.stderr for p in (world.syncd(*cmd) for cmd in commands)]


def test_no_secret_in_anything_a_run_leaves_normal_and_under_faults(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze={"timeout": 0.3, "retry_attempts": 2}, external={"timeout": 0.3},
                    config=DEBUG_JSON) as world:
        populate(world, seed=41, cloze_people=8, hub_people=8, overlap=2, companies=1, deals=1)
        world.cloze.set_faults(timeout_rate=0.15, drop_rate=0.15, malformed_rate=0.1, error_rate=0.1,
                               rate_limit_next=2, slow_reply_s=0.6, seed=4)
        world.hubspot.set_faults(slow_rate=0.1, drop_rate=0.1, malformed_rate=0.1, error_rate=0.1,
                                 slow_seconds=0.6, seed=4)
        texts = _run_all(world, [["reconcile"], ["sync"], ["reconcile", "--dry-run", "--json"]])
        world.clear_faults()
        texts += _run_all(world, [["reconcile"], ["status", "--json"], ["state", "export"], ["config", "show"],
                                  ["conflicts", "list", "--all", "--json"], ["state", "check"]])
        assert any('"event": "api_retry"' in t for t in texts), "the faults caused no logged retry"
        assert _leaks(texts + _state_bytes(world), [CLOZE_KEY, HUBSPOT_TOKEN]) == []


def test_no_secret_in_anything_when_the_credentials_are_wrong(tmp_path: Path) -> None:
    with open_world(tmp_path, config=DEBUG_JSON) as world:
        populate(world, seed=42, cloze_people=3, hub_people=3, overlap=0)
        (world.directory / "cloze_api_key").write_text(WRONG_KEY + "\n")
        texts = _run_all(world, [["reconcile"], ["sync"]])
        assert "Cloze refused the credentials" in texts[0]
        (world.directory / "cloze_api_key").write_text(CLOZE_KEY + "\n")
        (world.directory / "hubspot_token").write_text(WRONG_TOKEN + "\n")
        texts += _run_all(world, [["reconcile"], ["state", "export"]])
        assert "401" in texts[2]
        assert _leaks(texts + _state_bytes(world), [CLOZE_KEY, HUBSPOT_TOKEN, WRONG_KEY, WRONG_TOKEN]) == []


def test_no_secret_in_anything_when_the_server_echoes_the_request_back(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze={"retry_attempts": 2}, config=DEBUG_JSON) as world:
        texts: list[str] = []
        for status in (503, 400, 401):
            with EchoServer(status) as cloze_echo, EchoServer(status) as hub_echo:
                tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": cloze_echo.url},
                                           f"pairs.{PAIR}.external": {"base_url": hub_echo.url}})
                texts += _run_all(world, [["reconcile"]])
                assert cloze_echo.requests > 0
        # Cloze in bearer mode puts the key in a header instead of the query string.
        with EchoServer(503) as cloze_echo:
            tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": cloze_echo.url, "auth": "bearer"}})
            texts += _run_all(world, [["reconcile"]])
        assert all("cannot serve" in t for t in texts), "the echoed error never reached the output"
        assert any("api_key=***" in t for t in texts), "the echoed key was not shown as redacted"
        assert _leaks(texts + _state_bytes(world), [CLOZE_KEY, HUBSPOT_TOKEN]) == []
