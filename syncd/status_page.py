"""The daemon's read-only status page (``GET /`` on its loopback listener).

:func:`collect` reads the state database into plain data; :func:`render` turns
that into one self-contained HTML page: per pair its last runs, a chart of run
durations and records written over the last day (inline SVG), and the conflicts
and record errors waiting for an operator, each record named. No scripts, no
external assets (the listener also sends a ``Content-Security-Policy`` that
forbids them), so it works on an air-gapped host and leaks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from syncd.backlog import error_groups, link_labels

DAY_MS = 86_400_000
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True)
class RunPoint:
    run_id: str
    mode: str
    status: str
    started_ms: int
    duration_s: float | None
    written: int


@dataclass(frozen=True)
class PairView:
    name: str
    links: int
    runs: list[RunPoint] = field(default_factory=list)  # newest first, the last day
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # groups, as ``syncd errors list --json``
    health: Mapping[str, Any] = field(default_factory=dict)


def _written(counts: str | None) -> int:
    if not counts:
        return 0
    try:
        writes = json.loads(counts).get("writes") or {}
    except (ValueError, AttributeError):
        return 0
    return sum(int(n) for n in writes.values() if isinstance(n, int))


def collect(store: Any, pairs: Sequence[str], now_ms: int, health: Mapping[str, Mapping[str, Any]] | None = None,
            *, max_runs: int = 500) -> list[PairView]:
    """Each pair's last day of runs and its open conflicts and record errors, from the state database."""
    views = []
    for pair in pairs:
        runs = [
            RunPoint(r.id, r.mode, r.status, r.started_at,
                     (r.finished_at - r.started_at) / 1000 if r.finished_at else None, _written(r.counts))
            for r in store.runs(pair, limit=max_runs) if r.started_at >= now_ms - DAY_MS
        ]
        conflict_rows = store.conflicts(pair, "open")
        labels = link_labels(store, conflict_rows)
        conflicts = [{
            "id": c.id, "entity": c.entity, "field": c.field, "record": labels.get(c.link_id or -1),
            "cloze_id": c.cloze_id, "external_id": c.external_id,
            "cloze": json.loads(c.cloze_value) if c.cloze_value else None,
            "external": json.loads(c.external_value) if c.external_value else None,
        } for c in conflict_rows]
        views.append(PairView(pair, store.link_count(pair), runs, conflicts, error_groups(store, pair),
                              (health or {}).get(pair, {})))
    return views


def _when(ms: int | None) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def chart(runs: Sequence[RunPoint], now_ms: int, *, width: int = 720, height: int = 180) -> str:
    """Run durations (bars, left axis) and records written (dots, right axis) over the last day, as SVG."""
    left, right, top, bottom = 48, 48, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    max_d = max([r.duration_s or 0 for r in runs] + [1.0])
    max_w = max([r.written for r in runs] + [1])

    def x(ms: int) -> float:
        return left + plot_w * (ms - (now_ms - DAY_MS)) / DAY_MS

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
              f'aria-label="run durations and records written, last 24 hours">'),
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f7f9fb" stroke="#c9d1d9"/>']
    for hours in range(0, 25, 6):
        gx = left + plot_w * hours / 24
        parts.append(f'<line x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{top + plot_h}" stroke="#e1e4e8"/>')
        parts.append(f'<text x="{gx:.1f}" y="{height - 8}" font-size="11" text-anchor="middle" fill="#57606a">'
                     f'{"now" if hours == 24 else f"-{24 - hours}h"}</text>')
    parts.append(f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end" fill="#0969da">{max_d:.0f}s</text>')
    parts.append(f'<text x="{width - right + 6}" y="{top + 10}" font-size="11" fill="#bc4c00">{max_w}</text>')
    for r in runs:
        bar_h = plot_h * (r.duration_s or 0) / max_d
        color = "#cf222e" if r.status == "failed" else "#0969da"
        parts.append(f'<rect class="run" x="{x(r.started_ms) - 2:.1f}" y="{top + plot_h - bar_h:.1f}" width="4" '
                     f'height="{max(bar_h, 1):.1f}" fill="{color}"><title>{escape(r.mode)} {escape(r.status)}: '
                     f'{r.duration_s or 0:.1f}s, {r.written} written</title></rect>')
        if r.written:
            cy = top + plot_h - plot_h * r.written / max_w
            parts.append(f'<circle class="written" cx="{x(r.started_ms):.1f}" cy="{cy:.1f}" r="3" fill="#bc4c00"/>')
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left}
th{background:#f6f8fa} .ok{color:#1a7f37} .failed{color:#cf222e} .muted{color:#57606a} .legend span{margin-right:16px}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _value(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False))


def render(views: Sequence[PairView], now_ms: int, version: str) -> str:
    """The whole page (escaped: record names and values come from the CRMs)."""
    out = [(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>cloze-syncd status</title>"
            f"<style>{_STYLE}</style></head><body><h1>cloze-syncd status</h1>"
            f"<p class=muted>version {escape(version)} · {escape(_when(now_ms))} · read-only</p>")]
    out.append(_table(["pair", "last run", "last success", "links", "runs today", "records written today",
                       "pending conflicts", "record errors"], [
        [f'<a href="#pair-{escape(v.name)}">{escape(v.name)}</a>',
         (f'<span class="{escape(v.runs[0].status)}">{escape(v.runs[0].status)}</span> ({escape(v.runs[0].mode)})'
          if v.runs else "none today"),
         escape(str(v.health.get("last_success") or "never")), str(v.links), str(len(v.runs)),
         str(sum(r.written for r in v.runs)), str(len(v.conflicts)), str(sum(g["count"] for g in v.errors))]
        for v in views]))
    for v in views:
        out.append(f'<h2 id="pair-{escape(v.name)}">pair {escape(v.name)}</h2>')
        out.append(chart(v.runs, now_ms))
        out.append('<p class="legend muted"><span style="color:#0969da">■ run duration</span>'
                   '<span style="color:#cf222e">■ failed run</span><span style="color:#bc4c00">● records written</span></p>')
        out.append("<h3>last runs</h3>" + (_table(["started", "mode", "status", "duration", "written"], [
            [escape(_when(r.started_ms)), escape(r.mode), f'<span class="{escape(r.status)}">{escape(r.status)}</span>',
             f"{r.duration_s:.1f}s" if r.duration_s is not None else "running", str(r.written)]
            for r in v.runs[:10]]) if v.runs else "<p class=muted>no runs in the last day</p>"))
        out.append(f"<h3>conflicts waiting for an operator ({len(v.conflicts)})</h3>")
        out.append(_table(["id", "record", "field", "Cloze", "external"], [
            [str(c["id"]), escape(c["record"] or f"{c['entity']} {c['cloze_id']} / {c['external_id']}"),
             escape(c["field"]), _value(c["cloze"]), _value(c["external"])] for c in v.conflicts[:50]])
            if v.conflicts else "<p class=muted>none</p>")
        total = sum(g["count"] for g in v.errors)
        out.append(f"<h3>record errors ({total})</h3>")
        for g in v.errors[:20]:
            out.append(f"<p><b>{g['count']} × {escape(g['entity'])} {escape(g['op'])} refused by "
                       f"{escape(g['side'])}</b>: {escape(g['cause'])}</p>")
            out.append(_table(["record", "id", "attempts"], [
                [escape(r["record"] or "(unknown)"), escape(f"{r['side']} {r['side_id']}"), str(r["attempts"])]
                for r in g["records"][:20]]))
        if not v.errors:
            out.append("<p class=muted>none</p>")
    out.append("</body></html>")
    return "".join(out)
