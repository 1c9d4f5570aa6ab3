"""Pure conversions between Tryton rows and canonical values.

Names: a person's party has one ``name``. With ``name_split = "first_word"`` the
first word is ``first`` and the rest ``last`` ("Jean Claude Van Damme" -> "Jean",
"Claude Van Damme"); with ``"last_word"`` the last word is ``last``. A one-word name
is all ``first``. Writing joins ``first`` and ``last`` with one space, so a first
name of several words (under ``first_word``) reads back split differently: pick the
rule that fits the data.

Addresses: one line per active address, Tryton's ``full_address`` with its lines
joined by ", ". An address written from Cloze is stored whole in ``street``, so
it reads back exactly as written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from connectors.model import SetPatch
from connectors.tryton.encoding import scalar_text

NameSplit = Literal["first_word", "last_word"]


def split_name(name: str | None, rule: NameSplit) -> tuple[str | None, str | None]:
    words = (name or "").split()
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    if rule == "first_word":
        return words[0], " ".join(words[1:])
    return " ".join(words[:-1]), words[-1]


def join_name(first: str | None, last: str | None) -> str:
    return " ".join(p.strip() for p in (first, last) if p and p.strip())


def address_line(row: Mapping[str, Any]) -> str | None:
    """One formatted line for an address row (``full_address``, else its parts)."""
    text = row.get("full_address")
    if not isinstance(text, str) or not text.strip():
        parts = [row.get("street"), " ".join(p for p in (row.get("postal_code"), row.get("city")) if p)]
        text = "\n".join(p for p in parts if isinstance(p, str) and p)
    line = ", ".join(" ".join(part.split()) for part in text.splitlines() if part.strip())
    return line or None


@dataclass(frozen=True)
class SetChange:
    """What to do to a one2many/many2many so it reflects a :class:`SetPatch`."""

    remove_ids: tuple[int, ...]
    add_values: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.remove_ids or self.add_values)


def set_change(current: Sequence[tuple[int, str]], patch: SetPatch, norm: Callable[[str], str]) -> SetChange:
    """Apply ``patch`` to the current ``(id, value)`` elements, comparing normalised values.

    Additions and removals are applied to what the record holds *now*, so an element
    someone else added in the meantime stays. A patch with neither additions nor
    removals adds the members of its ``result`` that are missing (it never removes).
    """
    removed = {norm(v) for v in patch.remove}
    adds = patch.add if (patch.add or patch.remove) else patch.result
    remove_ids = tuple(rid for rid, value in current if norm(value) in removed)
    have = {norm(value) for _, value in current if norm(value) not in removed}
    add_values: list[str] = []
    for value in sorted(adds):
        key = norm(value)
        if key and key not in have and key not in removed:
            have.add(key)
            add_values.append(value)
    return SetChange(remove_ids, tuple(add_values))


def elements(rows: Iterable[Mapping[str, Any]], *, types: Iterable[str] | None = None) -> list[tuple[int, str]]:
    """``(id, value)`` of active child rows (optionally of the given contact types)."""
    wanted = set(types) if types is not None else None
    out = []
    for row in rows or ():
        if not row.get("active", True):
            continue
        if wanted is not None and row.get("type") not in wanted:
            continue
        value = row.get("value")
        if isinstance(value, str) and value.strip():
            out.append((int(row["id"]), value.strip()))
    return out


# -- plain ("custom:<field>") fields --------------------------------------------------------

PLAIN_TYPES = {"char", "text", "selection", "integer", "float", "numeric", "date", "datetime", "timestamp",
               "boolean"}


def read_plain(ttype: str, value: Any) -> Any:
    """A plain field's value as the engine should see it (Decimal kept exact)."""
    if value is None:
        return None
    if ttype == "boolean":
        return "true" if bool(value) else "false"  # SQLite answers 0/1
    if ttype == "numeric" and isinstance(value, Decimal):
        return value
    return scalar_text(value)


def write_plain(ttype: str, text: str | None) -> Any:
    """Canonical text -> the value a plain field of ``ttype`` takes; raises ``ValueError``."""
    if text is None or text == "":
        return False if ttype == "boolean" else None
    if ttype in ("char", "text", "selection"):
        return text
    if ttype == "integer":
        return int(Decimal(text))
    if ttype == "float":
        return float(text)
    if ttype == "numeric":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a number: {text!r}") from None
    if ttype == "date":
        return dt.date.fromisoformat(text[:10])
    if ttype in ("datetime", "timestamp"):
        return dt.datetime.fromisoformat(text)
    if ttype == "boolean":
        if text.lower() in ("true", "1", "yes", "y", "on"):
            return True
        if text.lower() in ("false", "0", "no", "n", "off"):
            return False
        raise ValueError(f"not a yes/no value: {text!r}")
    raise ValueError(f"fields of type {ttype} cannot be synced")
