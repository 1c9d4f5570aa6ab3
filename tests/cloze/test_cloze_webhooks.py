"""Webhook delivery from the emulator to a real local receiver (spec §6)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator


@dataclass
class Receiver:
    """Collects deliveries; ``replies`` scripts the answers (status, body), then it answers ``OK``."""

    url: str
    posts: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = state["r"]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with rec.lock:
                rec.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, text = rec.replies.pop(0) if rec.replies else (200, "OK")
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook?token=s3cret")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()


def test_change_event_reaches_the_receiver(
    emulator: ClozeEmulator, client: ClozeClient, receiver: Receiver
) -> None:
    uid = client.subscribe("person.change", receiver.url, client_reference="pair-main")
    client.create("person", {"first": "Hook", "emails": [{"value": "hook@x.example"}]})
    client.create("company", {"name": "Not a person", "domains": ["np.example"]})
    assert emulator.wait_webhooks(5)
    assert len(receiver.posts) == 1
    headers, body = receiver.posts[0]
    assert headers["x-cloze-subscription-id"] == uid and headers["x-cloze-client-reference"] == "pair-main"
    assert isinstance(body, list) and body[0]["event"] == "person.change" and body[0]["changes"] == {}
    # an empty stage is left out (the documented samples); empty_enum_as_none=True sends "none"
    assert body[0]["person"]["emails"] == [{"value": "hook@x.example"}] and "stage" not in body[0]["person"]
    client.update("person", {"direct": body[0]["person"]["direct"], "first": "Hook"})  # no-op: no delivery
    assert emulator.wait_webhooks(5) and len(receiver.posts) == 1


def test_audit_event_carries_before_and_after_and_filters_apply(
    emulator: ClozeEmulator, client: ClozeClient, receiver: Receiver
) -> None:
    client.subscribe(
        "person.audit.change",
        receiver.url,
        filters=[{"person": {"segment": "Customers"}, "changes": {"stage": {"after": "*"}}}],
    )
    client.create("person", {"first": "In", "emails": [{"value": "in@x.example"}], "segment": "customer"})
    client.create("person", {"first": "Out", "emails": [{"value": "out@x.example"}], "segment": "partner"})
    client.update("person", {"emails": [{"value": "in@x.example"}], "stage": "current"})
    client.update("person", {"emails": [{"value": "out@x.example"}], "stage": "current"})
    assert emulator.wait_webhooks(5)
    assert len(receiver.posts) == 1
    event = receiver.posts[0][1][0]
    assert event["event"] == "person.audit.change" and event["person"]["first"] == "In"
    assert event["changes"]["stage"] == {"before": "none", "after": "current"}


def test_failed_delivery_is_retried_then_succeeds(
    emulator: ClozeEmulator, client: ClozeClient, receiver: Receiver
) -> None:
    receiver.replies.append((503, "busy"))
    client.subscribe("company.change", receiver.url)
    client.create("company", {"name": "Retry Co", "domains": ["retry.example"]})
    assert emulator.wait_webhooks(5)
    assert len(receiver.posts) == 2 and receiver.posts[0][1] == receiver.posts[1][1]
    sub = client.webhooks()[0]
    assert sub["usage"]["failCount"] == 1 and sub["usage"]["successCount"] == 1 and not sub["suspended"]


def test_invalid_reply_suspends_the_subscription(
    emulator: ClozeEmulator, client: ClozeClient, receiver: Receiver
) -> None:
    receiver.replies.append((200, "thanks!"))
    client.subscribe("person.change", receiver.url)
    client.create("person", {"first": "One", "emails": [{"value": "one@x.example"}]})
    assert emulator.wait_webhooks(5)
    client.create("person", {"first": "Two", "emails": [{"value": "two@x.example"}]})
    assert emulator.wait_webhooks(5)
    assert len(receiver.posts) == 1
    assert client.webhooks()[0]["suspended"] is True
