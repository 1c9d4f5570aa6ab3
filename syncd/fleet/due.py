"""When a pair's next run is due: plain functions over the pair's schedule and a time.

Incremental runs come every ``interval`` seconds, offset by the pair's share of ``jitter``;
reconciles at the pair's cron (through :func:`config.cron.cron_trigger`, which handles
crontab's weekday numbering and daylight-saving changes) plus the same share. The share is a
hash of the pair's name, not a random draw: every worker computes the same due time, and
pairs spread over the jitter window instead of all firing together.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from config.cron import cron_trigger
from config.models import ScheduleConfig

KINDS = ("incremental", "reconcile")


def share(pair: str) -> float:
    """A stable fraction in [0, 1) for ``pair``."""
    digest = hashlib.sha256(pair.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def wanted_kinds(sched: ScheduleConfig) -> tuple[str, ...]:
    return KINDS if sched.reconcile_cron else KINDS[:1]


def first_due(pair: str, kind: str, sched: ScheduleConfig, now_ms: int) -> int:
    """When a newly scheduled pair first runs: an incremental run at once, within the pair's share of
    ``jitter`` (as ``syncd run`` does at its start; a fleet of new pairs spreads over the window),
    a reconcile at its cron."""
    if kind == "incremental":
        return now_ms + int(share(pair) * sched.jitter * 1000)
    return next_due(pair, kind, sched, now_ms, now_ms)


def next_due(pair: str, kind: str, sched: ScheduleConfig, now_ms: int, due_ms: int) -> int:
    """The due time after a run of ``kind`` that was due at ``due_ms`` was queued at ``now_ms``.

    Incremental runs keep to their grid (the previous due time plus the interval; the pair's jitter
    share is the grid's offset, set by :func:`first_due`), so queueing late does not stretch the
    interval; a pair that fell more than an interval behind is due at once, once (no backlog).
    """
    if kind == "incremental":
        return max(due_ms + int(sched.interval * 1000), now_ms)
    jitter = int(share(pair) * sched.jitter * 1000)
    if not sched.reconcile_cron:
        raise ValueError(f"pair {pair!r} has no reconcile_cron")
    trigger = cron_trigger(sched.reconcile_cron, tz=sched.timezone)
    # A second on: a cron that fires at exactly now is the run that was just queued.
    after = datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(seconds=1)
    fire = trigger.get_next_fire_time(None, after)
    if fire is None:
        return NEVER
    return int(fire.timestamp() * 1000) + jitter


NEVER = 2**62  # the due time of a cron that never fires again
