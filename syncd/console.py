"""What the commands print to the terminal: the two consoles, tables, a run's report and the one error printer.

Shared by the ``syncd`` command line (:mod:`syncd.cli`) and the sandbox
(:mod:`syncd.sandbox`). rich is imported on first use (:mod:`syncd.cli_lazy`), so
``syncd --help`` starts at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, cast

from connectors.errors import SyncdError
from syncd.cli_lazy import LazyConsole, escape

if TYPE_CHECKING:
    from rich.console import Console

out = cast("Console", LazyConsole(soft_wrap=True))
err = cast("Console", LazyConsole(stderr=True, soft_wrap=True))


def Table(*args: Any, **kwargs: Any) -> Any:
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def fail(exc: SyncdError) -> NoReturn:
    """The one place user-facing errors are printed: no traceback, the context, a hint."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise SystemExit(exc.exit_code)


def print_report(report: Any) -> None:
    """A run's summary (and, for a dry run, its plan) as tables."""
    title = f"pair {report.pair}: {report.mode}{' (dry run: nothing written)' if report.dry_run else ''}"
    if report.dry_run:
        table = Table(title=title)
        for col in ("entity", "action", "cloze id", "external id", "details"):
            table.add_column(col)
        for row in report.plan:
            details = ", ".join(
                f"{k}={v}" for k, v in row.items()
                if k not in ("entity", "action", "cloze_id", "external_id") and v
            )
            table.add_row(row["entity"], row["action"], str(row.get("cloze_id") or ""), str(row.get("external_id") or ""), details)
        out.print(table)
    summary = Table(title=None if report.dry_run else title, show_header=True)
    summary.add_column("what")
    summary.add_column("count", justify="right")
    for key, n in sorted(report.reads.items()):
        summary.add_row(f"read {key}", str(n))
    for key, n in sorted(report.writes.items()):
        summary.add_row(f"wrote {key}", str(n))
    summary.add_row("conflicts (pending)", f"{report.conflicts} ({report.pending_conflicts})")
    summary.add_row("record errors", str(report.record_errors))
    out.print(summary)
    for note in report.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    color = {"ok": "green", "errors": "yellow", "stopped": "yellow", "interrupted": "yellow"}.get(report.status, "red")
    out.print(f"[{color}]{report.status}[/] in {report.duration_s:.1f}s" + (f": {escape(report.error)}" if report.error else ""),
              highlight=False)
