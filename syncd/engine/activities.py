"""The activity pass of a run: the external CRM's activities into Cloze's timeline, after record sync.

Per enabled kind, first the activities waiting for a link or refused earlier (read again
by id), then the live feed (changes since the feed was switched on), then, with what is
left of the pass's budget, the backfill (the history window, ``backfill_days``). Each page
is planned by :func:`syncd.core.activities.plan_activities` and applied write by write;
its cursor is stored once every activity of the page is recorded in the journal.

Pacing: the pass runs after every record pass of the run, and stops once the run has used
its share of the schedule interval (``run_share``, counted from the start of the run, so the
run ends within its interval and the daemon's next tick is never skipped) or the pass has
made ``max_writes_per_run`` Cloze writes. A long backfill so never holds a record change back
by more than one interval: the next run syncs records first again. Each pass makes at least
one write, so the backfill moves on even when the records took the whole share. A stopped
page is read again next run; what it already wrote is in the journal, so nothing is written
twice. An item Cloze refuses as dated in the future (errorcode 38) waits for its date.

Privacy: logs, errors and the journal carry kinds, ids, states, errorcodes and hashes;
never a subject, body or address.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import structlog

from config.models import ActivitiesConfig, PairConfig
from connectors.activity import (
    ACTIVITY_KINDS,
    Activity,
    ActivityKind,
    ActivitySink,
    ActivitySource,
    ClozeTarget,
    JournalRow,
)
from connectors.base import Connector
from connectors.errors import ApiError, AuthError
from connectors.model import Entity, Side
from state import activities as journal_db
from state.clock import wall_ms
from state.store import StateStore
from syncd.core.activities import ActivityDecision, ActivityOptions, Linked, plan_activities
from syncd.engine.report import RunReport

log = structlog.get_logger("syncd.activities")
DAY_MS = 86_400_000
PENDING_PER_RUN = 1000  # waiting or refused activities read again by id per kind and run
LIVE, BACKFILL, DELETED = "live", "backfill", "deleted"
WRITTEN = ("sent", "sending", "uncertain")  # journal states of an activity that (may have) reached Cloze
FUTURE_REFUSED = 38  # Cloze's errorcode for an item dated in the future


def options_of(pair: PairConfig, acfg: ActivitiesConfig) -> ActivityOptions:
    """The planner's options from the pair's ``[activities]`` table."""
    targets: dict[ActivityKind, ClozeTarget] = {
        "call": "communication" if acfg.call_as == "communication" else "content_note",
        "meeting": "communication" if acfg.meeting_as == "communication" else "content_event",
        "email": "communication" if acfg.email_as == "communication" else "content_note",
    }
    api_user = str(pair.cloze.get("user") or "")
    users = frozenset(e.strip().lower() for e in [api_user, *acfg.owner_users] if e.strip())
    return ActivityOptions(
        app_id=pair.app_id, app_name=pair.app_name, kinds=frozenset(acfg.kinds),
        targets=targets, email_body=acfg.email_body, on_delete=acfg.on_delete,
        ref_wait_ms=int(acfg.ref_wait * 1000), max_attempts=acfg.max_attempts,
        owner_as=acfg.owner_as, cloze_users=users,
    )


@dataclass
class Budget:
    """What the pass may still spend in this run: Cloze writes and seconds (its first write is free)."""

    writes: int
    deadline: float
    clock: Callable[[], float] = time.monotonic
    made: int = 0

    def spent(self) -> bool:
        return self.made > 0 and (self.writes <= 0 or self.clock() >= self.deadline)

    def spend(self) -> None:
        self.writes -= 1
        self.made += 1


@dataclass
class PassOutcome:
    counts: Counter[str] = field(default_factory=Counter)  # "<kind>.<action or reason>"
    stopped: bool = False
    problems: list[str] = field(default_factory=list)


def run_pass(pair: str, cfg: PairConfig, conns: Mapping[Side, Connector], store: StateStore, report: RunReport,
             stop: threading.Event, heartbeat: Callable[[], None]) -> PassOutcome | None:
    """The run's activity pass, when the pair has one and its connectors can do it; ``None`` otherwise."""
    acfg = cfg.activities
    source, sink = conns["external"], conns["cloze"]
    if acfg is None or not acfg.enabled:
        return None
    if not isinstance(source, ActivitySource) or not isinstance(sink, ActivitySink):
        report.notes.append("activities: the external connector cannot list activities; nothing was copied")
        return None
    budget = Budget(acfg.max_writes_per_run, report.started_mono + acfg.run_share * cfg.schedule.interval)
    activity_pass = ActivityPass(pair, cfg, acfg, source, sink, store, report, stop, heartbeat, budget)
    try:
        return activity_pass.run()
    except AuthError:
        raise
    except ApiError as exc:
        # The records of this run are synced and recorded; the activities go on from their cursors next run.
        report.record_errors += 1
        report.notes.append(f"activities: stopped by an API error, record sync unaffected: {exc}")
        log.warning("activities_failed", pair=pair, error=str(exc))
        return activity_pass.outcome


