"""``syncd worker``: one process of the fleet.

It reads the same config file as ``syncd run`` (every pair, ``[state] url`` on PostgreSQL,
``[fleet]``), creates procrastinate's tables if the database has none yet, makes the
schedule match the config, and runs a procrastinate worker with ``[fleet] concurrency``
threads for runs. Its HTTP listener (``[daemon.http]``) serves ``/metrics``, ``/healthz``
and the webhook routes; a genuine delivery queues a ``webhook`` run of its pair
``[fleet] webhook_debounce`` seconds later (a burst collapses into the one waiting run).

Signals: SIGTERM or SIGINT stops fetching jobs; runs in flight finish their batch, release
their lease and return, then the process exits 0 (a second signal exits at once). SIGHUP
reloads the config file when it is valid (pairs added or removed, schedules changed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from procrastinate.worker import Worker

from config.loader import LoadedConfig
from connectors.errors import ConfigError, SyncdError
from state.store import StateStore
from syncd import systemd
from syncd.check import load_config
from syncd.fleet import tick as ticking
from syncd.fleet.app import QUEUE, RunKind, enqueue, ensure_queue_schema, new_app
from syncd.fleet.metrics import FleetMetrics
from syncd.fleet.status import fleet_view
from syncd.fleet.tasks import Runtime, register
from syncd.httpserve import ServerLimits
from syncd.logs import configure_logging
from syncd.web import Health, HttpListener, make_app
from syncd.webhooks import Batch, ReceiverConfig, WebhookReceiver, notification_sources

log = structlog.get_logger("syncd.fleet")

EXIT_FAILURE = 1


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class FleetWorker:
    """The whole ``syncd worker`` process."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.metrics = FleetMetrics()
        self.started = datetime.now(UTC)
        self._worker: Worker | None = None
        self._listener: HttpListener | None = None
        self._stopping = False
        self._signals = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.runtime: Runtime | None = None
        hooks = loaded.app.daemon.webhooks
        self.receiver = WebhookReceiver(ReceiverConfig({}, hooks.max_body_bytes), self._webhook,
                                        count=lambda pair, outcome: None)

    # -- start ---------------------------------------------------------------------

    def start(self) -> Runtime:
        """Everything that must work before the first job is fetched. Raises ConfigError / SyncdError."""
        app_cfg = self.loaded.app
        location = self.loaded.state_location
        queue_app = new_app(location)  # ConfigError unless the state is on PostgreSQL
        systemd.status("opening state database")
        # Each run holds one connection at a time and its lease keeper another; the tick and the reaper one each.
        store = StateStore.open(location, lock_timeout=app_cfg.state.lock_timeout,
                                connections=2 * app_cfg.fleet.concurrency + 4)
        ensure_queue_schema(store.engine)
        rt = Runtime(self.loaded, store, queue_app, self.metrics)
        register(rt)
        ticking.sync_schedule(store.engine, rt.schedules)
        self.metrics.watch_fleet(lambda: fleet_view(store.engine, app_cfg.fleet.stall_after))
        self.receiver.config = self._receiver_config(self.loaded)
        http = app_cfg.daemon.http
        if http.enabled:
            wsgi = make_app(registry=self.metrics.registry, health=self.health,
                            webhooks=lambda: None if self._stopping else self.receiver)
            bounds = ServerLimits(max_connections=http.max_connections, header_timeout=http.header_timeout,
                                  body_timeout=http.body_timeout, max_body_bytes=app_cfg.daemon.webhooks.max_body_bytes)
            self._listener = HttpListener(wsgi, http.address, http.port, allow_non_loopback=http.allow_non_loopback,
                                          limits=bounds)
            self._listener.start()
            log.info("http listener bound", url=self._listener.url)
        self.runtime = rt
        return rt

    @staticmethod
    def _receiver_config(loaded: LoadedConfig) -> ReceiverConfig:
        hooks = loaded.app.daemon.webhooks
        return ReceiverConfig(sources=notification_sources(loaded), max_body_bytes=hooks.max_body_bytes,
                              public_url=hooks.public_url, enabled=hooks.enabled)

    # -- running -------------------------------------------------------------------

    def run(self) -> int:
        """Start, work until stopped; the exit status."""
        rt = self.start()
        try:
            asyncio.run(self._main(rt))
        finally:
            if self._listener is not None:
                self._listener.stop()
            rt.store.close()
        if not self._stopping:
            # procrastinate stops a worker whose heartbeat or listener failed (the database went away):
            # a failure, so systemd starts it again.
            log.error("worker stopped without being asked to")
            return EXIT_FAILURE
        log.info("stopped")
        return 0

    async def _main(self, rt: Runtime) -> None:
        fleet = self.loaded.app.fleet
        loop = asyncio.get_running_loop()
        self._loop = loop
        # Sync tasks run on the loop's default executor: one thread per slot, two spare for short calls.
        loop.set_default_executor(ThreadPoolExecutor(fleet.concurrency + 2, thread_name_prefix="syncd-run"))
        async with rt.app.open_async():
            # `concurrency` slots: at most that many runs at once, as configured (the tick queues work for
            # that many per worker). The tick and the reaper are short jobs fetched first when a slot frees.
            self._worker = Worker(
                rt.app, queues=[QUEUE], name=worker_name(), concurrency=fleet.concurrency,
                fetch_job_polling_interval=fleet.poll, listen_notify=fleet.listen_notify,
                delete_jobs="always", install_signal_handlers=False,
                shutdown_graceful_timeout=self.loaded.app.daemon.shutdown_timeout,
                update_heartbeat_interval=fleet.heartbeat, stalled_worker_timeout=fleet.stall_after,
            )
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._on_stop, signum)
            loop.add_signal_handler(signal.SIGHUP, self._on_reload)
            systemd.ready(f"worker {worker_name()}: {len(self.loaded.app.pairs)} pair(s), "
                          f"{fleet.concurrency} slot(s)"
                          + (f"; listening on {self._listener.address}:{self._listener.port}" if self._listener else ""))
            log.info("ready", pairs=len(self.loaded.app.pairs), concurrency=fleet.concurrency,
                     url=self._listener.url if self._listener else None)
            await self._worker.run()  # type: ignore[no-untyped-call]

    def _on_stop(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            log.error("forced exit", reason=f"second {name}")
            sys.stdout.flush()
            os._exit(128 + signum)
        log.info("stop requested", signal=name)
        self._stopping = True
        systemd.stopping("stopping; runs in flight finish their batch")
        systemd.extend_timeout(self.loaded.app.daemon.shutdown_timeout + 5)
        if self.runtime is not None:
            self.runtime.stop.set()
        if self._worker is not None:
            self._worker.stop()  # type: ignore[no-untyped-call]

    def _on_reload(self) -> None:
        threading.Thread(target=self.reload, name="reload", daemon=True).start()

    def reload(self) -> bool:
        """Apply the config file again when it is valid; ``True`` if applied."""
        rt = self.runtime
        assert rt is not None
        try:
            new = load_config(self.loaded.path)
            receiver_config = self._receiver_config(new)
        except (ConfigError, SyncdError) as exc:
            log.error("reload rejected; the previous config keeps running", error=str(exc))
            return False
        configure_logging(new.app.logging.level, new.app.logging.format, new.secrets)
        if new.state_location != self.loaded.state_location:
            log.warning("the state location changed; the worker keeps its old database until a restart")
        self.loaded = new
        rt.loaded = new
        self.receiver.config = receiver_config
        ticking.sync_schedule(rt.store.engine, rt.schedules)
        log.info("config reloaded", pairs=len(new.app.pairs))
        return True

    # -- the listener ----------------------------------------------------------------

    def health(self) -> Health:
        """200 while the worker runs and the database answers; the fleet's figures as detail."""
        rt = self.runtime
        detail: dict[str, Any] = {"worker": worker_name(), "stopping": self._stopping,
                                  "runs_in_flight_here": self.metrics.registry.get_sample_value("syncd_worker_runs_in_flight") or 0}
        ok = rt is not None and not self._stopping
        if rt is not None:
            try:
                detail.update(fleet_view(rt.store.engine, self.loaded.app.fleet.stall_after))
            except Exception as exc:  # noqa: BLE001 - unhealthy, with the reason
                ok = False
                detail["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Health(ok=ok, pairs={"fleet": {"ok": ok, **detail}})

    def _webhook(self, pair: str, batch: Batch) -> None:
        """A genuine delivery: queue the pair's webhook run (one waiting at most; a burst is one run)."""
        rt = self.runtime
        if rt is None or self._stopping:
            return
        kind: RunKind = "webhook"
        started = time.monotonic()
        job = enqueue(rt.app, pair, kind, delay=self.loaded.app.fleet.webhook_debounce)
        if job is not None:
            self.metrics.deferred.labels(kind=kind).inc()
        log.debug("webhook_run_queued" if job else "webhook_run_already_queued", pair=pair,
                  seconds=round(time.monotonic() - started, 4))
