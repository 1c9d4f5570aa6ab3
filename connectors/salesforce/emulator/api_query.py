"""``/query`` and ``/queryAll``, paged through ``nextRecordsUrl`` locators (queryMore)."""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from connectors.salesforce import ids
from connectors.salesforce.emulator.call import Call, Reply
from connectors.salesforce.emulator.errors import api_error
from connectors.salesforce.emulator.query import execute

_BATCH = re.compile(r"batchsize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class Cursor:
    rows: list[dict[str, Any]]
    total: int
    endpoint: str  # query | queryAll
    batch: int
    created: float


class Cursors:
    """Open query locators: the rest of a result set, held for the locator's lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Cursor] = {}

    def open(self, cursor: Cursor) -> str:
        locator = ids.mint("0r8", "xx", secrets.randbits(56))[:15]
        with self._lock:
            self._open[locator] = cursor
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            return self._open.get(locator)

    def expire_all(self) -> None:
        with self._lock:
            self._open.clear()


def _batch_size(call: Call) -> int:
    size = call.settings.query_batch_size
    match = _BATCH.search(call.header("Sforce-Query-Options") or "")
    if match:
        size = max(200, min(2_000, int(match.group(1))))
    return size


def run(call: Call, cursors: Cursors, endpoint: str) -> Reply:
    text = call.arg("q")
    if not text:
        raise api_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    rows, total = execute(call.store, text, include_deleted=endpoint == "queryAll", version=call.version)
    cursor = Cursor(rows, total, endpoint, _batch_size(call), call.store.clock.now())
    return Reply(200, _page(call, cursors, cursor, 0, None))


def more(call: Call, cursors: Cursors, endpoint: str, locator_offset: str) -> Reply:
    locator, _, offset_text = locator_offset.rpartition("-")
    cursor = cursors.get(locator) if offset_text.isdigit() else None
    ttl = call.settings.query_locator_ttl_seconds
    if cursor is None or call.store.clock.now() - cursor.created > ttl:
        raise api_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return Reply(200, _page(call, cursors, cursor, int(offset_text), locator))


def _page(call: Call, cursors: Cursors, cursor: Cursor, offset: int, locator: str | None) -> dict[str, Any]:
    end = offset + cursor.batch
    body: dict[str, Any] = {"totalSize": cursor.total, "done": end >= len(cursor.rows),
                            "records": cursor.rows[offset:end]}
    if not body["done"]:
        locator = locator or cursors.open(cursor)
        body["nextRecordsUrl"] = f"/services/data/v{call.version}/{cursor.endpoint}/{locator}-{end}"
    return body
