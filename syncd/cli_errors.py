"""``syncd errors list``: the records a side refused, grouped by cause, each named.

It reads only the state database (no API keys needed). A group is one cause:
the same entity, refusing side, operation, code and message; each record in it
shows who it is (``Ann Lee <ann@acme.example>``, stored when the error was
recorded, or derived from the link's stored values) and its id on each side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from syncd.cli import Table, config_option, load, open_store, out
from syncd.cli_lazy import escape
from syncd.core.label import record_label


def link_labels(store: Any, rows: Iterable[Any]) -> dict[int, str]:
    """Link id -> who the linked record is, from each link's stored values, for ``rows`` with a ``link_id``."""
    wanted: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        if getattr(row, "link_id", None) is not None:
            wanted.setdefault((row.pair, row.entity), set()).add(row.link_id)
    labels: dict[int, str] = {}
    for (pair, entity), ids in wanted.items():
        for link in store.links(pair, entity):
            if link.id in ids and link.base:
                label = record_label(entity, json.loads(link.base))
                if label:
                    labels[link.id] = label
    return labels


def _side_labels(store: Any, rows: Sequence[Any]) -> dict[tuple[str, str, str, str], tuple[str | None, str | None]]:
    """(pair, entity, side, record id) -> (the link's label, the other side's id), for linked records."""
    out_map: dict[tuple[str, str, str, str], tuple[str | None, str | None]] = {}
    for pair, entity in {(r.pair, r.entity) for r in rows}:
        for link in store.links(pair, entity):
            label = record_label(entity, json.loads(link.base)) if link.base else None
            if link.cloze_id:
                out_map[(pair, entity, "cloze", link.cloze_id)] = (label, link.external_id)
            if link.external_id:
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


@click.group("errors")
def errors_group() -> None:
    """List the records a side refused, grouped by cause."""


@errors_group.command("list")
@config_option
@click.option("--pair", help="only this pair (default: every pair)")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="records shown per cause (--json lists all)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def errors_list(config_path: Path | None, pair: str | None, limit: int, as_json: bool) -> None:
    """Open record errors by cause, each record named, with its id on each side; needs no API keys."""
    loaded = load(config_path, quiet=True, secrets=False)
    store = open_store(loaded, readonly=True)
    try:
        groups = error_groups(store, pair)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(groups, ensure_ascii=False, indent=2))
        return
    if not groups:
        out.print("no open record errors")
        return
    for group in groups:
        where = f"{group['pair']} {group['entity']} {group['op']} refused by {group['side']}"
        out.print(f"[bold]{group['count']} × {escape(where)}[/]: {escape(group['cause'])}", highlight=False)
        table = Table(show_header=True, box=None, pad_edge=False)
        for col in ("record", "id", "other side's id", "attempts", "last seen"):
            table.add_column(col)
        for record in group["records"][:limit]:
            table.add_row(escape(record["record"] or "(unknown)"), f"{record['side']} {record['side_id']}",
                          record["other_id"] or "-", str(record["attempts"]), record["last_seen"])
        out.print(table)
        if group["count"] > limit:
            out.print(f"  … and {group['count'] - limit} more (--limit, or --json for all)")
        out.print()
