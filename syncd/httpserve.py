"""A bounded HTTP/1.x server for a WSGI app: a slow or half-sent request costs a socket, never a thread.

One thread runs a selector loop. It accepts connections and buffers each
request until its headers and its body (``Content-Length``) have arrived; only a
complete request is handed to a worker thread, which runs the app through
wsgiref's handler and writes the reply under a send timeout. So a flood of
half-sent requests (slowloris) ties up no worker, and ``/healthz`` and genuine
webhook deliveries, which arrive in one go, are answered while it lasts.

Bounds (:class:`ServerLimits`):

* ``header_timeout``: the headers must be in this long after the connection was
  accepted; ``body_timeout``: the body this long after the headers. Past either,
  the connection is closed.
* ``max_connections``: connections open at once. A new one beyond it pushes out
  the oldest connection still being read (an attacker's half-sent request, as a
  rule); when every open connection is already being answered it is refused
  with 503.
* ``max_header_bytes`` (431 beyond it) and ``max_body_bytes``: a longer body is
  not read at all; the request is handed over at once so the app answers 413.
"""

from __future__ import annotations

import io
import re
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIRequestHandler

    from _typeshed.wsgi import WSGIApplication

log = structlog.get_logger("syncd.web")

_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$")
_EXPECT_CONTINUE = re.compile(rb"(?im)^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$")


@dataclass(frozen=True)
class ServerLimits:
    """How much a client may take of the listener (see the module docstring)."""

    max_connections: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    write_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1_048_576
    workers: int = 8


@dataclass(eq=False)
class _Pending:
    """A connection whose request is still arriving."""

    sock: socket.socket
    address: Any
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)
    need: int | None = None  # total bytes (headers + body) once the headers are in


def _status_reply(status: str) -> bytes:
    body = f"{status.split(' ', 1)[1].lower()}\n".encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class BoundedServer:
    """Serves ``app`` on ``(address, port)`` within ``limits``; ``handler`` is a wsgiref request handler class."""

    def __init__(self, address: str, port: int, app: WSGIApplication, handler: type[WSGIRequestHandler],
                 limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()
        self._app = app
        self._handler = handler
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._listen = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listen.bind((address, port))
            self._listen.listen(512)
        except OSError:
            self._listen.close()
            raise
        self._listen.setblocking(False)
        self.server_address = self._listen.getsockname()
        # What wsgiref's handler reads from its server (WSGIServer.setup_environ).
        self.server_name = address or "localhost"  # not getfqdn(): no reverse lookup leaves the host
        self.server_port = int(self.server_address[1])
        self.base_environ: dict[str, Any] = {
            "SERVER_NAME": self.server_name, "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PORT": str(self.server_port),
            "REMOTE_HOST": "", "CONTENT_LENGTH": "", "SCRIPT_NAME": "",
        }
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listen, selectors.EVENT_READ, None)
        self._pending: dict[_Pending, None] = {}  # insertion order: oldest first
        self._active = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.limits.workers, thread_name_prefix="http-worker")
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self.refused = 0  # connections turned away or pushed out, for tests and diagnostics
        self.expired = 0

    def get_app(self) -> WSGIApplication:
        return self._app

    # -- the loop ----------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=poll_interval):
                if key.data is None:
                    self._accept()
                else:
                    self._read(key.data)
            self._expire()
        for conn in list(self._pending):
            self._drop(conn)
        self._selector.close()
        self._stopped.set()

    def shutdown(self) -> None:
        """Stop the loop and wait for it (requests already handed to a worker finish on their own)."""
        self._stop.set()
        self._stopped.wait(timeout=5)

    def server_close(self) -> None:
        self._stop.set()
        self._listen.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self._listen.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of file descriptors: the pending ones expire and free some
                log.warning("http accept failed", error=str(exc))
                return
            self._admit(sock, address)

    def _admit(self, sock: socket.socket, address: Any) -> None:
        with self._lock:
            full = len(self._pending) + self._active >= self.limits.max_connections
        if full:
            self.refused += 1
            if self._pending:
                self._drop(next(iter(self._pending)))  # the oldest request still arriving makes room
            else:
                self._refuse(sock, "503 Service Unavailable")
                return
        sock.setblocking(False)
        conn = _Pending(sock, address, time.monotonic() + self.limits.header_timeout)
        self._pending[conn] = None
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Pending) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.buffer += data
        if conn.need is None:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(conn.buffer) > self.limits.max_header_bytes:
                    self._drop(conn, "431 Request Header Fields Too Large")
                return
            end += 4
            match = _CONTENT_LENGTH.search(conn.buffer, 0, end)
            length = int(match.group(1)) if match else 0
            # A body over the cap is never read: the app answers 413 from the headers alone.
            body = length if length <= self.limits.max_body_bytes else 0
            conn.need = end + body
            conn.deadline = time.monotonic() + self.limits.body_timeout
            if body and len(conn.buffer) < conn.need and _EXPECT_CONTINUE.search(conn.buffer, 0, end):
                try:  # a client that waits for the go-ahead gets it now, not after its own timeout
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                except OSError:
                    pass
        if len(conn.buffer) >= conn.need:
            self._dispatch(conn)

    def _expire(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self._pending if c.deadline <= now]:
            self.expired += 1
            self._drop(conn, "408 Request Timeout")

    def _drop(self, conn: _Pending, status: str | None = None) -> None:
        self._pending.pop(conn, None)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        if status:
            self._refuse(conn.sock, status)
        else:
            conn.sock.close()

    def _refuse(self, sock: socket.socket, status: str) -> None:
        try:
            sock.setblocking(False)
            sock.send(_status_reply(status))  # best effort: never wait on a client that does not read
        except OSError:
            pass
        sock.close()

    # -- answering ---------------------------------------------------------------

    def _dispatch(self, conn: _Pending) -> None:
        self._pending.pop(conn, None)
        self._selector.unregister(conn.sock)
        request = bytes(conn.buffer[: conn.need])
        with self._lock:
            self._active += 1
        self._pool.submit(self._serve, conn.sock, conn.address, request)

    def _serve(self, sock: socket.socket, address: Any, request: bytes) -> None:
        try:
            sock.setblocking(True)
            sock.settimeout(self.limits.write_timeout)
            self._handler((sock, request), address, self)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 (one broken exchange never stops the listener)
            log.warning("http request failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            with self._lock:
                self._active -= 1


def buffered_setup(handler: Any) -> None:
    """``StreamRequestHandler.setup`` for a request already read in full: ``request`` is ``(socket, bytes)``."""
    sock, data = handler.request
    handler.connection = sock
    handler.rfile = io.BytesIO(data)
    handler.wfile = sock.makefile("wb")
