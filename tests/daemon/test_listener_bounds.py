"""The listener's bounds one by one, over real loopback sockets: timeouts, the connection cap, sizes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.cloze.notifications import pair_token
from syncd.httpserve import ServerLimits
from syncd.web import Health, HttpListener, make_app
from syncd.webhooks import ReceiverConfig, WebhookReceiver
from tests.daemon.cloze_hooks import cloze_sources

SECRET = "listener-bounds-secret"
LIMITS = ServerLimits(max_connections=4, header_timeout=0.5, body_timeout=0.5, max_header_bytes=2048,
                      max_body_bytes=4096, workers=2)


@pytest.fixture
def listener() -> Iterator[HttpListener]:
    receiver = WebhookReceiver(ReceiverConfig(cloze_sources(SECRET, ["main"]), max_body_bytes=4096),
                               lambda pair, batch: None)
    app = make_app(registry=CollectorRegistry(), health=lambda: Health(True, {}), webhooks=lambda: receiver)
    served = HttpListener(app, "127.0.0.1", 0, limits=LIMITS)
    served.start()
    yield served
    served.stop()


def _connect(listener: HttpListener, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", listener.port), timeout=3)
    s.sendall(data)
    return s


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        out += chunk
    return out


def _hook_head(length: int, extra: str = "") -> bytes:
    token = pair_token(SECRET, "main")
    return (f"POST /webhooks/cloze/main?token={token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def test_headers_not_finished_in_time_close_the_connection(listener: HttpListener) -> None:
    s = _connect(listener, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    reply = _read_all(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert time.monotonic() - started < LIMITS.header_timeout + 1.0


def test_a_body_not_finished_in_time_closes_the_connection(listener: HttpListener) -> None:
    s = _connect(listener, _hook_head(100) + b"[{")
    reply = _read_all(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply


def test_past_the_connection_cap_the_oldest_unfinished_request_makes_room(listener: HttpListener) -> None:
    stalled = [_connect(listener, b"GET /healthz HTTP/1.1\r\n") for _ in range(LIMITS.max_connections)]
    time.sleep(0.1)
    started = time.monotonic()
    health = httpx.get(listener.url + "/healthz", timeout=3)
    assert health.status_code == 200
    assert time.monotonic() - started < 0.4  # well before any stalled request timed out
    assert _read_all(stalled[0]) == b""  # the oldest was closed to make room
    for s in stalled:
        s.close()


def test_oversized_headers_are_refused(listener: HttpListener) -> None:
    s = _connect(listener, b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"a" * 4096)
    reply = _read_all(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 431"), reply


def test_a_body_over_the_cap_is_refused_without_being_read(listener: HttpListener) -> None:
    s = _connect(listener, _hook_head(10_000_000))  # not one byte of the body is sent
    reply = _read_all(s)
    s.close()
    assert b" 413 " in reply.split(b"\r\n", 1)[0], reply


def test_a_client_waiting_for_100_continue_gets_it_and_is_answered(listener: HttpListener) -> None:
    body = b'[{"person": {"direct": "abc"}, "event": "person.change"}]'
    s = _connect(listener, _hook_head(len(body), "Expect: 100-continue\r\n"))
    first = s.recv(100)
    assert first.startswith(b"HTTP/1.1 100 Continue"), first
    s.sendall(body)
    reply = _read_all(s)
    s.close()
    assert b" 200 " in reply.split(b"\r\n", 1)[0], reply


def test_a_complete_delivery_is_answered(listener: HttpListener) -> None:
    hook = httpx.post(listener.url + "/webhooks/cloze/main", params={"token": pair_token(SECRET, "main")},
                      json=[{"person": {"direct": "abc"}, "event": "person.change"}], timeout=3)
    assert hook.status_code == 200, hook.text