class ActivityPass:
    def __init__(self, pair: str, cfg: PairConfig, acfg: ActivitiesConfig, source: ActivitySource,
                 sink: ActivitySink, store: StateStore, report: RunReport, stop: threading.Event,
                 heartbeat: Callable[[], None], budget: Budget, now: Callable[[], int] = wall_ms) -> None:
        self.pair, self.cfg, self.acfg = pair, cfg, acfg
        self.source, self.sink, self.store, self.report = source, sink, store, report
        self.stop, self.heartbeat, self.budget, self.now = stop, heartbeat, budget, now
        self.options = options_of(cfg, acfg)
        self.outcome = PassOutcome()
        self.log = log.bind(pair=pair)
        self.linked: Linked = {}

    def run(self) -> PassOutcome:
        offered = self.source.activity_kinds()
        kinds = [k for k in ACTIVITY_KINDS if k in self.options.kinds and k in offered]
        missing = sorted(self.options.kinds - offered)
        if missing:
            self.report.notes.append(f"activities: the external side lists no {', '.join(missing)}; not copied")
        self.linked = cast(Mapping[Entity, set[str]], journal_db.linked_external_ids(self.store, self.pair))
        for kind in kinds:
            self._start(kind)
        # Live changes (and those waiting for a link) of every kind first, then the history.
        for step in (self._pending, self._live, self._deleted, self._backfill):
            for kind in kinds:
                if not step(kind):
                    return self._finish(stopped=True)
        return self._finish(stopped=False)

    def _finish(self, *, stopped: bool) -> PassOutcome:
        self.outcome.stopped = stopped
        counts = dict(self.outcome.counts)
        if counts:
            self.log.info("activities_pass", stopped=stopped, **{k.replace(".", "_"): v for k, v in counts.items()})
        if stopped:
            self.report.notes.append("activities: the pass used its share of this run; it goes on next run")
        self.report.notes.extend(self.outcome.problems)
        return self.outcome

    # -- feeds ------------------------------------------------------------------------

    def _start(self, kind: ActivityKind) -> None:
        """On a kind's first run: live changes from now, and the backfill window before now."""
        if journal_db.feed(self.store, self.pair, kind, LIVE) is not None:
            return
        now = self.now()
        since = now - self.acfg.backfill_days * DAY_MS
        total = self.source.activity_count(kind, since, now) if self.acfg.backfill_days else 0
        with self.store.transaction() as s:
            journal_db.set_feed(s, self.pair, kind, LIVE, now, since=now)
            journal_db.set_feed(s, self.pair, kind, BACKFILL, now, since=since, until=now, total=total,
                                finished=not self.acfg.backfill_days)

    def _live(self, kind: ActivityKind) -> bool:
        position = journal_db.feed(self.store, self.pair, kind, LIVE)
        assert position is not None
        return self._read(kind, LIVE, position.cursor, position.since, None)

    def _deleted(self, kind: ActivityKind) -> bool:
        """With ``on_delete = "tombstone"``: the activities deleted since the last look."""
        if self.acfg.on_delete != "tombstone":
            return True
        position = journal_db.feed(self.store, self.pair, kind, DELETED)
        since = int(position.cursor) if position is not None and position.cursor else self.now()
        ids, watermark = self.source.activity_deleted(kind, since)
        if not self._apply([], [(kind, i) for i in ids]):
            return False
        with self.store.transaction() as s:
            journal_db.set_feed(s, self.pair, kind, DELETED, self.now(), cursor=str(watermark))
        return True

    def _backfill(self, kind: ActivityKind) -> bool:
        position = journal_db.feed(self.store, self.pair, kind, BACKFILL)
        if position is None or position.finished:
            return True
        finished = self._read(kind, BACKFILL, position.cursor, position.since, position.until)
        if finished:
            with self.store.transaction() as s:
                journal_db.set_feed(s, self.pair, kind, BACKFILL, self.now(), finished=True)
        return finished

    def _read(self, kind: ActivityKind, feed: str, cursor: str | None, since: int | None, until: int | None
              ) -> bool:
        """Every page of one feed; False when the pass stopped before the feed's end."""
        for page in self.source.activity_pages(kind, cursor, since=since, until=until):
            self.heartbeat()
            self.report.reads["external.activity"] += len(page.activities)
            deleted = [(kind, i) for i in page.deleted_ids]
            if not self._apply(page.activities, deleted):
                return False
            with self.store.transaction() as s:
                position = journal_db.feed(self.store, self.pair, kind, feed)
                done = (position.done if position else 0) + len(page.activities)
                journal_db.set_feed(s, self.pair, kind, feed, self.now(), cursor=page.cursor, done=done)
        return True

    def _pending(self, kind: ActivityKind) -> bool:
        """Activities waiting for a link, or refused before: read again by id."""
        ids = journal_db.pending(self.store, self.pair, kind, PENDING_PER_RUN, self.options.max_attempts)
        if not ids:
            return True
        found = self.source.activity_get(kind, ids)
        self.report.reads["external.activity"] += len(found)
        gone = [(kind, i) for i in ids if i not in found]
        return self._apply(list(found.values()), gone)

    # -- one batch --------------------------------------------------------------------

    def _apply(self, activities: Sequence[Activity], deleted: Sequence[tuple[ActivityKind, str]]) -> bool:
        keys = [(a.kind, a.id) for a in activities] + list(deleted)
        rows = journal_db.journal(self.store, self.pair, keys)
        now = self.now()
        decisions = plan_activities(activities, rows, self.linked, self.options, now=now, deleted=deleted)
        for decision in decisions:
            if self.stop.is_set():
                return False
            if decision.action == "put" and self.budget.spent():
                return False
            self._carry_out(decision, rows.get((decision.kind, decision.source_id)))
        return True

    def _carry_out(self, d: ActivityDecision, row: JournalRow | None) -> None:
        counts, now = self.outcome.counts, self.now()
        counts[f"{d.kind}.{d.reason or d.action}" if d.action == "skip" else f"{d.kind}.{d.action}"] += 1
        if d.action == "put":
            self._put(d)
        elif d.action == "uncertain":
            with self.store.transaction() as s:
                journal_db.record(s, self.pair, d.kind, d.source_id, now, state="uncertain", reason=d.reason)
            self._uncertain(d)
        elif row is not None and row.state in WRITTEN:
            return  # once written, its row keeps saying so: a communication is never sent a second time
        elif d.action == "wait":
            fields: dict[str, object] = {"reason": d.reason}
            if row is None or row.state != "waiting":
                fields.update(state="waiting", first_seen_at=now)
            with self.store.transaction() as s:
                journal_db.record(s, self.pair, d.kind, d.source_id, now, **fields)
        elif d.action == "skip" and row is not None and d.reason in ("unlinked", "deleted", "no_refs", "private"):
            with self.store.transaction() as s:
                journal_db.record(s, self.pair, d.kind, d.source_id, now, state="skipped", reason=d.reason)

    def _put(self, d: ActivityDecision) -> None:
        item = d.item
        assert item is not None
        communication = item.target == "communication"
        rows = journal_db.journal(self.store, self.pair, [(d.kind, d.source_id)])
        attempts = rows[(d.kind, d.source_id)].attempts if (d.kind, d.source_id) in rows else 0
        common = {"target": item.target, "cloze_uniqueid": item.uniqueid, "payload_sha256": d.payload_sha256}
        if communication:
            # At most once: the send is on record before it is made.
            with self.store.transaction() as s:
                journal_db.record(s, self.pair, d.kind, d.source_id, self.now(), state="sending",
                                  attempts=attempts + 1, reason=None, **common)
        self.budget.spend()
        result = self.sink.put_timeline(item)
        op = "send" if communication else "put"
        with self.store.transaction() as s:
            if result.ok:
                journal_db.record(s, self.pair, d.kind, d.source_id, self.now(), state="sent", reason=None,
                                  attempts=attempts + 1, **common)
            elif result.uncertain:
                journal_db.record(s, self.pair, d.kind, d.source_id, self.now(), state="uncertain",
                                  reason="no_reply", **common)
            elif result.code == FUTURE_REFUSED and item.date > self.now():
                # Not a fault of the item: it waits for its date (a future event where Cloze takes none).
                journal_db.record(s, self.pair, d.kind, d.source_id, self.now(), state="waiting", reason="future",
                                  attempts=attempts, **{**common, "payload_sha256": None})
            else:
                journal_db.record(s, self.pair, d.kind, d.source_id, self.now(), state="failed",
                                  reason=f"errorcode {result.code}", attempts=attempts + 1, **common)
        if result.ok:
            self.report.writes[f"cloze.activity.{op}"] += 1
        elif result.uncertain:
            self._uncertain(d)
        elif result.code == FUTURE_REFUSED and item.date > self.now():
            self.outcome.counts[f"{d.kind}.future"] += 1
            self.log.info("activity_waits_for_its_date", kind=d.kind, source_id=d.source_id)
        else:
            self.report.record_errors += 1
            self.outcome.problems.append(
                f"activities: Cloze refused {d.kind} {d.source_id}: {result.message} (errorcode {result.code})")
            self.log.warning("activity_refused", kind=d.kind, source_id=d.source_id, code=result.code)

    def _uncertain(self, d: ActivityDecision) -> None:
        self.report.record_errors += 1
        self.outcome.problems.append(
            f"activities: {d.kind} {d.source_id} may or may not have reached Cloze; it is not sent again "
            "(check the contact's timeline in Cloze)")
        self.log.warning("activity_uncertain", kind=d.kind, source_id=d.source_id)


