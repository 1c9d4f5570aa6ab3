"""Canonical forms of field values, so that equal data compares equal on both sides.

Pure functions. A scalar becomes ``str | None`` and a multi-valued field a
``frozenset[str]``; a value that cannot be read raises :class:`BadValue`, which
the caller turns into a recorded field problem (the rest of the record syncs).

Values arrive here as a connector's ``to_record`` left them: plain text, numbers,
dates and lists of strings. A system's own wire forms (an empty value spelt
``"none"``, a tagged decimal, list elements that are objects) are that
connector's to undo, so one system's quirk never becomes every system's rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.model import FieldKind

Value = str | frozenset[str] | None

MAX_TEXT = 65_536  # longer values are refused rather than silently truncated


class BadValue(ValueError):
    """A value that cannot be put in canonical form; the message says why."""


_CONTROL = {c: None for c in range(32) if c not in (9, 10)}
_CONTROL[127] = None


def _clean(text: str) -> str:
    # NUL and other control characters are never meaningful in CRM text and some
    # APIs reject them; NFC makes composed and decomposed accents compare equal.
    if text.isascii() and text.isprintable():
        return text  # no control character, and ASCII is its own NFC: most values, at a fraction of the cost
    return unicodedata.normalize("NFC", text.translate(_CONTROL))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue("expected text, got a boolean")
    if isinstance(value, (int, float, Decimal)):
        value = str(value)
    if not isinstance(value, str):
        raise BadValue(f"expected text, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise BadValue(f"text longer than {MAX_TEXT} characters")
    return _clean(value)


def norm_text(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def norm_longtext(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    return text if text.strip() else None


def norm_enum(value: Any) -> str | None:
    text = norm_text(value)
    return None if text is None else text.lower()


def norm_number(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadValue("expected a number, got a boolean")
    try:
        number = Decimal(str(value).strip().replace(",", "")) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise BadValue("expected a number") from None
    if not number.is_finite():
        raise BadValue("expected a finite number")
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def norm_ref(value: Any) -> str | None:
    """A record id (a number, as Tryton's, becomes its text); compared exactly."""
    text = _text(value)
    return (text.strip() or None) if text is not None else None


def norm_date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat() if value.tzinfo else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC).date().isoformat()
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{12,14}", text):
            return norm_date(int(text))
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            pass
    raise BadValue("expected a date (YYYY-MM-DD)")


def _items(value: Any) -> Iterable[Any]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    raise BadValue(f"expected a list, got {type(value).__name__}")


def norm_email(text: str) -> str:
    return text.strip().lower()


def norm_phone(text: str) -> str:
    text = text.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return ("+" + digits) if text.startswith("+") and digits else digits


def norm_domain(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].rstrip(".")
    text = text.removeprefix("www.")
    return text


def _same(text: str) -> str:
    return text


def norm_id(text: str) -> str:
    """A record id: compared exactly (ids are case-sensitive), surrounding blanks dropped."""
    return text.strip()


_ELEMENT: dict[FieldKind, Callable[[str], str]] = {
    FieldKind.EMAILS: norm_email,
    FieldKind.PHONES: norm_phone,
    FieldKind.DOMAINS: norm_domain,
    FieldKind.TAGS: _same,
    FieldKind.SET: _same,
    FieldKind.REFS: norm_id,
}


# One shared empty set: most set fields of most records are empty, and each empty
# ``frozenset()`` would otherwise take 216 bytes of its own.
EMPTY: frozenset[str] = frozenset()


def norm_set(kind: FieldKind, value: Any) -> frozenset[str]:
    element = _ELEMENT[kind]
    out: set[str] = set()
    for item in _items(value):
        text = norm_text(item)
        if text:
            normalised = element(text)
            if normalised:
                out.add(normalised)
    return frozenset(out) if out else EMPTY


_SCALAR: dict[FieldKind, Callable[[Any], str | None]] = {
    FieldKind.TEXT: norm_text,
    FieldKind.LONGTEXT: norm_longtext,
    FieldKind.ENUM: norm_enum,
    FieldKind.NUMBER: norm_number,
    FieldKind.DATE: norm_date,
    FieldKind.REF: norm_ref,
}


def normalize(kind: FieldKind, value: Any) -> Value:
    """The canonical form of ``value`` for a field of ``kind``; raises :class:`BadValue`."""
    if kind.is_set:
        return norm_set(kind, value)
    return _SCALAR[kind](value)


def to_json(value: Value) -> Any:
    """A canonical value as JSON (sets as sorted lists)."""
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def from_json(kind: FieldKind, value: Any) -> Value:
    """The inverse of :func:`to_json`."""
    if kind.is_set:
        return frozenset(value) if value else EMPTY
    return value if value is None else str(value)
