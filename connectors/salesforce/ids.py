"""Salesforce record ids: 15 case-sensitive base-62 characters, or 18 with a case-safe checksum suffix.

The suffix encodes, for each 5-character chunk of the 15, which characters are upper-case letters.
"""

from __future__ import annotations

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum(id15: str) -> str:
    """The 3-character case-safe suffix of a 15-character id."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if "A" <= ch <= "Z")
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(value: str) -> str:
    """The 18-character form of a 15- or 18-character id; ValueError for anything else or a bad suffix."""
    if len(value) == 15 and value.isalnum():
        return value + checksum(value)
    if len(value) == 18 and value.isalnum():
        if checksum(value[:15]) != value[15:]:
            raise ValueError(f"id {value!r} has a wrong checksum suffix")
        return value
    raise ValueError(f"{value!r} is not a 15- or 18-character Salesforce id")


def normalize(value: str) -> str | None:
    """``to18(value)``, or ``None`` when ``value`` is not an id."""
    try:
        return to18(value)
    except ValueError:
        return None


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base-62 digits")
    return text.rjust(width, "0")


def mint(prefix: str, pod: str, serial: int) -> str:
    """An 18-character id: 3-character key prefix, 2-character pod, 10-digit base-62 serial, checksum."""
    id15 = f"{prefix}{pod}{base62(serial, 10)}"
    return id15 + checksum(id15)
