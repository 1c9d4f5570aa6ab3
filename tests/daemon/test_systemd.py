"""sd_notify over a real datagram socket bound by the test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd import systemd


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def receive(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_messages_arrive_intact(notify_socket: socket.socket) -> None:
    assert systemd.ready("syncing 1 pair\nmain")
    assert receive(notify_socket) == {"READY": "1", "STATUS": "syncing 1 pair main"}
    assert systemd.status("hello")
    assert receive(notify_socket) == {"STATUS": "hello"}
    assert systemd.reloading()
    msg = receive(notify_socket)
    assert msg["RELOADING"] == "1" and abs(int(msg["MONOTONIC_USEC"]) - systemd.monotonic_usec()) < 5_000_000
    assert systemd.stopping("bye")
    assert receive(notify_socket) == {"STOPPING": "1", "STATUS": "bye"}
    assert systemd.extend_timeout(65)
    assert receive(notify_socket) == {"EXTEND_TIMEOUT_USEC": "65000000"}
    assert systemd.watchdog()
    assert receive(notify_socket) == {"WATCHDOG": "1"}


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"cloze-syncd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.ready()
        assert receive(sock) == {"READY": "1"}


def test_no_socket_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert systemd.status("x") is False  # send fails: logged at debug, never raised
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    assert systemd.watchdog() is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert systemd.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "garbage")
    assert systemd.watchdog_interval() is None
