"""``syncd worker`` (one process of a fleet, see :mod:`syncd.fleet`) and ``syncd fleet status``.
Added to the main group in :mod:`syncd.cli`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import structlog

from connectors.errors import ConfigError, SyncdError
from syncd.cli_daemon import _load, config_option
from syncd.logs import configure_logging

log = structlog.get_logger("syncd.cli")


@click.command("worker")
@config_option
def worker_cmd(config_path: Path | None) -> None:
    """Run one worker of a fleet: queued runs of any pair, the schedule's tick, webhooks, /metrics and /healthz.

    Needs the state on PostgreSQL ([state] url), one database for the whole fleet; start as
    many workers, on as many hosts, as the pairs need ([fleet] concurrency runs each).
    SIGTERM/SIGINT stop gracefully (runs finish their batch and release their lease; a second
    signal stops at once), SIGHUP reloads the config file.

    \b
    Exit status: 0 stopped cleanly; 78 invalid configuration; 75 the state database is
    unreachable or locked; 130/143 stopped at once by a second SIGINT/SIGTERM.
    """
    from syncd.heap import start_up

    with start_up():  # kept until the worker stops: frozen out of the garbage collector
        from syncd.fleet.worker import FleetWorker  # imports procrastinate and the engine: only for `worker`

        loaded = _load(config_path)
        configure_logging(loaded.app.logging.level, loaded.app.logging.format, loaded.secrets)
    try:
        code = FleetWorker(loaded).run()
    except ConfigError as exc:
        log.error("invalid configuration", error=exc.message, problems=exc.problems)
        click.echo(f"syncd: {exc}", err=True)
        sys.exit(ConfigError.exit_code)
    except SyncdError as exc:
        log.error("worker could not start", error=str(exc), **exc.context())
        click.echo(f"syncd: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code)


@click.group("fleet")
def fleet_group() -> None:
    """The fleet's figures from the state database: queue, schedule lag, runs in flight, takeovers."""


@fleet_group.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def fleet_status_cmd(config_path: Path | None, as_json: bool) -> None:
    """Runs queued (by kind) and in flight, the schedule's lag and runs due, workers alive, lease takeovers.

    Read from the state database ([state] url, PostgreSQL) the workers share: any host with the
    config can ask. Exit status 75 when the database cannot be reached, 78 on a config error.
    """
    from rich.console import Console
    from rich.table import Table

    from state.backend import describe, is_database_url
    from state.store import StateStore
    from syncd.fleet.status import fleet_status

    loaded = _load(config_path)
    if not is_database_url(str(loaded.state_location)):
        click.echo("syncd: a fleet keeps its state on PostgreSQL; [state] url names no PostgreSQL database", err=True)
        sys.exit(ConfigError.exit_code)
    try:
        store = StateStore.open(loaded.state_location, readonly=True, lock_timeout=loaded.app.state.lock_timeout)
        try:
            status = fleet_status(store.engine, loaded.app.fleet.stall_after)
        finally:
            store.close()
    except SyncdError as exc:
        click.echo(f"syncd: {exc}", err=True)
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps(status.as_dict()))
        return
    table = Table(title=f"cloze-syncd fleet ({describe(loaded.state_location)})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    kinds = ", ".join(f"{kind} {n}" for kind, n in status.queued_by_kind.items())
    rows = [
        ("runs queued", f"{status.queue_depth}" + (f" ({kinds})" if kinds else "")),
        ("runs in flight", str(status.runs_in_flight)),
        ("schedule lag", f"{status.schedule_lag_seconds:.1f} s"),
        ("runs due, not queued", str(status.runs_due)),
        ("pairs scheduled", str(status.pairs_scheduled)),
        ("workers alive", str(status.workers_alive)),
        ("lease takeovers", str(status.lease_takeovers)),
        ("leases expired, not released", str(status.leases_expired_unreleased)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    if not status.queue_ready:
        click.echo("no worker has started on this database yet (the queue's tables are missing)")
