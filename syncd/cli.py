"""The ``syncd`` command line.

Exit codes (the table is in :mod:`syncd.outcome`): 0 success; 1 fatal error; 2
usage; 3 finished but some records failed, conflicts wait for an operator, or
deletes were held back by the safety cap; 75 a side unavailable after retries
(or the pair busy); 78 invalid config; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

import click

from connectors.errors import ConfigError, LeaseHeldError, SyncdError
from connectors.scrub import REDACTED, scrub, scrub_value
from syncd import __version__
from syncd.cli_lazy import LazyConsole, LazyGroup, escape
from syncd.console import Table, err, fail, out, print_report
from syncd.outcome import EXIT_INTERRUPTED, combined_exit, failure_of

if TYPE_CHECKING:

    from config.loader import LoadedConfig
    from state.store import StateStore

# Heavy modules (rich, the config loader, the state store, the engine, the emulators) are
# imported where they are used, so `syncd --help` and shell completion start at once.

F = TypeVar("F", bound=Callable[..., Any])
def interrupted() -> NoReturn:
    err.print("[yellow]interrupted[/]", highlight=False)
    raise SystemExit(EXIT_INTERRUPTED)


class _Main(LazyGroup):
    """The last line of defence: no command ends in a bare traceback or with Click's exit 1 on Ctrl-C."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            interrupted()
        except SyncdError as exc:
            fail(exc)
        except Exception as exc:  # noqa: BLE001 - typed and reported below, never a bare traceback
            failure = failure_of(exc)
            if failure.unexpected:
                import structlog

                structlog.get_logger("syncd.cli").error("unexpected_error", exc_info=exc)
            fail(failure.error)


def config_option(f: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), envvar="SYNCD_CONFIG",
        help="config file (default: $SYNCD_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/cloze-syncd/config.toml)",
    )(f)


def load(config_path: Path | None, *, quiet: bool = False, secrets: bool = True) -> LoadedConfig:
    """The config, or exit 78. ``secrets=False``: for commands that only read the state database."""
    from config.loader import find_config_path
    from syncd.check import load_config
    from syncd.logs import configure_logging

    # Warnings raised while the config is read (TLS checks off, say) go to stderr too.
    configure_logging("warning", "auto", to_stderr=True)
    try:
        loaded = load_config(find_config_path(config_path), resolve_secrets=secrets)
    except ConfigError as exc:
        fail(exc)
    level = log_level_override or (loaded.app.logging.level if not quiet else "warning")
    configure_logging(level, loaded.app.logging.format, loaded.secrets, to_stderr=True)
    for warning in loaded.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return loaded


def open_store(loaded: LoadedConfig, *, readonly: bool = False) -> StateStore:
    """The state database; a new one is announced (a wrong path or user would otherwise go unnoticed)."""
    from state.store import StateStore

    try:
        store = StateStore.open(loaded.state_location, readonly=readonly, lock_timeout=loaded.app.state.lock_timeout)
    except SyncdError as exc:
        fail(exc)
    if store.created and log_level_override != "error":
        where = store.where if store.path is None else str(store.path.resolve())
        err.print(f"[yellow]notice:[/] created a new state database at {escape(where)}; "
                  "every record will be matched as if syncing for the first time", highlight=False)
    return store


# Commands in modules of their own: (module:attribute, the summary `syncd --help` shows).
LAZY_COMMANDS = {
    "run": ("syncd.cli_daemon:run_cmd", "Run the daemon: scheduled syncs, reconciles, webhooks, /metrics and /healthz."),
    "worker": ("syncd.cli_fleet:worker_cmd", ("Run one worker of a fleet: queued runs of any pair, the schedule's tick, "
                                            "webhooks, /metrics and /healthz.")),
    "fleet": ("syncd.cli_fleet:fleet_group",
              "The fleet's figures from the state database: queue, schedule lag, runs in flight, takeovers."),
    "webhooks": ("syncd.cli_daemon:webhooks_group", "Manage the Cloze webhook subscriptions that trigger an immediate sync."),
    "sandbox": ("syncd.sandbox:sandbox_cmd", "Run a reconcile against local Cloze and HubSpot (or Salesforce) emulators with seeded data."),
    "errors": ("syncd.cli_errors:errors_group", "List the records a side refused, grouped by cause."),
    "deploy": ("syncd.cli_deploy:deploy_group", "Write the files a systemd installation needs."),
    "doctor": ("syncd.cli_doctor:doctor_cmd", "Test each pair's credentials, scopes, properties and mapped fields; say what to fix."),
}


