"""The daemon's listener under a flood of half-sent requests (slowloris), on loopback, bounded in count and time.

A real ``syncd run`` whose open-file limit (512 here; systemd's default soft limit
is 1,024) is smaller than the flood gets 1,000 connections that send part of a
request and then nothing. While they are held, ``/healthz`` and a genuine webhook
delivery must still be answered at once, and the daemon's own file descriptors
stay bounded by ``daemon.http.max_connections``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from connectors.cloze.notifications import pair_token
from tests.daemon.conftest import ENV, WEBHOOK_SECRET
from tests.daemon.procs import Daemon

FLOOD = 1000
OPEN_FILES = 512  # fewer than the flood, as 1,024 is fewer than a flood of 1,021 and more
FLOOD_SECONDS = 15.0  # the flood gives up opening connections after this long
PACE = 0.005
ANSWER_WITHIN = 2.0


def _half_sent(i: int, token: str) -> bytes:
    if i % 2:  # headers never finished
        return f"POST /webhooks/cloze/main?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".encode()
    # headers complete, body promised but never sent in full
    return (f"POST /webhooks/cloze/main?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n[{\"person\"").encode()


def _flood(port: int, token: str) -> list[socket.socket]:
    """Up to ``FLOOD`` connections, one every ``PACE`` seconds, each sent half a request and then left open.

    Paced so that the listener really takes each one in (a burst would mostly wait in the
    kernel's accept queue); gives up after ``FLOOD_SECONDS``. Returns the sockets it holds.
    """
    held: list[socket.socket] = []
    deadline = time.monotonic() + FLOOD_SECONDS
    for i in range(FLOOD):
        if time.monotonic() > deadline:
            break
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.3)
        except OSError:
            continue  # a listener out of descriptors accepts nothing more: what the checks below measure
        try:
            s.sendall(_half_sent(i, token))
        except OSError:
            s.close()
            continue
        held.append(s)
        time.sleep(PACE)
    return held


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settled_files(pid: int) -> int:
    """The daemon's open files once it has taken in what the flood sent (no growth for a second)."""
    last, steady_since, most = -1, time.monotonic(), 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = _open_files(pid)
        most = max(most, now)
        if now != last:
            last, steady_since = now, time.monotonic()
        elif time.monotonic() - steady_since > 1.0:
            break
        time.sleep(0.1)
    return most


def test_half_sent_requests_do_not_starve_healthz_or_deliveries(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    config = write_config(interval=3600)
    d = Daemon(config, tmp_path, ENV, max_open_files=OPEN_FILES)
    held: list[socket.socket] = []
    try:
        d.wait_ready()
        d.wait_event("run_finished", pair="main")
        token = pair_token(WEBHOOK_SECRET, "main")
        held.extend(_flood(d.port or 0, token))
        peak_files = _settled_files(d.proc.pid)

        for _ in range(3):
            t0 = time.monotonic()
            health = httpx.get(d.url + "/healthz", timeout=5)
            assert health.status_code == 200, health.text
            assert time.monotonic() - t0 < ANSWER_WITHIN
            t0 = time.monotonic()
            hook = httpx.post(d.url + "/webhooks/cloze/main", params={"token": token},
                              json=[{"person": {"direct": "flood-test"}, "event": "person.change"}], timeout=5)
            assert hook.status_code == 200, hook.text
            assert time.monotonic() - t0 < ANSWER_WITHIN
        # bounded by daemon.http.max_connections (256) plus the daemon's own files
        assert peak_files < 256 + 100, peak_files
        for s in held:
            s.close()
        held.clear()
        assert d.proc.poll() is None, d.output()
        assert httpx.get(d.url + "/healthz", timeout=5).status_code == 200
        assert d.stop() == 0
    finally:
        for s in held:
            s.close()
        d.close()
