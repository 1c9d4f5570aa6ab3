"""The emulators' listener sleeps while idle, stops at once, and serves as ThreadingHTTPServer does."""

from __future__ import annotations

import selectors
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.quiet_server import QuietHTTPServer
from connectors.salesforce.emulator import SalesforceEmulator


@pytest.fixture
def selects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Every selector wait of this process's threads from now on (their timeouts)."""
    waits: list[float] = []
    for cls in {selectors.DefaultSelector, selectors.PollSelector, selectors.SelectSelector}:
        real = cls.select

        def counted(self: Any, timeout: float | None = None, _real: Callable[..., Any] = real) -> Any:
            waits.append(-1.0 if timeout is None else timeout)
            return _real(self, timeout)
        monkeypatch.setattr(cls, "select", counted)
    yield waits


@pytest.mark.parametrize("emulator", [ClozeEmulator, HubSpotEmulator, SalesforceEmulator])
def test_an_idle_emulator_does_not_wake_up(emulator: Callable[[], Any], selects: list[float]) -> None:
    """socketserver's loop woke every 0.05 s to look for a stop: a process with 1,000 emulators (a test
    fleet) spent more CPU on that than the workers it served."""
    with emulator() as emu:
        httpx.get(emu.url + "/no-such-path", timeout=5)
        selects.clear()
        time.sleep(0.6)
        idle = list(selects)
        started = time.monotonic()
    assert len(idle) <= 1, f"{len(idle)} selector waits in 0.6 s idle: {idle[:5]}"
    assert time.monotonic() - started < 1.0  # stopping did not wait for a poll


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_it_serves_many_requests_at_once_and_stops_promptly() -> None:
    server = QuietHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    results: list[str] = []

    def fetch() -> None:
        results.append(httpx.get(url, timeout=5).text)
    fetchers = [threading.Thread(target=fetch) for _ in range(20)]
    for t in fetchers:
        t.start()
    for t in fetchers:
        t.join(10)
    assert results == ["hello"] * 20
    started = time.monotonic()
    server.shutdown()
    server.server_close()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 0.5


def test_a_server_stopped_before_its_loop_started_does_not_hang() -> None:
    server = QuietHTTPServer(("127.0.0.1", 0), _Hello)
    server.shutdown()  # no loop yet: returns at once
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    thread.join(2)  # the loop sees the stop and ends
    assert not thread.is_alive()
    server.server_close()
