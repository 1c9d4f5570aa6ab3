"""Tryton's JSON value encodings, both ways, without importing Tryton.

Tryton's JSON-RPC and REST protocols carry values JSON has no type for as tagged
objects: ``{"__class__": "datetime", "year": ..., "microsecond": ...}``, ``date``,
``time``, ``timedelta`` (``seconds``), ``Decimal`` (``decimal``, a string, so no
precision is lost) and ``bytes`` (``base64``). Datetimes are naive and mean the
server's time zone (UTC on a well-run server); an aware datetime is converted to
UTC before it is sent.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo


class WireError(ValueError):
    """A tagged value that does not decode (a malformed server reply)."""


def encode(value: Any) -> Any:
    """A Python value as Tryton JSON (recursively)."""
    if isinstance(value, dt.datetime):  # before date: datetime is a date
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dt.time):
        return {"__class__": "time", "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise WireError(f"Tryton cannot store the number {value}")
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__class__": "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    return value


def _tagged(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind is None:
        return obj
    try:
        if kind == "datetime":
            return dt.datetime(obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"],
                               obj["second"], obj.get("microsecond", 0))
        if kind == "date":
            return dt.date(obj["year"], obj["month"], obj["day"])
        if kind == "time":
            return dt.time(obj["hour"], obj["minute"], obj["second"], obj.get("microsecond", 0))
        if kind == "timedelta":
            return dt.timedelta(seconds=obj["seconds"])
        if kind == "Decimal":
            return Decimal(obj["decimal"])
        if kind == "bytes":
            return base64.b64decode(obj["base64"])
    except (KeyError, TypeError, ValueError, InvalidOperation, binascii.Error) as exc:
        raise WireError(f"malformed {kind} value from Tryton: {exc}") from None
    return obj  # an unknown tag: pass it on untouched


def dumps(value: Any) -> str:
    """Request body text."""
    return json.dumps(encode(value), separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """Response body -> Python values (tagged objects decoded); a body nested too deeply is a ValueError."""
    try:
        return json.loads(text, object_hook=_tagged)
    except RecursionError:
        raise ValueError("the reply is nested too deeply to decode") from None


def decode(value: Any) -> Any:
    """Decode tagged objects inside an already parsed JSON value."""
    if isinstance(value, dict):
        return _tagged({k: decode(v) for k, v in value.items()})
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def epoch_ms(value: dt.datetime, zone: str = "UTC") -> int:
    """A server timestamp (naive, in ``zone``) as epoch milliseconds."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(zone))
    return int(aware.timestamp() * 1000)


def scalar_text(value: Any) -> str | None:
    """A Tryton field value as the canonical text the engine compares (exact for Decimal)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
