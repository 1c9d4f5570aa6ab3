"""``syncd worker``: one process of a fleet (see :mod:`syncd.fleet`). Added to the main group in :mod:`syncd.cli`."""

from __future__ import annotations

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
