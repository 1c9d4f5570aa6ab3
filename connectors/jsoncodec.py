"""JSON on the hot paths (each reply decoded, each request body and each record kept for the run
encoded): orjson, in C, where it gives the standard library's answer; the standard library where
it would not.

A sync decodes and encodes a few JSON documents per record written, and the standard library's
codec was about a tenth of ``syncd``'s CPU in an initial reconcile. orjson is three to fifteen
times faster. The standard library stays the reference, so nothing that decoded or failed before
changes:

- orjson refuses some documents the standard library reads (``NaN``, ``Infinity``, nesting past
  1,024 levels); those are decoded again by the standard library, which either reads them as
  before or raises what it raised before.
- orjson reads an integer past 64 bits as a float, losing digits: a document with a run of 19
  digits or more anywhere (in a string too, to keep the check a single scan) is left to the
  standard library.
- orjson writes some values the standard library refuses (datetimes, dataclasses, ``NaN`` as
  ``null``); those are handed to the standard library, which raises as before.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


_LONG_NUMBER_TEXT = re.compile(r"[0-9]{19}")
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def _has_long_number(data: bytes | bytearray | str) -> bool:
    if isinstance(data, str):
        return _LONG_NUMBER_TEXT.search(data) is not None
    # Two passes in C (a regular expression scans a large page ten times slower).
    return data.translate(_DIGITS_AS_ZERO).find(_NINETEEN_DIGITS) >= 0


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads(data)``."""
    if not _has_long_number(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON: ``json.dumps(value, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False).encode()``, which is how httpx encodes a request's ``json=``."""
    try:
        out = orjson.dumps(value, option=_STRICT)
    except TypeError:  # a key that is not a string, a 65-bit integer, a type only orjson would write
        return _stdlib(value)
    if b"null" in out and _non_finite(value):  # orjson writes NaN and infinities as null
        return _stdlib(value)
    return out


def _stdlib(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return False