def progress(store: StateStore, pair: str, now: int | None = None) -> list[dict[str, object]]:
    """Per kind: the backfill's size, how much is done, and its estimated end (epoch ms), for status and /metrics."""
    out: list[dict[str, object]] = []
    stamp = wall_ms() if now is None else now
    recorded = journal_db.counts(store, pair)
    for position in journal_db.feeds(store, pair):
        if position.feed != BACKFILL:
            continue
        total = position.total
        # Pages count once they are recorded; the journal counts the writes of a page the pass stopped in.
        done = max(position.done, 0 if position.finished else sum(recorded.get(position.kind, {}).values()))
        if total:
            done = min(done, total)
        eta: int | None = None
        if not position.finished and total and done:
            rate = done / max(1, stamp - position.started_at)  # activities per ms so far
            eta = stamp + int((total - done) / rate) if rate > 0 else None
        out.append({"kind": position.kind, "total": total, "done": done,
                    "finished": position.finished, "estimated_end_ms": eta})
    return out


def status(store: StateStore, pair: str) -> dict[str, object]:
    """The pair's activities for ``syncd status``: backfill progress, journal states, uncertain sends."""
    return {"backfill": progress(store, pair), "journal": journal_db.counts(store, pair),
            "uncertain": [f"{kind}:{source_id}" for kind, source_id in journal_db.uncertain(store, pair)]}
