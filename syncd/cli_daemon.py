"""``syncd run`` and ``syncd webhooks subscribe|unsubscribe|list``.

The click objects here (``run_cmd``, ``webhooks_group``) are added to the main
group in :mod:`syncd.cli`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import structlog
from rich.console import Console
from rich.table import Table

from config.loader import LoadedConfig, find_config_path
from connectors.errors import ConfigError, SyncdError
from syncd import systemd
from syncd.check import load_config
from syncd.logs import configure_logging

log = structlog.get_logger("syncd.cli")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SYNCD_CONFIG",
    default=None,
    help="Config file (default: $SYNCD_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/cloze-syncd/config.toml).",
)


def _load(config_path: Path | None) -> LoadedConfig:
    """Load the config or exit 78 with every problem on stderr."""
    try:
        loaded = load_config(find_config_path(config_path))
    except ConfigError as exc:
        click.echo(f"syncd: {exc}", err=True)  # str() carries the problems and the hint
        systemd.status("invalid configuration; see the log")
        sys.exit(ConfigError.exit_code)
    for warning in loaded.warnings:
        click.echo(f"syncd: warning: {warning}", err=True)
    return loaded


@click.command("run")
@config_option
def run_cmd(config_path: Path | None) -> None:
    """Run the daemon: scheduled syncs, reconciles, webhooks, /metrics and /healthz.

    Meant as systemd's ExecStart (Type=notify). SIGTERM/SIGINT stop gracefully
    (a second one stops at once), SIGHUP reloads the config file.

    \b
    Exit status: 0 stopped cleanly; 1 fatal error, or runs still busy when
    daemon.shutdown_timeout ran out; 130/143 stopped at once by a second
    SIGINT/SIGTERM; 78 invalid configuration (systemd does not restart).
    """
    from syncd.heap import start_up

    with start_up():  # kept until the daemon stops: frozen out of the garbage collector
        from syncd.daemon import Daemon  # imports APScheduler and the engine: only for `run`

        loaded = _load(config_path)
        configure_logging(loaded.app.logging.level, loaded.app.logging.format, loaded.secrets)
    try:
        code = Daemon(loaded).run()
    except ConfigError as exc:
        log.error("invalid configuration", error=exc.message, problems=exc.problems)
        click.echo(f"syncd: {exc}", err=True)
        sys.exit(ConfigError.exit_code)
    except SyncdError as exc:
        log.error("daemon could not start", error=str(exc), **exc.context())
        sys.exit(exc.exit_code)
    sys.exit(code)


# -- webhooks ------------------------------------------------------------------------


def _pairs(loaded: LoadedConfig, names: Sequence[str]) -> list[str]:
    for name in names:
        loaded.pair(name)  # ConfigError naming the known pairs
    return list(names) or sorted(loaded.app.pairs)


def _handle(func: Callable[[], None]) -> None:
    """Run a webhook command; a SyncdError becomes a one-line message and its exit code."""
    try:
        func()
    except SyncdError as exc:
        click.echo(f"syncd: {exc}", err=True)
        sys.exit(exc.exit_code)


@click.group("webhooks")
def webhooks_group() -> None:
    """Manage the Cloze webhook subscriptions that trigger an immediate sync."""


@webhooks_group.command("subscribe")
@config_option
@click.argument("pairs", nargs=-1)
@click.option("--scope", default=None, help="Cloze scope: local, team, or hierarchy:/path (default: Cloze's).")
def subscribe_cmd(config_path: Path | None, pairs: tuple[str, ...], scope: str | None) -> None:
    """Subscribe each PAIR (default: all) to person/company/project change events.

    Safe to repeat: each subscription carries client_reference
    "cloze-syncd:<pair>:<event>", and Cloze replaces a subscription with the same one.
    """
    from syncd.webhooks import subscribe_pair

    loaded = _load(config_path)
    configure_logging(loaded.app.logging.level, "console", loaded.secrets)

    def work() -> None:
        rows = []
        for pair in _pairs(loaded, pairs):
            done = subscribe_pair(loaded, pair, scope=scope)
            rows.extend(done.rows)
            for side, hint in done.elsewhere.items():
                click.echo(f"{pair} ({side} side): {hint}")
        table = Table("pair", "event", "subscription id", "target")
        for row in rows:
            table.add_row(row.pair, row.event, row.uniqueid, row.target_masked)
        Console().print(table)

    _handle(work)


@webhooks_group.command("unsubscribe")
@config_option
@click.argument("pairs", nargs=-1)
def unsubscribe_cmd(config_path: Path | None, pairs: tuple[str, ...]) -> None:
    """Remove every subscription this tool made for each PAIR (default: all)."""
    from syncd.webhooks import unsubscribe_pair

    loaded = _load(config_path)
    configure_logging(loaded.app.logging.level, "console", loaded.secrets)

    def work() -> None:
        for pair in _pairs(loaded, pairs):
            removed = unsubscribe_pair(loaded, pair)
            click.echo(f"{pair}: removed {len(removed)} subscription(s)" + (f": {', '.join(removed)}" if removed else ""))

    _handle(work)


@webhooks_group.command("list")
@config_option
@click.argument("pairs", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(config_path: Path | None, pairs: tuple[str, ...], as_json: bool) -> None:
    """List the webhook subscriptions of each PAIR (default: all) made by this tool."""
    from syncd.webhooks import list_pair

    loaded = _load(config_path)
    configure_logging(loaded.app.logging.level, "console", loaded.secrets)

    def work() -> None:
        rows = [row for pair in _pairs(loaded, pairs) for row in list_pair(loaded, pair)]
        if as_json:
            out: list[dict[str, Any]] = [row.as_dict() for row in rows]
            click.echo(json.dumps(out, indent=2))
            return
        table = Table("pair", "event", "subscription id", "suspended", "sent ok", "failed", "target")
        for row in rows:
            table.add_row(
                row.pair, row.event, row.uniqueid, "yes" if row.suspended else "no",
                str(row.success_count if row.success_count is not None else ""),
                str(row.fail_count if row.fail_count is not None else ""), row.target_masked,
            )
        Console().print(table)

    _handle(work)


if __name__ == "__main__":  # `python -m syncd.cli_daemon run ...` works without the main group
    @click.group()
    def _main() -> None:
        """cloze-syncd daemon commands."""

    _main.add_command(run_cmd)
    _main.add_command(webhooks_group)
    _main()
