"""What the hostile proxy can do to a reply: slow, loop, inflate, truncate, nest, mistype.

Each fault is an object with ``serve(exchange)``; most start from the real reply
(:meth:`~tests.hostile.proxy.Exchange.upstream`) and damage it, so they work in
front of any JSON API. The few that must invent records (an endless feed) take
a small page-maker; :func:`cloze_feed_page` and :func:`hubspot_list_page` are the
ones for the Cloze feed and HubSpot's object listing.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.hostile.proxy import Exchange, Upstream

Json = Any


class Fault(Protocol):
    def serve(self, exchange: Exchange) -> None: ...


def _json_headers(length: int | None) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json")]
    headers.append(("Content-Length", str(length)) if length is not None else ("Transfer-Encoding", "chunked"))
    return headers


@dataclass
class Slow:
    """Slowloris: the real reply, one byte every ``byte_interval`` seconds (headers too, if asked)."""

    byte_interval: float = 0.2
    trickle_headers: bool = False

    def serve(self, ex: Exchange) -> None:
        real = ex.upstream()
        if self.trickle_headers:
            head = (f"HTTP/1.1 {real.status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(real.body)}\r\n\r\n").encode()
            ex.close_connection()
            data = head + real.body
            # The handler has not written anything yet: trickle straight to the socket.
            for byte in data:
                if not ex.write(bytes([byte])) or ex.proxy.stopping.wait(self.byte_interval):
                    return
            return
        ex.start(real.status, _json_headers(len(real.body)))
        for byte in real.body:
            if not ex.write(bytes([byte])) or ex.proxy.stopping.wait(self.byte_interval):
                ex.close_connection()
                return


def holds_records(data: Json) -> bool:
    """A JSON object with a non-empty list at its top level (a page that carries records)."""
    return isinstance(data, dict) and any(isinstance(v, list) and v for v in data.values())


@dataclass
class Loop:
    """A cursor or page that never advances: the first real reply that ``starts`` accepts, replayed forever.

    Replies before it (an empty page taken to learn the feed's current position, say)
    are forwarded unchanged.
    """

    starts: Callable[[Json], bool] = holds_records
    _first: Upstream | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, ex: Exchange) -> None:
        with self._lock:
            first = self._first
        if first is None:
            real = ex.upstream()
            if self.starts(json.loads(real.body)):
                with self._lock:
                    self._first = real
            first = real
        ex.reply(first.status, first.body)


PageMaker = Callable[[Json, int], Json]
"""Builds page ``n`` (1, 2, ...) from the first real reply, decoded."""


@dataclass
class Endless:
    """A feed that never ends: page ``n`` holds new records and a new position, made by ``page``.

    The first real reply that ``starts`` accepts is the template; replies before it are forwarded.
    """

    page: PageMaker
    starts: Callable[[Json], bool] = holds_records
    served: int = 0
    _template: Json = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, ex: Exchange) -> None:
        with self._lock:
            template = self._template
        if template is None:
            real = ex.upstream()
            data = json.loads(real.body)
            if not self.starts(data):  # not yet a page of records to copy: forward as it is
                ex.reply(real.status, real.body)
                return
            with self._lock:
                self._template = template = data
        with self._lock:
            self.served += 1
            n = self.served
        ex.reply(200, json.dumps(self.page(copy.deepcopy(template), n)).encode())


@dataclass
class Inflate:
    """A valid but huge reply: the real JSON object with a ``padding`` member of ``size`` bytes in front.

    ``announce``: send the length up front (``Content-Length``); otherwise the reply is
    chunked and its length unknown until the end, as a streaming server would send it.
    """

    size: int
    announce: bool = False
    chunk: int = 1 << 20

    def serve(self, ex: Exchange) -> None:
        real = ex.upstream()
        body = real.body.strip()
        assert body.startswith(b"{"), "Inflate needs a JSON object reply"
        head, tail = b'{"padding": "', b'", ' + body[1:] if body != b"{}" else b'"}'
        total = len(head) + self.size + len(tail)
        ex.start(real.status, _json_headers(total if self.announce else None))
        framed = (lambda data: data) if self.announce else (lambda data: b"%x\r\n%s\r\n" % (len(data), data))
        if not ex.write(framed(head)):
            return
        left = self.size
        block = b"x" * self.chunk
        while left > 0:
            part = block if left >= self.chunk else block[:left]
            if not ex.write(framed(part)):
                ex.close_connection()
                return
            left -= len(part)
        ex.write(framed(tail))
        if not self.announce:
            ex.write(b"0\r\n\r\n")


@dataclass
class Truncate:
    """The real reply announced in full, cut off after ``keep`` of it, then the connection closed."""

    keep: float = 0.5

    def serve(self, ex: Exchange) -> None:
        real = ex.upstream()
        ex.start(real.status, _json_headers(len(real.body)))
        ex.write(real.body[: int(len(real.body) * self.keep)])
        ex.close_connection()


@dataclass
class Nest:
    """Valid JSON nested ``depth`` levels deep (past any recursive decoder's limit)."""

    depth: int = 100_000

    def serve(self, ex: Exchange) -> None:
        ex.reply(200, b"[" * self.depth + b"]" * self.depth)


@dataclass
class Mistype:
    """The real JSON reply with the member at ``path`` (keys and list indexes) replaced by ``value``."""

    path: Sequence[str | int]
    value: Json

    def serve(self, ex: Exchange) -> None:
        real = ex.upstream()
        data = json.loads(real.body)
        target = data
        for key in self.path[:-1]:
            target = target[key]
        target[self.path[-1]] = self.value
        ex.reply(real.status, json.dumps(data).encode())


@dataclass
class Html:
    """A web page where the API's JSON belongs (a wrong ``base_url``: a login page, a proxy's 404)."""

    status: int = 200

    def serve(self, ex: Exchange) -> None:
        page = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"
        ex.reply(self.status, page, "text/html; charset=utf-8")


@dataclass
class Status:
    """A bare error status with a small JSON body (``Retry-After`` if given)."""

    status: int = 503
    retry_after: float | None = None

    def serve(self, ex: Exchange) -> None:
        extra = [("Retry-After", f"{self.retry_after:g}")] if self.retry_after is not None else []
        ex.reply(self.status, json.dumps({"errorcode": 500, "message": "try again later"}).encode(), extra=extra)


# -- page makers for endless feeds ---------------------------------------------------


def cloze_feed_page(kind: str = "people") -> PageMaker:
    """Cloze feed page ``n``: the first page's records under new ids and e-mails, and a new cursor."""

    def make(first: Json, n: int) -> Json:
        records = first.get(kind) or []
        assert records, "seed a few Cloze records first: the endless feed copies them"
        out = []
        for i, record in enumerate(records):
            clone = dict(record)
            for key in ("direct", "syncKey"):
                if clone.get(key):
                    clone[key] = f"{clone[key]}-e{n}x{i}"
            if clone.get("emails"):
                clone["emails"] = [{"value": f"endless{n}x{i}@{kind}.example"}]
            clone["lastChanged"] = int(clone.get("lastChanged") or 0) + n
            out.append(clone)
        first[kind] = out
        first["cursor"] = f"endless-{n}"
        return first

    return make


def hubspot_list_page(first: Json, n: int) -> Json:
    """HubSpot listing page ``n``: the first page's objects under new ids, and a new ``after`` token."""
    results = first.get("results") or []
    assert results, "seed a few HubSpot objects first: the endless listing copies them"
    out = []
    for i, row in enumerate(results):
        clone = copy.deepcopy(row)
        new_id = str(10_000_000 + n * 1000 + i)
        clone["id"] = new_id
        props = clone.setdefault("properties", {})
        props["hs_object_id"] = new_id
        if props.get("email"):
            props["email"] = f"endless{n}x{i}@contacts.example"
        out.append(clone)
    first["results"] = out
    first["paging"] = {"next": {"after": f"endless-{n}"}}
    return first


__all__ = ["Endless", "Fault", "Html", "Inflate", "Loop", "Mistype", "Nest", "Slow", "Status", "Truncate",
           "cloze_feed_page", "hubspot_list_page"]
