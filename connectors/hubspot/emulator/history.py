"""Property history (``propertiesWithHistory``): every value a property was given, newest first.

HubSpot documents the parameter on the object read, list and batch-read endpoints (not on
search) and returns, per requested property, a list of ``{value, timestamp, sourceType,
sourceId, sourceLabel, updatedByUserId}``. The store records one entry per value written;
this module is the only place that shapes them for a reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.emulator import schema

API = "INTEGRATION"  # a write through the API with a private-app or Service Key token
UI = "CRM_UI"  # a record added behind the API's back (the emulator's admin calls)
MERGE = "MERGE"
LIST_LIMIT = 50  # HubSpot lowers a list page to 50 records when history is asked for


@dataclass(frozen=True)
class Entry:
    value: str
    timestamp_ms: int
    source_type: str
    source_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "timestamp": schema.iso_from_ms(self.timestamp_ms),
                               "sourceType": self.source_type}
        if self.source_id is not None:
            out["sourceId"] = self.source_id
        return out


History = dict[str, list[Entry]]


def record(history: History, values: dict[str, str], stamp_ms: int, source_type: str,
           source_id: str | None = None) -> None:
    """Append one entry per written property (an empty string is a recorded clear, as in HubSpot)."""
    for name, value in values.items():
        history.setdefault(name, []).append(Entry(value, stamp_ms, source_type, source_id))


def render(history: History, names: Iterable[str], defined: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """``{property: [entry, ...]}`` newest first, for the requested properties the type defines."""
    known = set(defined)
    return {name: [e.to_json() for e in reversed(history.get(name, []))] for name in names if name in known}
