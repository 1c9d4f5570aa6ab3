"""The HTTP/1.1 transport under every ApiSession, against a scripted server on loopback.

Each test's server is a real socket whose replies are written byte for byte, so framing that a
well-behaved emulator never produces (chunks split across packets, a reply cut short, bytes after a
reply, a server that closes an idle connection) is exercised as well.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from connectors.transport import SocketTransport, io_deadline

Handler = Callable[[socket.socket, int], None]  # (the accepted connection, its number from 0)


def read_request(conn: socket.socket) -> bytes:
    """One request off the connection (head and Content-Length body); b"" once the client closed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


def ok(body: bytes = b'{"ok": true}', *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class Scripted(socketserver.ThreadingTCPServer):
    """A loopback server: ``handler`` serves each accepted connection in its own thread."""

    daemon_threads = True

    def __init__(self, handler: Handler) -> None:
        script = handler

        class Connection(socketserver.BaseRequestHandler):
            def handle(inner) -> None:  # the handler of this server (self), one per connection
                with self._lock:
                    number = self.accepted
                    self.accepted += 1
                try:
                    script(inner.request, number)
                except OSError:
                    pass

        super().__init__(("127.0.0.1", 0), Connection)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.accepted = 0
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@contextmanager
def serving(handler: Handler) -> Iterator[tuple[Scripted, httpx.Client, SocketTransport]]:
    server = Scripted(handler)
    transport = SocketTransport(ssl.create_default_context())
    client = httpx.Client(base_url=server.url, transport=transport)
    try:
        yield server, client, transport
    finally:
        client.close()
        server.close()


def keep_alive(reply: bytes) -> Handler:
    """Answer every request on the connection with ``reply``, keeping the connection open."""
    def handler(conn: socket.socket, number: int) -> None:
        while read_request(conn):
            conn.sendall(reply)
    return handler


def test_one_connection_carries_a_run_of_requests() -> None:
    with serving(keep_alive(ok())) as (server, client, transport):
        for n in range(25):
            reply = client.post("/v1/people/update", json={"n": n})
            assert reply.status_code == 200 and reply.json() == {"ok": True}
        assert transport.connections_opened == 1
        assert server.accepted == 1


def test_the_request_goes_out_as_httpx_built_it() -> None:
    seen: list[bytes] = []

    def handler(conn: socket.socket, number: int) -> None:
        while request := read_request(conn):
            seen.append(request)
            conn.sendall(ok())

    with serving(handler) as (_, client, _t):
        client.post("/v1/people/update?user=a%40b.example", json={"name": "Ann"}, headers={"X-Run": "r1"})
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/people/update?user=a%40b.example HTTP/1.1"
    names = {line.split(b":")[0].lower() for line in lines[1:]}
    assert {b"host", b"content-length", b"content-type", b"x-run"} <= names
    assert body == b'{"name":"Ann"}'


def test_a_chunked_reply_split_across_packets() -> None:
    def handler(conn: socket.socket, number: int) -> None:
        while read_request(conn):
            for part in (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", b"\r\n5\r\nhel", b"lo\r\n",
                         b"6\r\n world\r\n0\r\n", b"\r\n"):
                conn.sendall(part)
                time.sleep(0.01)

    with serving(handler) as (_, client, transport):
        assert client.get("/a").content == b"hello world"
        assert client.get("/b").content == b"hello world"
        assert transport.connections_opened == 1  # a whole chunked reply leaves the connection reusable


def test_a_reply_that_ends_with_the_connection() -> None:
    def handler(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 100_000)

    with serving(handler) as (server, client, transport):
        assert client.get("/a").content == b"x" * 100_000
        assert client.get("/b").content == b"x" * 100_000
        assert transport.connections_opened == 2 and server.accepted == 2


FILLER = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"z" * 60) for n in range(2000))


@pytest.mark.parametrize(("reply", "error"), [
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"y" * 10, "complete message body",
                 id="a reply cut short is an error, not a short body"),
    pytest.param(b"", "without sending a response", id="a server that hangs up without a reply"),
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "malformed reply", id="garbage instead of a reply"),
    pytest.param(b"HTTP/1.1 200 OK\r\n" + FILLER, "larger than 64 KiB", id="headers past 64 KiB are refused"),
])
def test_a_broken_reply_is_a_protocol_error(reply: bytes, error: str) -> None:
    def handler(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(reply)

    with serving(handler) as (_, client, _t), pytest.raises(httpx.RemoteProtocolError, match=error):
        client.get("/a")


def test_an_interim_reply_is_passed_over() -> None:
    def handler(conn: socket.socket, number: int) -> None:
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.01)
            conn.sendall(ok(b'{"final": 1}'))

    with serving(handler) as (_, client, transport):
        reply = client.get("/a")
        assert reply.status_code == 200 and reply.json() == {"final": 1}
        assert client.get("/b").json() == {"final": 1}
        assert transport.connections_opened == 1


def test_bytes_after_a_reply_keep_the_reply_but_not_the_connection() -> None:
    def handler(conn: socket.socket, number: int) -> None:
        while read_request(conn):
            conn.sendall(ok() + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")

    with serving(handler) as (_, client, transport):
        assert client.get("/a").json() == {"ok": True}
        assert client.get("/b").json() == {"ok": True}
        assert transport.connections_opened == 2


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    def handler(conn: socket.socket, number: int) -> None:  # keep-alive promised, then hung up
        read_request(conn)
        conn.sendall(ok())

    with serving(handler) as (_, client, transport):
        assert client.get("/a").json() == {"ok": True}
        time.sleep(0.1)
        assert client.get("/b").json() == {"ok": True}  # not "disconnected without sending a response"
        assert transport.connections_opened == 2


def test_connection_close_is_honoured() -> None:
    with serving(keep_alive(ok(b"{}", b"Connection: close"))) as (_, client, transport):
        client.get("/a")
        client.get("/b")
        assert transport.connections_opened == 2


def test_a_line_break_in_a_header_is_refused_before_anything_is_sent() -> None:
    with serving(keep_alive(ok())) as (server, client, _t):
        with pytest.raises(httpx.LocalProtocolError, match="X-Evil"):
            client.get("/a", headers={"X-Evil": "1\r\nX-Injected: 2"})
        assert server.accepted == 0


def test_a_trickling_reply_is_cut_off_at_the_request_deadline() -> None:
    def handler(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            conn.sendall(b".")
            time.sleep(0.1)

    with serving(handler) as (_, client, _t):
        started = time.monotonic()
        with io_deadline(started + 1.0), pytest.raises(httpx.ReadTimeout):
            client.get("/a", timeout=30)
        assert time.monotonic() - started < 1.5  # each read waited only for what was left, not 30 s


def test_a_refused_connection_keeps_its_cause() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    client = httpx.Client(transport=SocketTransport(ssl.create_default_context()))
    with pytest.raises(httpx.ConnectError) as caught:
        client.get(f"http://127.0.0.1:{port}/")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_only_http_and_https() -> None:
    client = httpx.Client(transport=SocketTransport(ssl.create_default_context()))
    with pytest.raises(httpx.UnsupportedProtocol):
        client.get("ftp://127.0.0.1/")
