"""Value conversions between HubSpot's property strings and canonical field values.

HubSpot keeps several canonical set members in fixed slots (a contact's ``email`` plus
``hs_additional_emails``; ``phone`` plus ``mobilephone``; one postal address in five
properties). Writing a set keeps every member that is already in its slot, so a
re-sync never reshuffles a contact's primary e-mail.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence

from connectors.model import SetPatch

_SPACES = re.compile(r"\s+")


def split_joined(value: str | None) -> list[str]:
    """``a;b; c`` -> ``["a", "b", "c"]`` (HubSpot's multi-value separator is ``;``)."""
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def join(values: Sequence[str] | set[str] | frozenset[str]) -> str:
    return ";".join(sorted({v.strip() for v in values if v and v.strip()}))


def norm_email(value: str) -> str:
    return value.strip().lower()


def norm_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return ("+" + digits) if value.strip().startswith("+") else digits


def norm_domain(value: str) -> str:
    text = value.strip().lower()
    text = re.sub(r"^[a-z]+://", "", text)
    text = text.split("/")[0]
    return text.removeprefix("www.")


def norm_text(value: str) -> str:
    return _SPACES.sub(" ", value).strip().lower()


def patch_result(patch: SetPatch, current: Sequence[str], norm: Callable[[str], str]) -> list[str]:
    """The set a patch asks for. ``result`` when given; else ``current - remove + add``."""
    if patch.result or not (patch.add or patch.remove):
        return sorted(patch.result)
    removed = {norm(v) for v in patch.remove}
    kept = [v for v in current if norm(v) not in removed]
    known = {norm(v) for v in kept}
    return kept + sorted(v for v in patch.add if norm(v) not in known)


def fill_slots(wanted: Sequence[str], current: Sequence[str | None], norm: Callable[[str], str]
               ) -> tuple[list[str | None], list[str]]:
    """Place ``wanted`` values into ``len(current)`` slots, keeping those already in place.

    Returns the new slot values (``None`` = empty) and the values that did not fit.
    """
    remaining = {norm(v): v for v in sorted(wanted)}
    slots: list[str | None] = []
    for value in current:
        if value and norm(value) in remaining:
            remaining.pop(norm(value))
            slots.append(value)
        else:
            slots.append(None)
    leftovers = list(remaining.values())
    for index, value in enumerate(slots):
        if value is None and leftovers:
            slots[index] = leftovers.pop(0)
    return slots, leftovers


def primary_and_rest(wanted: Sequence[str], primary: str | None, norm: Callable[[str], str]
                     ) -> tuple[str, list[str]]:
    """Keep the current primary if still wanted, else the first wanted; the rest go to the extra list."""
    by_norm = {norm(v): v for v in sorted(wanted)}
    if primary and norm(primary) in by_norm:
        chosen = primary
    elif by_norm:
        chosen = next(iter(by_norm.values()))
    else:
        return "", []
    rest = [v for k, v in by_norm.items() if k != norm(chosen)]
    return chosen, rest


# -- postal addresses ----------------------------------------------------------------

ADDRESS_PARTS = ("address", "city", "state", "zip", "country")


def format_address(parts: dict[str, str | None], *, street_extra: str | None = None) -> str | None:
    """``street, city, state zip, country`` with empty parts left out."""
    street = ", ".join(p.strip() for p in (parts.get("address"), street_extra) if p and p.strip())
    region = " ".join(p.strip() for p in (parts.get("state"), parts.get("zip")) if p and p.strip())
    pieces = [street, (parts.get("city") or "").strip(), region, (parts.get("country") or "").strip()]
    line = ", ".join(p for p in pieces if p)
    return line or None


def parse_address(line: str) -> dict[str, str]:
    """The five properties for one formatted line; reading them back gives the same line.

    A line in the ``street, city, state zip, country`` shape is split into its parts;
    anything else is stored whole in ``address`` with the other parts cleared.
    """
    text = _SPACES.sub(" ", line).strip()
    whole = {"address": text, "city": "", "state": "", "zip": "", "country": ""}
    pieces = [p.strip() for p in text.split(",")]
    if len(pieces) != 4 or not all(pieces):
        return whole
    street, city, region, country = pieces
    tokens = region.split(" ")
    if len(tokens) >= 2 and any(ch.isdigit() for ch in tokens[-1]):
        state, zip_code = " ".join(tokens[:-1]), tokens[-1]
    elif any(ch.isdigit() for ch in region):
        state, zip_code = "", region
    else:
        state, zip_code = region, ""
    parsed = {"address": street, "city": city, "state": state, "zip": zip_code, "country": country}
    return parsed if format_address(dict(parsed)) == text else whole


# -- dates -----------------------------------------------------------------------------

def ms_from(value: str | None) -> int | None:
    """Epoch ms from HubSpot's datetime forms (ISO 8601 or ms)."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return round(stamp.timestamp() * 1000)


def date_part(value: str | None) -> str | None:
    """``YYYY-MM-DD`` of a HubSpot datetime, in UTC."""
    ms = ms_from(value)
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def midnight_ms(day: str) -> str:
    """A canonical ``YYYY-MM-DD`` as HubSpot datetime input: epoch ms at 00:00 UTC."""
    parsed = dt.date.fromisoformat(day.strip()[:10])
    return str(int(dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.UTC).timestamp() * 1000))
