"""``syncd errors list``: the records a side refused, grouped by cause, each named.

It reads only the state database (no API keys needed). A group is one cause:
the same entity, refusing side, operation, code and message; each record in it
shows who it is (``Ann Lee <ann@acme.example>``, stored when the error was
recorded, or derived from the link's stored values) and its id on each side.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from syncd.backlog import error_groups
from syncd.cli import config_option, load, open_store
from syncd.cli_lazy import escape
from syncd.console import Table, out


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
