"""The HTTP/1.1 transport under every :class:`~connectors.http.ApiSession`: replies parsed by
httptools (the llhttp parser in C, which uvicorn uses), behind httpx's documented transport API
(``httpx.BaseTransport``).

httpx stays the client: requests, URLs, headers, cookies, redirects, content decoding and the
exception types are httpx's. This module only moves bytes over kept-alive sockets. The reason is
cost: httpx's own transport parses HTTP/1.1 with httpcore over h11, in pure Python, and
``http.client`` parses headers with the ``email`` package, also in Python. A sync sends one Cloze
request per record written, and parsing its reply was the largest single share of ``syncd``'s CPU
in an initial reconcile (README § Performance has the figures).

Bounds: every socket operation (connect, TLS handshake, each send, each receive) gets at most the
time left to the request's deadline (:func:`io_deadline`), so a server trickling one byte at a time
is cut off too. A reply's status line and headers may take at most 64 KiB. A reply that ends before
its announced length or its last chunk is an error, never a short body. A connection goes back to
the pool only after a whole reply, when the server keeps it open and sent nothing more.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httptools
import httpx

# The instant the request in flight on this thread must be over (monotonic), read by every socket call.
_io_deadline: ContextVar[float | None] = ContextVar("syncd_io_deadline", default=None)

_READ_CHUNK = 65536
_ONE_SEND = 65536  # a request up to this size goes out in one send (head and body together)
_MAX_HEAD = 65536  # the reply's status line and headers, at most


@contextmanager
def io_deadline(deadline: float | None) -> Iterator[None]:
    """Bound every socket operation on this thread, until the block ends, by ``deadline`` (monotonic)."""
    token = _io_deadline.set(deadline)
    try:
        yield
    finally:
        _io_deadline.reset(token)


def clamp(timeout: float | None) -> float | None:
    """``timeout`` cut to the time left before the request's deadline; ``TimeoutError`` once it passed."""
    deadline = _io_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("request deadline reached")
    return left if timeout is None else min(timeout, left)


class _Connection:
    """One kept-alive socket to one origin, with the buffer its replies are received into."""

    __slots__ = ("buffer", "origin", "sock", "view")

    def __init__(self, sock: socket.socket, origin: tuple[str, str, int]) -> None:
        self.sock = sock
        self.origin = origin
        self.buffer = bytearray(_READ_CHUNK)
        self.view = memoryview(self.buffer)

    def send(self, data: bytes, timeout: float | None) -> None:
        self.sock.settimeout(clamp(timeout))
        self.sock.sendall(data)

    def receive(self, timeout: float | None) -> memoryview:
        """What the server sent next (empty once it closed the connection): one bounded ``recv``."""
        self.sock.settimeout(clamp(timeout))
        return self.view[: self.sock.recv_into(self.buffer)]

    def is_stale(self) -> bool:
        """An idle connection the server closed (or wrote to unasked): readable before any request."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        poller = select.poll()  # not select(): a process with many pairs has descriptors past 1024
        try:
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Reply:
    """One reply as the parser reports it (httptools calls these methods)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: deque[bytes] = deque()
        self.head_done = False
        self.complete = False
        self.interim = False
        self.trailing = False  # bytes came after the reply: the connection is not reused
        self.keep_alive = False
        self.has_length = self.chunked = False
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        if self.complete:
            self.trailing = True
            return
        self.headers, self.head_done = [], False
        self.has_length = self.chunked = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.headers.append((name, value))
        if len(name) in (14, 17):  # the two names that frame a body
            lowered = name.lower()
            if lowered == b"content-length":
                self.has_length = True
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        self.status = self.parser.get_status_code()
        # An interim reply (100 Continue, 103 Early Hints) comes before the real one.
        self.interim = 100 <= self.status < 200 and self.status != 101
        self.head_done = not self.interim
        # Read here: once the reply is complete the parser has reset for the next one.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if not self.complete:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
        elif not self.complete:
            self.complete = True

    @property
    def ends_with_connection(self) -> bool:
        """A body with neither a length nor chunks ends when the server closes the connection
        (the parser completes a 204, a 304 and a reply announcing no body itself)."""
        return not (self.chunked or self.has_length)

    def feed(self, data: memoryview, request: httpx.Request) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise httpx.RemoteProtocolError("the server switched protocols unasked", request=request) from None
        except httptools.HttpParserError as exc:
            if self.complete:  # garbage after a whole reply: the reply stands, the connection does not
                self.trailing = True
                return
            raise httpx.RemoteProtocolError(f"malformed reply: {exc}", request=request) from exc


class _ReplyBody(httpx.SyncByteStream):
    """The reply's body, read as httpx asks for it; the connection goes back to the pool once the body
    was read to its end and the server keeps the connection open."""

    def __init__(self, transport: SocketTransport, connection: _Connection, reply: _Reply,
                 request: httpx.Request, timeout: float | None) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._reply = reply
        self._request = request
        self._timeout = timeout
        # A reply to HEAD announces a body it does not send.
        self._ended = reply.complete or request.method == "HEAD"

    def __iter__(self) -> Iterator[bytes]:
        reply = self._reply
        while reply.body:
            yield reply.body.popleft()
        connection = self._connection
        while not self._ended and connection is not None:
            try:
                data = connection.receive(self._timeout)
            except OSError as exc:
                self._drop()
                raise _as_httpx(exc, "read", self._request) from exc
            if not data:
                if reply.ends_with_connection:  # the end of the connection is the end of the body
                    self._ended = True
                    reply.trailing = True
                    break
                self._drop()
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body", request=self._request)
            try:
                reply.feed(data, self._request)
            except httpx.RemoteProtocolError:
                self._drop()
                raise
            while reply.body:
                yield reply.body.popleft()
            self._ended = reply.complete

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        reply = self._reply
        if self._ended and reply.complete and not reply.trailing and reply.keep_alive:
            self._transport._release(connection)
        else:
            connection.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


