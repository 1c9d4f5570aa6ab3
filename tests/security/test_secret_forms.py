"""Secrets in every encoding stay out of every sink: output, logs (tracebacks included, in both log
formats), error text, the state database and its export, ``config show``.

The keys here hold ``+``, ``/`` and ``=``, so their percent-encoded, JSON-escaped and base64 forms differ
from the raw ones; :mod:`tests.security.forms` lists the forms searched for.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import structlog

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from syncd.logs import configure_logging
from syncd.sandbox import tune_config, write_config
from tests.badinput.tamper import Canned, TamperProxy, nested
from tests.fault.seeding import populate
from tests.fault.world import FAST_CLOZE, FAST_HUBSPOT, NO_LIMITS, PAIR, REPO, SYNCD, World, describe
from tests.security.echo import EchoServer
from tests.security.forms import CLOZE_USER, TRICKY_CLOZE_KEY, TRICKY_HUBSPOT_TOKEN, leaks

SECRETS = (TRICKY_CLOZE_KEY, TRICKY_HUBSPOT_TOKEN)


@contextmanager
def tricky_world(directory: Path, config: dict[str, dict[str, Any]] | None = None) -> Iterator[World]:
    """Both emulators, accepting the tricky key and token, and a config that reads them from files."""
    with ClozeEmulator(api_key=TRICKY_CLOZE_KEY, user=CLOZE_USER) as cloze, \
            HubSpotEmulator(token=TRICKY_HUBSPOT_TOKEN, **NO_LIMITS) as hubspot:
        path = write_config(directory, cloze.url, hubspot.url)
        (directory / "cloze_api_key").write_text(TRICKY_CLOZE_KEY + "\n")
        (directory / "hubspot_token").write_text(TRICKY_HUBSPOT_TOKEN + "\n")
        tune_config(path, {f"pairs.{PAIR}.cloze": {**FAST_CLOZE, "retry_attempts": 2},
                           f"pairs.{PAIR}.external": dict(FAST_HUBSPOT),
                           "logging": {"level": "debug", "format": "json"}, **(config or {})})
        yield World(cloze, hubspot, directory, path)


def _state_texts(world: World) -> list[str]:
    return [p.read_bytes().decode("latin-1") for p in world.directory.glob("state.db*")]


def _outputs(*procs: subprocess.CompletedProcess[str]) -> list[str]:
    return [p.stdout + p.stderr for p in procs]


# -- logs and tracebacks -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_no_local_variables_and_no_secret(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info", fmt, SECRETS, to_stderr=True)
    log = structlog.get_logger("test")

    def crash(loaded_token: str) -> None:
        hidden_local = {"api_key": TRICKY_CLOZE_KEY, "token": loaded_token}  # noqa: F841 - a traceback must not print it
        raise RuntimeError(f"GET /v1/people/find?api_key={quote_plus(TRICKY_CLOZE_KEY)} failed")

    try:
        crash(TRICKY_HUBSPOT_TOKEN)
    except RuntimeError:
        log.exception("run crashed")
    text = stream.getvalue()
    assert "run crashed" in text and "RuntimeError" in text
    assert "locals" not in text and "loaded_token = '" not in text and '"loaded_token":' not in text, text
    assert leaks([text], SECRETS) == []


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_daemon_whose_run_crashes_on_nonsense_logs_no_secret(tmp_path: Path, fmt: str) -> None:
    with tricky_world(tmp_path, {"logging": {"level": "debug", "format": fmt}}) as world:
        populate(world, seed=71, cloze_people=3, hub_people=3, overlap=1)
        with TamperProxy(world.cloze.url, lambda m, p, b: nested(100_000) if p.endswith("/feed") else None) as proxy:
            tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": proxy.url}})
            out_path = tmp_path / "daemon.out"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "NOTIFY_", "WATCHDOG_"))}
            env["PYTHONPATH"] = str(REPO)
            with out_path.open("wb") as out:
                proc = subprocess.Popen([*SYNCD, "run", "--config", str(world.config)], cwd=tmp_path, env=env,
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                try:
                    deadline = time.monotonic() + 90
                    while not any(word in out_path.read_text(errors="replace")
                                  for word in ("run_failed", "run failed", "run crashed")):
                        assert proc.poll() is None and time.monotonic() < deadline, out_path.read_text()[-3000:]
                        time.sleep(0.1)
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(60)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
            assert proxy.rewritten > 0
        text = out_path.read_text(errors="replace")
        assert leaks([text, *_state_texts(world)], SECRETS) == []


# -- servers that echo secrets back --------------------------------------------------------


def test_no_form_of_a_tricky_key_leaks_when_a_server_echoes_the_request(tmp_path: Path) -> None:
    with tricky_world(tmp_path) as world:
        populate(world, seed=72, cloze_people=4, hub_people=4, overlap=1)
        texts = _outputs(world.syncd("reconcile"))
        for status in (503, 400, 401):
            with EchoServer(status) as cloze_echo, EchoServer(status) as hub_echo:
                tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": cloze_echo.url},
                                           f"pairs.{PAIR}.external": {"base_url": hub_echo.url}})
                texts += _outputs(world.syncd("reconcile"))
        with EchoServer(503) as cloze_echo:
            tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": cloze_echo.url, "auth": "bearer"}})
            texts += _outputs(world.syncd("reconcile"))
        texts += _outputs(world.syncd("state", "export"), world.syncd("status", "--json"), world.syncd("config", "show"))
        assert all("cannot serve" in t for t in texts[1:5]), "the echoed error never reached the output"
        assert leaks(texts + _state_texts(world), SECRETS) == []


def test_a_hubspot_error_echoing_the_bearer_token_reaches_no_output_and_no_record_error(tmp_path: Path) -> None:
    """HubSpot errors whose correlationId, message, per-record errors and headers echo ``Bearer <token>``:
    first on creating the properties cloze-syncd needs (the run fails), then in a batch write's 207 reply
    (record errors)."""
    phase = {"reject": "properties"}

    def answer(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Canned | None:
        auth = headers.get("Authorization", "")
        echo = {"Content-Type": "application/json", "X-Echo-Auth": auth, "X-HubSpot-Correlation-Id": auth}
        if method == "POST" and phase["reject"] == "properties" and path.startswith("/crm/v3/properties/"):
            reply: dict[str, Any] = {"status": "error", "category": "VALIDATION_ERROR", "correlationId": auth,
                     "message": f"Property group not valid for request with {auth}"}
            return Canned(400, json.dumps(reply).encode(), echo)
        if method == "POST" and phase["reject"] == "writes" and path.endswith(("/batch/upsert", "/batch/update")):
            keys = [i.get("objectWriteTraceId") for i in json.loads(body).get("inputs", [])]
            reply = {"status": "COMPLETE", "results": [], "errors": [
                {"status": "error", "category": "VALIDATION_ERROR", "message": f"Property values were not valid: {auth}",
                 "context": {"objectWriteTraceId": [k]}} for k in keys]}
            return Canned(207, json.dumps(reply).encode(), echo)
        return None

    with tricky_world(tmp_path) as world:
        populate(world, seed=73, cloze_people=4, hub_people=2, overlap=0)
        with TamperProxy(world.hubspot.url, answer=answer) as proxy:
            tune_config(world.config, {f"pairs.{PAIR}.external": {"base_url": proxy.url}})
            failed = world.syncd("reconcile")
            assert proxy.rewritten > 0
            assert failed.returncode not in (0, 3), describe(failed)
            assert "Property group not valid" in failed.stderr, describe(failed)
            phase["reject"] = "writes"
            partial = world.syncd("reconcile")
        assert partial.returncode == 3, describe(partial)
        errors = world.open_errors()
        assert errors and all("not valid" in e["message"] for e in errors), errors
        texts = _outputs(failed, partial, world.syncd("state", "export"), world.syncd("status", "--json"))
        assert leaks(texts + _state_texts(world) + [json.dumps(errors)], SECRETS) == []


# -- config show and secret references ----------------------------------------------------------


def test_config_show_masks_inline_secrets_and_shows_references(tmp_path: Path) -> None:
    with tricky_world(tmp_path) as world:
        tune_config(world.config, {f"pairs.{PAIR}.cloze": {"api_key": TRICKY_CLOZE_KEY}})
        proc = world.syncd("config", "show", check=0)
        assert leaks([proc.stdout + proc.stderr], [TRICKY_CLOZE_KEY]) == []
        shown = json.loads(proc.stdout)
        assert shown["pairs"][PAIR]["cloze"]["api_key"] == "***"
        assert shown["pairs"][PAIR]["external"]["token"].startswith("file:")  # a reference is no secret
        assert shown["pairs"][PAIR]["external"]["token_kind"] == "private_app"  # nor is a setting named like one


@pytest.mark.parametrize("value", ["vault:secret/data/cloze#api_key", "abc:def", "Env:CLOZE_KEY"])
def test_an_unknown_secret_reference_scheme_is_a_config_error(tmp_path: Path, value: str) -> None:
    with tricky_world(tmp_path) as world:
        tune_config(world.config, {f"pairs.{PAIR}.cloze": {"api_key": value}})
        line = next(n for n, text in enumerate(world.config.read_text().splitlines(), 1)
                    if text.startswith("api_key"))
        for command in (["config", "check"], ["config", "show"], ["reconcile"]):
            proc = world.syncd(*command)
            assert proc.returncode == 78, describe(proc)
            assert f"pairs.{PAIR}.cloze.api_key" in proc.stderr and f"line {line}" in proc.stderr, describe(proc)
            assert "env:" in proc.stderr and "file:" in proc.stderr and "credential:" in proc.stderr
            assert value not in proc.stdout + proc.stderr  # the value itself may be a secret


def test_a_secret_with_a_colon_that_is_no_scheme_is_accepted(tmp_path: Path) -> None:
    with tricky_world(tmp_path) as world:
        for value in ("12:ab-cd", "+k3y:with:colons", "x"):
            tune_config(world.config, {f"pairs.{PAIR}.cloze": {"api_key": value}})
            world.syncd("config", "check", check=0)


@pytest.mark.slow
def test_a_run_against_a_state_database_locked_by_another_process_is_typed_and_leaks_nothing(tmp_path: Path) -> None:
    import sqlite3

    with tricky_world(tmp_path) as world:
        populate(world, seed=74, cloze_people=2, hub_people=2, overlap=0)
        world.syncd("reconcile", check=0)
        holder = sqlite3.connect(world.state_path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # another process would hold the same lock
            proc = world.syncd("reconcile", timeout=180)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert proc.returncode not in (0, 3), describe(proc)
        assert "Traceback" not in proc.stdout + proc.stderr, describe(proc)
        assert "state database" in proc.stderr and "locked" in proc.stderr, describe(proc)
        assert leaks(_outputs(proc) + _state_texts(world), SECRETS) == []
        assert [r["status"] for r in world.export()["runs"]] == ["ok"]  # the locked-out run recorded nothing
