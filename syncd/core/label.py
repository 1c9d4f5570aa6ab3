"""A short human name for a record, so operators see *who* an error or a conflict is about.

``record_label`` turns canonical values (as planned, or a link's stored base) into the
name its kind declares (:class:`~connectors.entities.EntitySpec` ``label_name`` and
``label_key``): ``Ann Lee <ann@acme.example>`` for a person, ``Acme (acme.example)`` for a
company and the name of a project. Pure: plain values in, a string (or None) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors.entities import ENTITY_KINDS
from connectors.model import FieldKind


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
    spec = ENTITY_KINDS.get(entity)
    name = " ".join(str(values[k]) for k in (spec.label_name if spec else ("name",)) if values.get(k)) or None
    key_field = spec.label_key if spec else None
    key = _first(values.get(key_field)) if key_field else None
    if spec and key_field and name and key:
        return f"{name} <{key}>" if spec.fields[key_field].kind is FieldKind.EMAILS else f"{name} ({key})"
    return name or key
