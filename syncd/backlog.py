"""What waits for an operator, read from the state database: record errors by cause, records named.

Shared by ``syncd errors list``, the conflict views and the daemon's status page;
reads only the state database (no API call, no secret).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from syncd.core.label import record_label


def link_labels(store: Any, rows: Iterable[Any]) -> dict[int, str]:
    """Link id -> who the linked record is, from each link's stored values, for ``rows`` with a ``link_id``.

    Only the links named are read (by row id), not every link of the pair.
    """
    wanted: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        if getattr(row, "link_id", None) is not None:
            wanted.setdefault((row.pair, row.entity), set()).add(row.link_id)
    labels: dict[int, str] = {}
    for (pair, entity), ids in wanted.items():
        for link in store.links_with_ids(pair, entity, ids):
            if link.base:
                label = record_label(entity, json.loads(link.base))
                if label:
                    labels[link.id] = label
    return labels


def _side_labels(store: Any, rows: Sequence[Any]) -> dict[tuple[str, str, str, str], tuple[str | None, str | None]]:
    """(pair, entity, side, record id) -> (the link's label, the other side's id), for linked records.

    Only the links of the records named are read (by record id, through each side's index).
    """
    wanted: dict[tuple[str, str, str], set[str]] = {}
    for r in rows:
        wanted.setdefault((r.pair, r.entity, r.source_side), set()).add(r.record_id)
    out_map: dict[tuple[str, str, str, str], tuple[str | None, str | None]] = {}
    for (pair, entity, side), ids in wanted.items():
        for link in store.links_by_ids(pair, entity, side, ids):
            label = record_label(entity, json.loads(link.base)) if link.base else None
            if side == "cloze" and link.cloze_id:
                out_map[(pair, entity, "cloze", link.cloze_id)] = (label, link.external_id)
            elif side == "external" and link.external_id:
                out_map[(pair, entity, "external", link.external_id)] = (label, link.cloze_id)
    return out_map


def error_groups(store: Any, pair: str | None) -> list[dict[str, Any]]:
    """Open record errors grouped by cause, the largest group first."""
    rows = store.open_errors(pair)
    linked = _side_labels(store, rows)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row.pair, row.entity, row.side, row.op, row.code or "", row.field or "", row.message)
        group = groups.setdefault(key, {
            "pair": row.pair, "entity": row.entity, "side": row.side, "op": row.op, "code": row.code,
            "field": row.field, "cause": row.message, "count": 0, "records": []})
        label, other_id = linked.get((row.pair, row.entity, row.source_side, row.record_id), (None, None))
        group["count"] += 1
        group["records"].append({
            "record": row.label or label, "side": row.source_side, "side_id": row.record_id, "other_id": other_id,
            "attempts": row.attempts,
            "last_seen": datetime.fromtimestamp(row.last_seen / 1000, tz=UTC).isoformat(timespec="seconds"),
        })
    return sorted(groups.values(), key=lambda g: (-g["count"], g["pair"], g["entity"], g["cause"]))