LEVELS = ("debug", "info", "warning", "error")
# Set by the main group's -v / -q / --log-level; wins over the config's logging.level.
log_level_override: str | None = None


@click.group(cls=_Main, lazy=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloze-syncd")
@click.option("-v", "--verbose", is_flag=True, help="log debug detail (same as --log-level debug)")
@click.option("-q", "--quiet", is_flag=True, help="log errors only, and skip notices")
@click.option("--log-level", type=click.Choice(LEVELS), help="log level for this command (overrides logging.level)")
def main(verbose: bool, quiet: bool, log_level: str | None) -> None:
    """cloze-syncd: two-way sync between Cloze and an external CRM.

    \b
    Exit codes: 0 ok, 1 fatal, 2 usage, 3 finished with record errors / pending
    conflicts / held deletes, 75 a side unavailable or the pair busy, 78 bad config,
    130 interrupted.

    \b
    Shell completion (bash; zsh and fish likewise with zsh_source / fish_source):
      eval "$(_SYNCD_COMPLETE=bash_source syncd)"
    """
    global log_level_override
    if verbose and quiet:
        raise click.UsageError("-v and -q cannot be combined")
    log_level_override = log_level or ("debug" if verbose else "error" if quiet else None)


# -- reconcile / sync ---------------------------------------------------------------


def _pairs(loaded: LoadedConfig, pair: str | None) -> list[str]:
    if pair is None:
        return list(loaded.app.pairs)
    if pair not in loaded.app.pairs:
        fail(ConfigError(f"no pair named {pair!r}", hint=f"pairs in the config: {', '.join(loaded.app.pairs)}"))
    return [pair]


def _run(config_path: Path | None, pair: str | None, mode: Literal["incremental", "full"], dry_run: bool,
         allow_mass_delete: bool, as_json: bool) -> None:
    from syncd.heap import start_up

    reports = []
    codes: list[int] = []
    try:
        with start_up():  # what the runs below keep to the end: frozen out of the garbage collector
            from syncd.engine.runner import sync_pair
            from syncd.progress import TerminalProgress

            loaded = load(config_path, quiet=as_json)
            store = open_store(loaded, readonly=dry_run)
        try:
            for name in _pairs(loaded, pair):
                # On a terminal: a bar per phase (read, plan, write) with rate and ETA, log lines above it;
                # otherwise the engine logs a `progress` line every logging.progress_interval.
                bars = TerminalProgress(err.get() if isinstance(err, LazyConsole) else err, name) \
                    if err.is_terminal and not as_json else None
                try:
                    report = sync_pair(loaded, name, store=store, mode=mode, dry_run=dry_run,
                                       allow_mass_delete=allow_mass_delete, progress=bars)
                except Exception as exc:  # noqa: BLE001 - sync_pair raises typed errors; anything else is typed here
                    failure = failure_of(exc)
                    err.print(f"[bold red]error:[/] {escape(str(failure.error))}", highlight=False)
                    codes.append(failure.exit_code)
                    continue
                finally:
                    if bars is not None:
                        bars.stop()
                reports.append(report)
                codes.append(report.exit_code())
                if report.interrupted:
                    break  # Ctrl-C stops every pair, not just the one in flight
        finally:
            store.close()
    except KeyboardInterrupt:
        codes.append(EXIT_INTERRUPTED)
    if as_json:
        out.print_json(json.dumps([dict(r.as_dict(), plan=r.plan) if r.dry_run else r.as_dict() for r in reports]))
    else:
        for report in reports:
            print_report(report)
    code = combined_exit(codes)
    if code == EXIT_INTERRUPTED:
        interrupted()
    raise SystemExit(code)


@main.command()
@config_option
@click.option("--pair", help="only this pair (default: every pair)")
@click.option("--dry-run", is_flag=True, help="print the plan; write nothing anywhere, the state file included")
@click.option("--allow-mass-delete", is_flag=True, help="apply deletes even above the pair's safety cap")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def reconcile(config_path: Path | None, pair: str | None, dry_run: bool, allow_mass_delete: bool, as_json: bool) -> None:
    """Compare both sides in full and bring them together, then exit."""
    _run(config_path, pair, "full", dry_run, allow_mass_delete, as_json)


@main.command()
@config_option
@click.option("--pair", help="only this pair (default: every pair)")
@click.option("--dry-run", is_flag=True, help="print the plan; write nothing anywhere")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def sync(config_path: Path | None, pair: str | None, dry_run: bool, as_json: bool) -> None:
    """One incremental sync (what changed since the last run), then exit."""
    _run(config_path, pair, "incremental", dry_run, False, as_json)


# -- status -------------------------------------------------------------------------


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
def status(config_path: Path | None, as_json: bool) -> None:
    """Per pair: last run, links, pending conflicts, record errors, and the activity backfill."""
    from syncd.activity_status import activity_lines, activity_status
    from syncd.web import success_age

    loaded = load(config_path, quiet=True, secrets=False)
    store = open_store(loaded, readonly=True)
    rows = []
    try:
        for name in loaded.app.pairs:
            runs = store.runs(name, limit=1)
            last = runs[0] if runs else None
            success = store.last_success(name)
            age = success_age(success, None)
            rows.append({
                "pair": name,
                "last_run": last.id if last else None,
                "last_status": last.status if last else None,
                "last_mode": last.mode if last else None,
                "last_finished_ms": last.finished_at if last else None,
                "last_success": success.isoformat() if success else None,
                "last_success_age_s": age.age_s,
                "last_success_in_future": age.in_future,
                "links": store.link_count(name),
                "pending_conflicts": len(store.conflicts(name, "open")),
                "record_errors": len(store.open_errors(name)),
                "counts": json.loads(last.counts) if last and last.counts else {},
                "activities": activity_status(store, name) if loaded.app.pairs[name].activities else None,
            })
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    from state.backend import describe

    table = Table(title=f"cloze-syncd status ({describe(loaded.state_location)})")
    for col in ("pair", "last run", "last success", "links", "pending conflicts", "record errors"):
        table.add_column(col)
    for r in rows:
        success_text = r["last_success"] or "never"
        if r["last_success_in_future"]:
            success_text += " (in the future: check the clock; treated as stale)"
        table.add_row(r["pair"], f"{r['last_status'] or 'never'} ({r['last_mode'] or '-'})", success_text,
                      str(r["links"]), str(r["pending_conflicts"]), str(r["record_errors"]))
    out.print(table)
    for r in rows:
        for line in activity_lines(r["pair"], r["activities"]):
            out.print(escape(line))


# -- conflicts ------------------------------------------------------------------------


@main.group()
def conflicts() -> None:
    """List, show and resolve field conflicts."""


@conflicts.command("list")
@config_option
@click.option("--pair")
@click.option("--all", "show_all", is_flag=True, help="also conflicts settled by policy or already applied")
@click.option("--json", "as_json", is_flag=True)
def conflicts_list(config_path: Path | None, pair: str | None, show_all: bool, as_json: bool) -> None:
    loaded = load(config_path, quiet=True, secrets=False)
    store = open_store(loaded, readonly=True)
    from syncd.backlog import link_labels

    try:
        rows = store.conflicts(pair, None if show_all else "open")
        labels = link_labels(store, rows)
    finally:
        store.close()
    data = [dict(_conflict_dict(r), record=labels.get(r.link_id or -1)) for r in rows]
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table(title="conflicts" + ("" if show_all else " waiting for an operator"))
    for col in ("id", "pair", "entity", "record", "field", "cloze", "external", "base", "policy", "outcome", "status"):
        table.add_column(col)
    for d in data:
        record = d["record"] or f"cloze {d['cloze_id']} / external {d['external_id']}"
        table.add_row(str(d["id"]), d["pair"], d["entity"], escape(record), d["field"], _shown(d["cloze_value"]),
                      _shown(d["external_value"]), _shown(d["base"]), d["policy"], d["outcome"], d["status"])
    out.print(table)


def _shown(value: Any) -> str:
    """A stored value as JSON, with names as written (``"Tomás"``)."""
    return escape(json.dumps(value, ensure_ascii=False))


def _conflict_dict(row: Any) -> dict[str, Any]:
    data: dict[str, Any] = row.model_dump()
    for key in ("base", "cloze_value", "external_value", "resolution"):
        data[key] = json.loads(data[key]) if data.get(key) is not None else None
    return data


@conflicts.command("show")
@config_option
@click.argument("conflict_id", type=int)
def conflicts_show(config_path: Path | None, conflict_id: int) -> None:
    loaded = load(config_path, quiet=True, secrets=False)
    store = open_store(loaded, readonly=True)
    from syncd.backlog import link_labels

    try:
        row = store.conflict(conflict_id)
        labels = link_labels(store, [row] if row is not None else [])
    finally:
        store.close()
    if row is None:
        fail(SyncdError(f"no conflict with id {conflict_id}"))
    out.print_json(json.dumps(dict(_conflict_dict(row), record=labels.get(row.link_id or -1))))


@conflicts.command("resolve")
@config_option
@click.argument("conflict_id", type=int)
@click.option("--take", type=click.Choice(["cloze", "external"]), help="keep this side's value")
@click.option("--value", "given", help="use this value instead (JSON, or plain text)")
def conflicts_resolve(config_path: Path | None, conflict_id: int, take: str | None, given: str | None) -> None:
    """Choose a value; the next run writes it to both sides."""
    if (take is None) == (given is None):
        raise click.UsageError("give exactly one of --take cloze|external or --value VALUE")
    loaded = load(config_path, quiet=True, secrets=False)
    store = open_store(loaded)
    try:
        row = store.conflict(conflict_id)
        if row is None:
            fail(SyncdError(f"no conflict with id {conflict_id}"))
        if take is not None:
            raw = row.cloze_value if take == "cloze" else row.external_value
            value = json.loads(raw) if raw is not None else None
            store.resolve_conflict(conflict_id, take, value)
        else:
            assert given is not None
            try:
                value = json.loads(given)
            except json.JSONDecodeError:
                value = given
            store.resolve_conflict(conflict_id, "value", value)
    except SyncdError as exc:
        fail(exc)
    finally:
        store.close()
    out.print(f"conflict {conflict_id} resolved ({take or 'given value'}): {json.dumps(value)}; the next run applies it")


# -- state ----------------------------------------------------------------------------


@main.group()
def state() -> None:
    """Inspect, export or rebuild the state database."""


@state.command("export")
@config_option
def state_export(config_path: Path | None) -> None:
    """Print the whole state database as JSON (it holds no secrets, and the export is scrubbed as well)."""
    loaded = load(config_path, quiet=True, secrets=False)
    store = open_store(loaded, readonly=True)
    try:
        data = store.export()
    finally:
        store.close()
    click.echo(json.dumps(scrub_value(data), indent=2, sort_keys=True))


@state.command("check")
@config_option
def state_check(config_path: Path | None) -> None:
    """Check the state database (SQLite's integrity check, its schema version); list every problem found."""
    loaded = load(config_path, quiet=True, secrets=False)
    from state.backend import describe
    from state.store import StateStore

    problems = StateStore.check_file(loaded.state_location, lock_timeout=loaded.app.state.lock_timeout)
    if problems:
        for p in problems:
            err.print(f"[bold red]problem:[/] {escape(p)}", highlight=False)
        raise SystemExit(1)
    if loaded.state_url is not None:
        out.print(f"{describe(loaded.state_url)}: ok")
    else:
        out.print(f"{loaded.state_path}: ok" + ("" if loaded.state_path.exists() else " (no database yet)"))


@state.command("migrate")
@config_option
@click.option("--to", "target", required=True, metavar="URL",
              help="the empty PostgreSQL database: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB, or env:NAME / "
                   "file:PATH / credential:NAME holding it")
@click.option("--from", "source", type=click.Path(path_type=Path), default=None,
              help="the SQLite state file to copy (default: [state] path)")
def state_migrate(config_path: Path | None, target: str, source: Path | None) -> None:
    """Copy the SQLite state database into PostgreSQL in one transaction, verified table by table."""
    from config.loader import resolve_secret
    from connectors.scrub import register
    from state.backend import describe, is_database_url
    from state.transfer import migrate

    loaded = load(config_path, quiet=True, secrets=False)
    try:
        url = resolve_secret(target)
    except ValueError as exc:
        fail(ConfigError(f"--to: {exc}"))
    register(url)
    if not is_database_url(url):
        fail(ConfigError("--to: expected a PostgreSQL URL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)"))
    try:
        report = migrate(source or loaded.state_path, url, lock_timeout=loaded.app.state.lock_timeout)
    except SyncdError as exc:
        fail(exc)
    for t in report.tables:
        out.print(f"{t.table:<14} {t.rows:>9} rows  sha256 {t.sha256}", highlight=False)
    out.print(f"copied {report.rows} rows from {report.source} to {escape(describe(url))} in "
              f"{report.copy_seconds:.2f} s ({report.rows_per_second:,.0f} rows/s), every table's digest equal; "
              f"set [state] url to it and start syncd again", highlight=False)


@state.command("adopt")
@config_option
@click.option("--pair", required=True, help="the pair whose accounts moved")
def state_adopt(config_path: Path | None, pair: str) -> None:
    """Record the accounts the pair reaches now as the ones its state belongs to.

    For a legitimate move only (a renamed Cloze login, a migrated HubSpot portal, a
    moved Tryton database): runs refuse a state database recorded for other accounts.
    """
    from syncd.engine.accounts import adopt_accounts, current_accounts
    from syncd.engine.runner import build_connectors, lease_owner

    loaded = load(config_path)
    _pairs(loaded, pair)
    store = open_store(loaded)
    owner = lease_owner()
    try:
        if not store.acquire_lease(pair, owner, loaded.app.state.lease_ttl):
            fail(LeaseHeldError(f"pair {pair!r} is being synced; try again when the run is over", pair=pair))
        conns = build_connectors(loaded, pair)
        try:
            current = current_accounts(conns, loaded.pair(pair).app_id)
        finally:
            for conn in conns.values():
                conn.close()
        changed = adopt_accounts(store, pair, current)["changed"]
    except SyncdError as exc:
        fail(exc)
    finally:
        store.release_lease(pair, owner)
        store.close()
    for line in changed:
        out.print(f"pair {pair}: {escape(line)}", highlight=False)
    out.print(f"pair {pair}: the state database now belongs to " + "; ".join(
        f"{side} {', '.join(f'{k}={v}' for k, v in sorted(ident.items()))}" for side, ident in sorted(current.items())
        if ident), highlight=False)


@state.command("rebuild")
@config_option
@click.option("--pair", help="only this pair (default: every pair)")
def state_rebuild(config_path: Path | None, pair: str | None) -> None:
    """Re-derive links from App Links and stored Cloze identities; writes nothing to either side."""
    from syncd.rebuild import rebuild_pair

    loaded = load(config_path)
    store = open_store(loaded)
    code = 0
    try:
        for name in _pairs(loaded, pair):
            try:
                result = rebuild_pair(loaded, name, store)
            except SyncdError as exc:
                err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
                code = exc.exit_code
                continue
            for entity, n in result.links.items():
                out.print(f"pair {name}: {entity}: {n} links rebuilt, {result.unmatched[entity]} records without a join marker")
            for problem in result.problems:
                out.print(f"[yellow]problem:[/] {escape(problem)}", highlight=False)
    finally:
        store.close()
    raise SystemExit(code)


# -- config ---------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Check, show, print an example of, or print the JSON Schema of the config file."""


@config_group.command("check")
@config_option
def config_check(config_path: Path | None) -> None:
    """Validate the config file; print every problem with its key path; exit 78 if invalid."""
    from config.loader import find_config_path
    from syncd.check import load_config

    path = find_config_path(config_path)
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        fail(exc)
    for warning in loaded.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    out.print(f"{path}: ok ({len(loaded.app.pairs)} pair{'s' if len(loaded.app.pairs) != 1 else ''}: {', '.join(loaded.app.pairs)})")


@config_group.command("show")
@config_option
def config_show(config_path: Path | None) -> None:
    """The effective config with defaults filled in (secret references are shown, never their values)."""
    loaded = load(config_path, quiet=True)
    out.print_json(scrub(json.dumps(masked_config(loaded))))


def masked_config(loaded: LoadedConfig) -> dict[str, Any]:
    """The config as JSON data with every inline secret replaced by ``***`` (references stay readable)."""
    from config.loader import is_secret_key

    data: dict[str, Any] = loaded.app.model_dump(mode="json")

    def inline(value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not value.startswith(("env:", "file:", "credential:"))

    for pair_name, pair in data.get("pairs", {}).items():
        for side in ("cloze", "external"):
            table = pair.get(side) or {}
            cls = loaded.connectors.get(pair_name, {}).get(side)
            for key, value in table.items():
                secret = is_secret_key(cls.Settings, key) if cls is not None else False
                if secret and inline(value):
                    table[key] = REDACTED
    hooks = data.get("daemon", {}).get("webhooks", {})
    if inline(hooks.get("secret")):
        hooks["secret"] = REDACTED
    return data


@config_group.command("schema")
def config_schema() -> None:
    """Print a JSON Schema of the config file (for editors; connector tables are checked by `config check`)."""
    from config.models import AppConfig

    schema = AppConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cloze-syncd config.toml"
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))


@config_group.command("example")
def config_example() -> None:
    """Print the commented example config shipped in config/example.toml."""
    from importlib.resources import files

    click.echo((files("config") / "example.toml").read_text(encoding="utf-8"), nl=False)


def run() -> None:
    """The ``syncd`` program (its console script, ``python -m syncd.cli``): :data:`main` in a process of its own."""
    from syncd import heap

    heap.own_process()
    main()


if __name__ == "__main__":  # pragma: no cover
    run()
