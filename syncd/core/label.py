"""A short human name for a record, so operators see *who* an error or a conflict is about.

``record_label`` turns canonical values (as planned, or a link's stored base) into
``Ann Lee <ann@acme.example>`` for a person, ``Acme (acme.example)`` for a company
and the name of a project. Pure: plain values in, a string (or None) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _first(values: Any) -> str | None:
    if isinstance(values, str):
        return values or None
    if isinstance(values, Iterable):
        items = sorted(str(v) for v in values if v)
        return items[0] if items else None
    return None


def record_label(entity: str, values: Mapping[str, Any] | None) -> str | None:
    """``First Last <email>`` (person), ``Name (domain)`` (company), ``name`` (project); None if nothing is known."""
    if not values:
        return None
    if entity == "person":
        name = " ".join(str(values[k]) for k in ("first", "last") if values.get(k))
        email = _first(values.get("emails"))
        if name and email:
            return f"{name} <{email}>"
        return name or email
    title = str(values["name"]) if values.get("name") else None
    if entity == "company":
        domain = _first(values.get("domains"))
        if title and domain:
            return f"{title} ({domain})"
        return title or domain
    return title
