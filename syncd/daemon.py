"""``syncd run``: the long-running daemon.

Threads and who owns what:

- the **main thread** runs the supervisor loop: it turns signals into actions
  (stop, forced stop, reload), pings the systemd watchdog while the scheduler shows
  progress, and enforces the shutdown bound;
- the **scheduler** (APScheduler 3 ``BackgroundScheduler``) fires each pair's
  incremental and reconcile jobs on its pool;
- the **HTTP listener** answers ``/metrics``, ``/healthz`` and webhooks, whose
  record ids go through the **debouncer** into one-off jobs on the same pool.

One pair never syncs twice at once: a per-pair ``threading.Lock`` here, plus the
state lease that ``sync_pair`` takes (which also keeps a hand-run ``syncd
reconcile`` out). Signal handlers only record the signal; everything else happens
on the main thread, so no lock is ever taken inside a handler.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import structlog

from config.loader import LoadedConfig
from connectors.errors import ConfigError, LeaseHeldError, SyncdError
from connectors.model import Side
from state.store import StateStore
from syncd import systemd
from syncd.activity_metrics import ActivityBackfill
from syncd.check import load_config
from syncd.engine import activities
from syncd.engine.runner import sync_pair
from syncd.httpserve import ServerLimits
from syncd.logs import configure_logging
from syncd.metrics import Metrics, RunSummary, run_outcome
from syncd.scheduler import PairScheduler, RunKind, schedule_problems
from syncd.web import Health, HttpListener, make_app, success_age
from syncd.webhooks import Batch, Debouncer, ReceiverConfig, WebhookReceiver, notification_sources

log = structlog.get_logger("syncd.daemon")

EXIT_OK = 0
EXIT_FAILURE = 1


class _Signals:
    """Records signals and wakes the supervisor through ``set_wakeup_fd``.

    The handler appends to a deque and returns: no locks, no I/O, so it cannot
    deadlock with whatever the main thread was doing when it arrived.
    """

    HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.pending: deque[int] = deque()
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in self.HANDLED:
            signal.signal(signum, self._handler)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)

    def wait(self, timeout: float) -> list[int]:
        """Sleep until a signal arrives or ``timeout`` passes; the signals received."""
        if not self.pending:
            try:
                select.select([self._read], [], [], max(0.0, timeout))
            except InterruptedError:
                pass
        try:
            while os.read(self._read, 512):
                pass
        except BlockingIOError:
            pass
        got = []
        while self.pending:
            got.append(self.pending.popleft())
        return got

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum in self.HANDLED:
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._read)
        os.close(self._write)


@dataclass
class PairHealth:
    """What ``/healthz`` and the STATUS line say about one pair."""

    last_success: datetime | None = None
    last_error: str | None = None
    last_outcome: str | None = None
    running: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """The whole ``syncd run`` process, from READY=1 to exit."""

    def __init__(self, loaded: LoadedConfig, *, metrics: Metrics | None = None) -> None:
        self.loaded = loaded
        self.metrics = metrics or Metrics()
        self.stop_event = threading.Event()  # handed to sync_pair: finish the batch, then return
        self._pair_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._active: dict[int, tuple[str, str]] = {}
        self._active_cond = threading.Condition()
        self._health: dict[str, PairHealth] = {}
        self._health_lock = threading.Lock()
        self._started = _now()
        self._store: StateStore | None = None
        self._listener: HttpListener | None = None
        self._stopping = False
        self._deadline = 0.0
        self._watchdog = systemd.watchdog_interval()
        heartbeat = min(2.0, self._watchdog / 2) if self._watchdog else 2.0
        self._heartbeat = heartbeat
        pairs = len(loaded.app.pairs)
        self.scheduler = PairScheduler(self._scheduled, max_workers=max(16, 3 * pairs + 2), heartbeat_seconds=heartbeat)
        hooks = loaded.app.daemon.webhooks
        self.debouncer = Debouncer(self._webhook_due, delay=hooks.debounce)
        self.receiver = WebhookReceiver(ReceiverConfig({}, hooks.max_body_bytes), self.debouncer.add,
                                        count=self.metrics.webhook)

    # -- start -------------------------------------------------------------------

    def start(self) -> None:
        """Everything that must succeed before READY=1. Raises ConfigError / SyncdError."""
        app = self.loaded.app
        problems = schedule_problems({name: p.schedule for name, p in app.pairs.items()})
        if problems:
            raise ConfigError(f"{self.loaded.path}: invalid schedule", problems=problems)
        if app.daemon.webhooks.enabled and not app.daemon.http.enabled:
            raise ConfigError(
                f"{self.loaded.path}: webhooks need the HTTP listener",
                problems=["daemon.webhooks.enabled: needs daemon.http.enabled = true"],
            )
        self.receiver.config = self._receiver_config(self.loaded)  # ConfigError: a side cannot take notices
        systemd.status("opening state database")
        self._store = StateStore.open(self.loaded.state_location, lock_timeout=self.loaded.app.state.lock_timeout)
        for pair in app.pairs:
            self._load_last_success(pair)
        self.metrics.track_pairs(app.pairs, self._backlog)
        self.metrics.registry.register(ActivityBackfill(self._activity_backfill))
        http = app.daemon.http
        if http.enabled:
            wsgi = make_app(registry=self.metrics.registry, health=self.health, webhooks=self._webhooks,
                            status_page=self.status_page)
            bounds = ServerLimits(max_connections=http.max_connections, header_timeout=http.header_timeout,
                                  body_timeout=http.body_timeout,
                                  max_body_bytes=app.daemon.webhooks.max_body_bytes)
            self._listener = HttpListener(wsgi, http.address, http.port, allow_non_loopback=http.allow_non_loopback,
                                          limits=bounds)
            self._listener.start()
            log.info("http listener bound", url=self._listener.url)
        self.debouncer.start()
        self.scheduler.start()
        diff = self.scheduler.apply({name: p.schedule for name, p in app.pairs.items()})
        log.info("jobs scheduled", jobs=diff.added)
        self._refresh_subscriptions()

    def _load_last_success(self, pair: str) -> None:
        assert self._store is not None
        when = self._store.last_success(pair)
        with self._health_lock:
            self._health.setdefault(pair, PairHealth()).last_success = when
        if when is not None:
            self.metrics.set_last_success(pair, when)

    def _backlog(self) -> dict[str, tuple[int, int]]:
        """Per configured pair: conflicts waiting for an operator, open record errors (the /metrics gauges)."""
        store = self._store
        if store is None:
            return {}
        return {pair: (len(store.conflicts(pair, "open")), len(store.open_errors(pair))) for pair in self.loaded.app.pairs}

    def _activity_backfill(self) -> dict[str, list[dict[str, object]]]:
        """Per pair with activities: the backfill's progress (the /metrics gauges)."""
        store = self._store
        if store is None:
            return {}
        return {pair: activities.progress(store, pair) for pair, cfg in self.loaded.app.pairs.items() if cfg.activities}

    def status_line(self) -> str:
        pairs = ", ".join(sorted(self.loaded.app.pairs))
        where = f"; listening on {self._listener.address}:{self._listener.port}" if self._listener else ""
        return f"syncing {len(self.loaded.app.pairs)} pair(s): {pairs}{where}"

    # -- the supervisor ------------------------------------------------------------

    def run(self) -> int:
        """Install signal handling, start, supervise until stopped; the exit status."""
        signals = _Signals()
        try:
            try:
                self.start()
            except BaseException:
                self._teardown()  # nothing half-started may keep the process alive
                raise
            systemd.ready(self.status_line())
            log.info("ready", pairs=sorted(self.loaded.app.pairs), watchdog_s=self._watchdog)
            return self._supervise(signals)
        finally:
            signals.close()

    def _supervise(self, signals: _Signals) -> int:
        tick = min(1.0, self._watchdog) if self._watchdog else 1.0
        last_ping = 0.0
        stalled_logged = False
        while True:
            # while draining, look often: exit as soon as the last run has returned
            for signum in signals.wait(min(tick, 0.1) if self._stopping else tick):
                name = signal.Signals(signum).name
                if signum == signal.SIGHUP:
                    if self._stopping:
                        log.info("reload ignored while stopping")
                    else:
                        self.reload()
                elif self._stopping:
                    self._force_exit(f"second {name}", 128 + signum)
                else:
                    log.info("stop requested", signal=name)
                    self.begin_stop()
            if self._stopping:
                if self._idle():
                    self._teardown()
                    log.info("stopped")
                    return EXIT_OK
                if time.monotonic() >= self._deadline:
                    self._force_exit("runs did not stop within daemon.shutdown_timeout", EXIT_FAILURE)
            if self._watchdog and time.monotonic() - last_ping >= self._watchdog:
                if self._making_progress():
                    systemd.watchdog()
                    last_ping = time.monotonic()
                    stalled_logged = False
                elif not stalled_logged:
                    log.error("scheduler shows no progress; withholding the watchdog ping",
                              heartbeat_age_s=round(self.scheduler.heartbeat_age(), 1))
                    stalled_logged = True

    def _making_progress(self) -> bool:
        if self._stopping:
            return time.monotonic() < self._deadline  # draining within the bound is progress
        beat_ok = self.scheduler.heartbeat_age() < max(5.0, 3 * self._heartbeat)
        return beat_ok and (self._listener is None or self._listener.alive())

    def begin_stop(self) -> None:
        """No new work; runs in flight finish their batch (they watch ``stop_event``)."""
        self._stopping = True
        timeout = self.loaded.app.daemon.shutdown_timeout
        self._deadline = time.monotonic() + timeout
        self.stop_event.set()
        running = self._running_pairs()
        systemd.stopping(f"stopping; waiting for {len(running)} run(s)" if running else "stopping")
        systemd.extend_timeout(timeout + 5)  # if the unit's TimeoutStopSec is shorter than ours
        self.scheduler.shutdown()
        self.debouncer.close()
        if self._listener is not None:
            self._listener.stop()
        if running:
            log.info("waiting for runs to finish their batch", pairs=running, timeout_s=timeout)

    def _force_exit(self, why: str, code: int) -> None:
        """Leave now. The state database is SQLite: an interrupted transaction rolls back on next open."""
        log.error("forced exit", reason=why, running=self._running_pairs(), exit_code=code)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _teardown(self) -> None:
        self.scheduler.shutdown()
        self.debouncer.close()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- reload ------------------------------------------------------------------

    def reload(self) -> bool:
        """Validate the file off to the side; apply it only when valid. ``True`` if applied."""
        path = self.loaded.path
        log.info("reload requested", config=str(path))
        try:
            new = load_config(path)
            problems = schedule_problems({name: p.schedule for name, p in new.app.pairs.items()})
            if problems:
                raise ConfigError(f"{path}: invalid schedule", problems=problems)
            if new.app.daemon.webhooks.enabled and self._listener is None:
                raise ConfigError(
                    f"{path}: webhooks need the HTTP listener",
                    problems=["daemon.webhooks.enabled: the listener is off; enable it and restart"],
                )
            receiver_config = self._receiver_config(new)
        except ConfigError as exc:
            log.error("reload rejected; the previous config keeps running", error=exc.message, problems=exc.problems)
            systemd.status(f"reload rejected ({len(exc.problems)} problem(s)); running previous config")
            return False
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the old config keeps running
            log.error("reload rejected; the previous config keeps running", error=str(exc))
            systemd.status("reload rejected; running previous config")
            return False
        for warning in new.warnings:
            log.warning("config warning", warning=warning)
        systemd.reloading("reloading config")
        old = self.loaded
        self._warn_restart_only(old, new)
        self.loaded = new
        configure_logging(new.app.logging.level, new.app.logging.format, new.secrets)
        diff = self.scheduler.apply({name: p.schedule for name, p in new.app.pairs.items()})
        for pair in set(old.app.pairs) - set(new.app.pairs):
            with self._health_lock:
                self._health.pop(pair, None)
            self.metrics.forget_pair(pair)
        for pair in set(new.app.pairs) - set(old.app.pairs):
            self._load_last_success(pair)
        self.metrics.track_pairs(set(new.app.pairs) - set(old.app.pairs))
        hooks = new.app.daemon.webhooks
        self.debouncer.delay = hooks.debounce
        self.debouncer.max_delay = max(hooks.debounce * 10, hooks.debounce + 1)
        self.receiver.config = receiver_config
        self._refresh_subscriptions()
        log.info("config reloaded", added=diff.added, removed=diff.removed, rescheduled=diff.rescheduled)
        systemd.ready(self.status_line())
        return True

    def _warn_restart_only(self, old: LoadedConfig, new: LoadedConfig) -> None:
        if old.app.daemon.http != new.app.daemon.http:
            log.warning("daemon.http changed; the listener keeps its old settings until a restart")
        if old.state_location != new.state_location:
            log.warning("the state location changed; the daemon keeps its old database until a restart")

    # -- runs --------------------------------------------------------------------

    def _pair_lock(self, pair: str) -> threading.Lock:
        with self._locks_guard:
            return self._pair_locks.setdefault(pair, threading.Lock())

    def _scheduled(self, pair: str, kind: RunKind) -> None:
        """Job body of ``incremental:<pair>`` and ``reconcile:<pair>``."""
        if self.stop_event.is_set():
            return
        lock = self._pair_lock(pair)
        if kind == "incremental":
            # the next interval comes soon enough; queueing would pile runs up
            if not lock.acquire(blocking=False):
                log.info("incremental sync skipped: pair is busy", pair=pair, busy_with=self._running_kind(pair))
                self.metrics.skipped(pair, kind)
                return
        else:
            # a reconcile is rare and wanted: wait for the pair to be free
            waited = False
            while not lock.acquire(timeout=1.0):
                if not waited:
                    log.info("reconcile waiting: pair is busy", pair=pair, busy_with=self._running_kind(pair))
                    waited = True
                if self.stop_event.is_set():
                    return
        try:
            self._execute(pair, kind, "full" if kind == "reconcile" else "incremental", None)
        finally:
            lock.release()

    def _webhook_due(self, pair: str, batch: Batch) -> None:
        """Debouncer callback: queue the sync on the pool (never run it on the debounce thread)."""
        if not self.stop_event.is_set():
            self.scheduler.submit(self._webhook_run, pair, batch, name=f"webhook:{pair}")

    def _webhook_run(self, pair: str, batch: Batch) -> None:
        if self.stop_event.is_set():
            return
        lock = self._pair_lock(pair)
        if not lock.acquire(blocking=False):
            log.debug("webhook sync queued: pair is busy", pair=pair, records=batch.size())
            self.debouncer.add(pair, batch)
            return
        try:
            only = None if batch.poll else {entity: {batch.side: ids} for entity, ids in batch.only().items()}
            if self._execute(pair, "webhook", "incremental", only) is False:
                self.debouncer.add(pair, batch)  # another process held the lease: try again soon
        finally:
            lock.release()

    def _execute(self, pair: str, kind: str, mode: str,
                 only: dict[str, dict[Side, frozenset[str]]] | None) -> bool | None:
        """One ``sync_pair`` call with the pair lock held. ``False`` when another process held the lease."""
        loaded = self.loaded
        if pair not in loaded.app.pairs:
            return None  # removed by a reload after the job fired
        with self._tracking(pair, kind), structlog.contextvars.bound_contextvars(kind=kind):
            if self.stop_event.is_set():
                return None  # a stop raced the job's start; registered first, so the drain saw us
            if only:
                log.info("webhook sync", pair=pair, records=sum(len(ids) for v in only.values() for ids in v.values()),
                         sides=sorted({side for v in only.values() for side in v}))
            store = self._store
            assert store is not None
            try:
                report = sync_pair(
                    loaded, pair, store=store, mode="full" if mode == "full" else "incremental",
                    only=only, stop=self.stop_event, observer=self.metrics,
                )
            except LeaseHeldError as exc:
                log.warning("run skipped: another process is syncing this pair", pair=pair, kind=kind, detail=str(exc))
                self.metrics.skipped(pair, kind)
                return False
            except Exception as exc:
                self.metrics.run_failed(pair, kind)
                self._note(pair, None, outcome="failed", error=str(exc))
                if isinstance(exc, SyncdError):
                    log.error("run failed", kind=kind, error=str(exc), **{"pair": pair, **exc.context()})
                else:
                    log.exception("run crashed", pair=pair, kind=kind)
                return None
        self._finished(pair, kind, report)
        return True

    def _finished(self, pair: str, kind: str, report: RunSummary) -> None:
        self.metrics.observe_run(report, kind)
        outcome = run_outcome(report)
        success = report.ok and not report.stopped and not report.dry_run and kind != "webhook"
        self._note(pair, (report.finished_at or _now()) if success else None, outcome=outcome, error=report.error)
        # the engine logs every run in detail; this line adds the daemon's view (kind, outcome)
        (log.info if outcome != "ok" else log.debug)(
            "run finished", pair=pair, kind=kind, outcome=outcome, run_id=report.run_id,
            reads=sum(report.reads.values()), writes=sum(report.writes.values()), conflicts=report.conflicts,
            record_errors=report.record_errors, duration_s=round(report.duration_s, 3),
            error=report.error,
        )
        if not self._stopping:
            systemd.status(f"{self.status_line()}; {pair}: {kind} {outcome} at {_now():%H:%M:%S}Z")

    def _note(self, pair: str, success: datetime | None, *, outcome: str, error: str | None) -> None:
        with self._health_lock:
            h = self._health.setdefault(pair, PairHealth())
            h.last_outcome = outcome
            h.last_error = error if outcome == "failed" else None
            if success is not None:
                h.last_success = success

    @contextmanager
    def _tracking(self, pair: str, kind: str) -> Iterator[None]:
        key = threading.get_ident()
        with self._active_cond:
            self._active[key] = (pair, kind)
        with self._health_lock:
            self._health.setdefault(pair, PairHealth()).running = kind
        try:
            yield
        finally:
            with self._health_lock:
                self._health.setdefault(pair, PairHealth()).running = None
            with self._active_cond:
                self._active.pop(key, None)
                self._active_cond.notify_all()

    def _running_pairs(self) -> list[str]:
        with self._active_cond:
            return sorted({pair for pair, _ in self._active.values()})

    def _running_kind(self, pair: str) -> str | None:
        with self._active_cond:
            return next((kind for p, kind in self._active.values() if p == pair), None)

    def _idle(self) -> bool:
        with self._active_cond:
            return not self._active

    # -- health and webhooks -------------------------------------------------------

    def health(self) -> Health:
        """Per pair: stale when the last success (or, before any, our start) is older than the bound."""
        max_age = self.loaded.app.daemon.http.health_max_age
        now = _now()
        next_runs = self.scheduler.next_runs()
        pairs: dict[str, dict[str, Any]] = {}
        with self._health_lock:
            snapshot = {name: replace(self._health.get(name, PairHealth())) for name in self.loaded.app.pairs}
        for name, h in sorted(snapshot.items()):
            # before any success, the age counts from our start; a success in the future is stale
            age = success_age(h.last_success or self._started, now)
            nxt = next_runs.get(f"incremental:{name}")
            pairs[name] = {
                "ok": age.fresh(max_age),
                "last_success": h.last_success.isoformat() if h.last_success else None,
                "age_s": age.age_s,
                "last_success_in_future": age.in_future,
                "max_age_s": max_age,
                "running": h.running,
                "last_outcome": h.last_outcome,
                "last_error": h.last_error,
                "next_incremental": nxt.isoformat() if nxt else None,
            }
        return Health(ok=all(p["ok"] for p in pairs.values()), pairs=pairs)

    def status_page(self) -> str:
        """The read-only HTML page at ``/``: pairs, the last day's runs, conflicts and record errors."""
        from syncd import __version__
        from syncd.status_page import collect, render

        store = self._store
        now_ms = int(_now().timestamp() * 1000)
        views = collect(store, sorted(self.loaded.app.pairs), now_ms, self.health().pairs) if store else []
        return render(views, now_ms, __version__)

    def _webhooks(self) -> WebhookReceiver | None:
        return None if self._stopping else self.receiver

    @staticmethod
    def _receiver_config(loaded: LoadedConfig) -> ReceiverConfig:
        hooks = loaded.app.daemon.webhooks
        return ReceiverConfig(
            sources=notification_sources(loaded),
            max_body_bytes=hooks.max_body_bytes,
            public_url=hooks.public_url,
            enabled=hooks.enabled,
        )

    def _refresh_subscriptions(self) -> None:
        """Let each pair side learn what it checks deliveries against, in the background (never delays READY=1)."""
        sources = list(self.receiver.config.sources.values())
        if not sources:
            return

        def work() -> None:
            for notifications in sources:
                if self.stop_event.is_set():
                    return
                notifications.refresh()

        threading.Thread(target=work, name="webhook-subscriptions", daemon=True).start()
