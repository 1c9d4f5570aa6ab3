"""Timeline activities in ``syncd status``: the backfill's progress and estimated end, and what an
operator must look at (communications whose send may or may not have reached Cloze)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from state.store import StateStore
from syncd.engine import activities


def activity_status(store: StateStore, pair: str) -> dict[str, object]:
    return activities.status(store, pair)


def activity_lines(pair: str, status: Mapping[str, Any] | None) -> Iterator[str]:
    """One line per kind being backfilled, and one for uncertain sends; nothing for a pair without activities."""
    if not status:
        return
    for row in status.get("backfill", []):
        total, done = row.get("total"), row.get("done", 0)
        if row.get("finished"):
            yield f"{pair}: {row['kind']} backfill finished ({done} activities)"
            continue
        share = f" ({100 * done / total:.0f} %)" if total else ""
        end = row.get("estimated_end_ms")
        when = datetime.fromtimestamp(end / 1000, tz=UTC).isoformat(timespec="minutes") if end else "not known yet"
        yield f"{pair}: {row['kind']} backfill {done} of {total if total is not None else '?'}{share}, estimated end {when}"
    uncertain = status.get("uncertain") or []
    if uncertain:
        yield (f"{pair}: {len(uncertain)} activities may or may not have reached Cloze and are not sent again: "
               + ", ".join(uncertain[:10]) + (" ..." if len(uncertain) > 10 else ""))
