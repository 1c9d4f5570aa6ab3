"""The daemon's webhook listener (``syncd run``, ``syncd/web.py`` + ``syncd/webhooks.py``) over real HTTP:
unauthenticated, wrongly authenticated, oversized, unsized and malformed deliveries are refused without
starting a sync; a genuine one syncs the record; neither the shared secret nor a pair's webhook token
appears in the daemon's logs (debug level included).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.cloze.notifications import pair_token
from tests.daemon.procs import Daemon
from tests.fault.seeding import cloze_person, populate
from tests.fault.world import PAIR, World, open_world

SECRET = "webhook-shared-secret-5150-abcdef"
MAX_BODY = 4096


@dataclass
class Listener:
    world: World
    daemon: Daemon
    token: str

    @property
    def url(self) -> str:
        return f"{self.daemon.url}/webhooks/cloze/{PAIR}"

    def webhook_runs(self) -> int:
        return sum(1 for r in self.world.export()["runs"] if r["mode"] == "webhook")


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    directory = tmp_path_factory.mktemp("webhooks")
    config: dict[str, dict[str, Any]] = {
        "logging": {"level": "debug", "format": "json"},
        "daemon.webhooks": {"enabled": True, "public_url": "https://sync.example.com",
                            "secret": "env:SYNCD_TEST_WEBHOOK_SECRET", "debounce": "0.1s",
                            "max_body_bytes": MAX_BODY},
        f"pairs.{PAIR}.schedule": {"interval": "1h", "reconcile_cron": ""},
    }
    with open_world(directory, config=config) as world:
        populate(world, seed=61, cloze_people=3, hub_people=3, overlap=1)
        daemon = Daemon(world.config, directory, {"SYNCD_TEST_WEBHOOK_SECRET": SECRET})
        try:
            daemon.wait_ready()
            daemon.wait_event("run_finished", timeout=60)  # the first poll, started with the daemon
            yield Listener(world, daemon, pair_token(SECRET, PAIR))
        finally:
            daemon.stop()
            daemon.close()


def _raw(listener: Listener, head: str) -> bytes:
    """Send only a request head (no body) and read the reply's status line."""
    with socket.create_connection(("127.0.0.1", listener.daemon.port), timeout=5) as sock:
        sock.sendall(head.encode())
        return sock.recv(200).split(b"\r\n", 1)[0]


def test_unauthenticated_and_malformed_deliveries_are_refused_without_a_sync(listener: Listener) -> None:
    before = listener.webhook_runs()
    body = json.dumps([{"person": {"direct": "x"}, "event": "person.change"}]).encode()
    refused = {
        "no token": httpx.post(listener.url, content=body),
        "wrong token": httpx.post(listener.url, params={"token": "0" * 64}, content=body),
        "token of another pair": httpx.post(f"{listener.daemon.url}/webhooks/cloze/other",
                                            params={"token": listener.token}, content=body),
        "the secret itself as token": httpx.post(listener.url, params={"token": SECRET}, content=body),
        "wrong method": httpx.get(listener.url, params={"token": listener.token}),
        "malformed body": httpx.post(listener.url, params={"token": listener.token}, content=b"{not json"),
    }
    statuses = {name: r.status_code for name, r in refused.items()}
    assert statuses == {"no token": 401, "wrong token": 401, "token of another pair": 401,
                        "the secret itself as token": 401, "wrong method": 405, "malformed body": 400}
    time.sleep(0.5)  # longer than the debounce: a queued sync would have started
    assert listener.webhook_runs() == before


def test_oversized_and_unsized_deliveries_are_refused_before_the_body_is_read(listener: Listener) -> None:
    before = listener.webhook_runs()
    big = httpx.post(listener.url, params={"token": listener.token}, content=b"[" + b" " * MAX_BODY + b"]")
    assert big.status_code == 413
    # A gigabyte announced and never sent: the refusal comes at once, from the headers alone.
    started = time.monotonic()
    status = _raw(listener, f"POST /webhooks/cloze/{PAIR}?token={listener.token} HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
    assert b" 413 " in status + b" " and time.monotonic() - started < 2
    # Without the token the size is never even considered.
    assert b" 401 " in _raw(listener, f"POST /webhooks/cloze/{PAIR} HTTP/1.1\r\nHost: x\r\n"
                                      "Content-Length: 1000000000\r\n\r\n") + b" "

    def chunked() -> Iterator[bytes]:
        yield b"["
        yield b"]"

    assert httpx.post(listener.url, params={"token": listener.token}, content=chunked()).status_code == 411
    time.sleep(0.5)
    assert listener.webhook_runs() == before


def test_a_genuine_delivery_syncs_the_record(listener: Listener) -> None:
    world = listener.world
    direct = world.cloze.add_record("person", cloze_person("Hook", "Delivered", "hooked@webhook.example"))
    body = json.dumps([{"person": {"direct": direct}, "event": "person.change", "changes": {}}]).encode()
    reply = httpx.post(listener.url, params={"token": listener.token}, content=body)
    assert reply.status_code == 200
    deadline = time.monotonic() + 30
    while not any(o["properties"].get("email") == "hooked@webhook.example" for o in world.hubspot.objects("contacts")):
        assert time.monotonic() < deadline, listener.daemon.output()
        time.sleep(0.05)


def test_neither_the_secret_nor_a_webhook_token_is_logged(listener: Listener) -> None:
    """The pair's token is a credential too: with it anyone can make the daemon sync records."""
    httpx.post(listener.url, params={"token": listener.token}, content=b"[]")
    time.sleep(0.3)
    logs = listener.daemon.stdout_path.read_text() + listener.daemon.stderr_path.read_text()
    assert '"event": "http"' in logs or "webhook" in logs  # debug logging is on and the requests were seen
    for secret in (SECRET, listener.token):
        at = logs.find(secret)
        assert at < 0, f"found in the daemon's log: ...{logs[max(0, at - 200): at + 80]}..."
