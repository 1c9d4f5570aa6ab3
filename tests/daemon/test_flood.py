"""The daemon's listener under a flood of half-sent requests (slowloris), on loopback, bounded in count and time.

A real ``syncd run`` with systemd's default soft limit of 1,024 open files gets
1,000 connections that send part of a request and then nothing. While they are
held, ``/healthz`` and a genuine webhook delivery must still be answered at once,
and the daemon's own file descriptors stay bounded by
``daemon.http.max_connections``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from syncd.webhooks import pair_token
from tests.daemon.conftest import ENV, WEBHOOK_SECRET
from tests.daemon.procs import Daemon

FLOOD = 1000
FLOOD_SECONDS = 20.0  # the flood gives up opening connections after this long
ANSWER_WITHIN = 2.0


def _half_sent(i: int, token: str) -> bytes:
    if i % 2:  # headers never finished
        return f"POST /webhooks/cloze/main?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".encode()
    # headers complete, body promised but never sent in full
    return (f"POST /webhooks/cloze/main?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n[{\"person\"").encode()


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_half_sent_requests_do_not_starve_healthz_or_deliveries(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    config = write_config(interval=3600)
    d = Daemon(config, tmp_path, ENV, max_open_files=1024)
    held: list[socket.socket] = []
    try:
        d.wait_ready()
        d.wait_event("run_finished", pair="main")
        token = pair_token(WEBHOOK_SECRET, "main")
        started = time.monotonic()
        for i in range(FLOOD):
            if time.monotonic() - started > FLOOD_SECONDS:
                break
            try:
                s = socket.create_connection(("127.0.0.1", d.port or 0), timeout=0.5)
                s.sendall(_half_sent(i, token))
            except OSError:
                continue  # a listener out of descriptors stops accepting: that is what is measured below
            held.append(s)
        peak_files = _open_files(d.proc.pid)

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