_PHASES: dict[str, tuple[type[httpx.TransportError], type[httpx.TransportError]]] = {
    "connect": (httpx.ConnectTimeout, httpx.ConnectError),
    "write": (httpx.WriteTimeout, httpx.WriteError),
    "read": (httpx.ReadTimeout, httpx.ReadError),
}


def _as_httpx(exc: OSError, phase: str, request: httpx.Request) -> httpx.TransportError:
    """httpx's exception for a socket error in ``phase`` (a timeout, the deadline's included, or any
    other ``OSError``: refused, reset, a TLS failure), its message kept and the error as its cause."""
    timed_out, failed = _PHASES[phase]
    kind = timed_out if isinstance(exc, TimeoutError) else failed
    return kind(str(exc) or type(exc).__name__, request=request)


def _head(request: httpx.Request) -> bytes:
    """The request line and headers, as sent. httpx has built them (Host, Content-Length, ...).
    A name or value with a line break in it would split the request, so it is refused here."""
    raw = request.headers.raw
    block = b"".join([b"%s: %s\r\n" % pair for pair in raw])
    # Every line break in the block must be one of the len(raw) this function put there.
    if block.count(b"\n") != len(raw) or block.count(b"\r") != len(raw):
        bad = next(name for name, value in raw if b"\r" in name + value or b"\n" in name + value)
        raise httpx.LocalProtocolError(f"illegal line break in header {bad.decode('latin-1')!r}", request=request)
    return b"%s %s HTTP/1.1\r\n%s\r\n" % (request.method.encode("ascii"), request.url.raw_path or b"/", block)


def _body(request: httpx.Request) -> bytes:
    content = request.read()
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return (b"%x\r\n%s\r\n0\r\n\r\n" % (len(content), content)) if content else b"0\r\n\r\n"
    return content


class SocketTransport(httpx.BaseTransport):
    """HTTP/1.1 over kept-alive sockets (at most ``max_keepalive`` idle ones per origin), parsed by httptools."""

    def __init__(self, ssl_context: ssl.SSLContext, *, max_keepalive: int = 10) -> None:
        self.ssl_context = ssl_context
        self._max_keepalive = max_keepalive
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()
        self.connections_opened = 0

    # -- the pool -----------------------------------------------------------------

    def _checkout(self, origin: tuple[str, str, int]) -> _Connection | None:
        with self._lock:
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if not connection.is_stale():
                    return connection
                connection.close()
        return None

    def _release(self, connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(connection.origin, [])
            if len(idle) < self._max_keepalive:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- one request ----------------------------------------------------------------

    def _connect(self, request: httpx.Request, origin: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        try:
            sock = socket.create_connection((host, port), timeout=clamp(timeout))
        except OSError as exc:
            raise _as_httpx(exc, "connect", request) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock.settimeout(clamp(timeout))
                sni = request.extensions.get("sni_hostname") or host
                sock = self.ssl_context.wrap_socket(sock, server_hostname=sni)
        except OSError as exc:  # ssl.SSLError is an OSError: a certificate refused, a handshake failed
            sock.close()
            raise _as_httpx(exc, "connect", request) from exc
        self.connections_opened += 1
        return _Connection(sock, origin)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"the URL's scheme {scheme!r} is neither http nor https", request=request)
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts = request.extensions.get("timeout", {})
        body = _body(request)
        data = _head(request)
        if len(body) <= _ONE_SEND:
            data, body = data + body, b""
        connection = self._checkout(origin) or self._connect(request, origin, timeouts.get("connect"))
        try:
            connection.send(data, timeouts.get("write"))
            if body:
                connection.send(body, timeouts.get("write"))
        except OSError as exc:
            connection.close()
            raise _as_httpx(exc, "write", request) from exc
        read_timeout = timeouts.get("read")
        reply = _Reply()
        head_size = 0
        try:
            while not reply.head_done:
                received = connection.receive(read_timeout)
                if not received:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response." if not head_size
                        else "Server disconnected in the middle of the reply's headers.", request=request)
                head_size += len(received)
                reply.feed(received, request)
                if not reply.head_done and head_size > _MAX_HEAD:
                    raise httpx.RemoteProtocolError(
                        f"the reply's headers are larger than {_MAX_HEAD // 1024} KiB", request=request)
        except httpx.RemoteProtocolError:
            connection.close()
            raise
        except OSError as exc:
            connection.close()
            raise _as_httpx(exc, "read", request) from exc
        version = reply.parser.get_http_version()
        return httpx.Response(
            reply.status,
            headers=reply.headers,
            stream=_ReplyBody(self, connection, reply, request, read_timeout),
            extensions={"http_version": b"HTTP/" + version.encode("ascii")},
            request=request,
        )
