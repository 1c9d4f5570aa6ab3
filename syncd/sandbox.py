"""``syncd sandbox``: try cloze-syncd safely against local emulators with seeded data.

It starts the Cloze and HubSpot emulators on free loopback ports, fills them
with a small business's records (a few hundred people, companies and deals;
some people already on both sides; a few edits made on both sides since),
writes a ready config, runs a full reconcile, makes conflicting edits, runs an
incremental sync to show the conflicts being settled, and prints what happened.
With ``--serve`` the emulators keep running so the other commands can be tried
against the written config.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from connectors.cloze.emulator import ClozeEmulator
from connectors.cloze.seed import seed_emulator
from connectors.errors import SyncdError
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.seed import build_dataset, load_into
from state.store import StateStore
from syncd.backlog import link_labels
from syncd.check import load_config
from syncd.console import fail, print_report
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.logs import configure_logging
from syncd.sandbox_files import CLOZE_KEY, write_private

console = Console(soft_wrap=True)

HUBSPOT_TOKEN = "sandbox-hubspot-token"

CONFIG = """\
# Written by `syncd sandbox`: a pair between the local Cloze and HubSpot emulators.
[state]
path = "{state}"

[logging]
level = "warning"

[daemon.http]
port = 0

[pairs.sandbox]
app_id = "hubspot.com"
app_name = "HubSpot (sandbox)"
delete_policy = "unlink"

[pairs.sandbox.schedule]
interval = "30s"
reconcile_cron = "0 3 * * *"

[pairs.sandbox.cloze]
base_url = "{cloze}"
rate_per_second = 200
api_key = "file:{cloze_key}"
user = "sandbox@example.com"

[pairs.sandbox.external]
connector = "hubspot"
base_url = "{hubspot}"
token = "file:{hubspot_token}"
token_kind = "private_app"
api_version = "v3"
portal_id = 4242424
app_host = "{hubspot}"

[pairs.sandbox.entities.person]
policy = "newest_wins"

[pairs.sandbox.entities.person.fields]
first = {{}}
last = {{}}
title = {{}}
company = {{}}
emails = {{}}
phones = {{}}
addresses = {{}}
tags = {{}}
companies = {{}}
# Cloze stage keys <-> HubSpot lifecycle stages; other HubSpot stages read as the nearest Cloze one.
stage = {{ values = {{ lead = "lead", future = "opportunity", current = "customer", past = "evangelist", out = "other" }}, more_external_values = {{ subscriber = "lead", marketingqualifiedlead = "lead", salesqualifiedlead = "future" }} }}

[pairs.sandbox.entities.company]
policy = "newest_wins"

[pairs.sandbox.entities.company.fields]
# HubSpot's industry is a fixed list of options; Cloze's is free text, so it is left out here.
name = {{}}
domains = {{}}
phones = {{}}
addresses = {{}}
description = {{}}
tags = {{}}

[pairs.sandbox.entities.project]
policy = "cloze_wins"

[pairs.sandbox.entities.project.fields]
name = {{}}
summary = {{}}
value = {{}}
close_date = {{}}
tags = {{}}
people = {{}}
companies = {{}}
# Cloze's documented project stages are future, current, won and lost.
stage = {{ values = {{ future = "appointmentscheduled", current = "presentationscheduled", {pending}won = "closedwon", lost = "closedlost" }}, more_external_values = {{ qualifiedtobuy = "future", decisionmakerboughtin = "current"{contractsent} }} }}
"""


def write_config(directory: Path, cloze_url: str, hubspot_url: str, *, pending_stage: bool = False) -> Path:
    """Write the sandbox pair's config and its two secret files into ``directory``; returns the config path.

    ``pending_stage``: the Cloze account has the (undocumented) ``pending`` project stage, which
    then stands for HubSpot's ``contractsent``; without it that deal stage reads as ``current``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    write_private(directory / "cloze_api_key", CLOZE_KEY + "\n")
    write_private(directory / "hubspot_token", HUBSPOT_TOKEN + "\n")
    config_path = directory / "config.toml"
    write_private(config_path, CONFIG.format(
        state=(directory / "state.db").resolve(), cloze=cloze_url, hubspot=hubspot_url,
        cloze_key=(directory / "cloze_api_key").resolve(), hubspot_token=(directory / "hubspot_token").resolve(),
        pending='pending = "contractsent", ' if pending_stage else "",
        contractsent="" if pending_stage else ', contractsent = "current"',
    ))
    return config_path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no TOML form for {value!r}")


def set_keys(text: str, table: str, values: Mapping[str, Any]) -> str:
    """``text`` with ``key = value`` set in ``[table]`` (replaced where present, else added under the header).

    For the flat keys of a sandbox config (tests and benchmarks tune one this way); it
    keeps the comments and layout of the rest of the file.
    """
    lines = text.splitlines()
    header = f"[{table}]"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        lines += ["", header]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for key, value in values.items():
        rendered = f"{key} = {_toml(value)}"
        found = next((i for i in range(start + 1, end) if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i])), None)
        if found is None:
            lines.insert(start + 1, rendered)
            end += 1
        else:
            lines[found] = rendered
    return "\n".join(lines) + "\n"


def tune_config(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> None:
    """Set keys in several tables of the config file at ``path`` (kept owner-only)."""
    text = path.read_text()
    for table, values in tables.items():
        text = set_keys(text, table, values)
    write_private(path, text)


def seed_overlap(cloze: ClozeEmulator, hubspot: HubSpotEmulator, rng: random.Random, count: int) -> int:
    """Put ``count`` Cloze people into HubSpot too (same e-mail, HubSpot's own spelling of the rest)."""
    people = [p for p in cloze.records("person") if p.get("emails")][:count]
    for person in people:
        email = person["emails"][0]["value"]
        props = {"email": email.upper() if rng.random() < 0.3 else email,
                 "firstname": person.get("first", ""), "lastname": person.get("last", "")}
        if rng.random() < 0.5:
            props["jobtitle"] = rng.choice(["Broker", "Partner", "Office manager", "Agent"])
        hubspot.add_object("contacts", props)
    return len(people)


def conflicting_edits(cloze_url: str, hubspot: HubSpotEmulator, loaded: Any, rng: random.Random, count: int) -> list[str]:
    """Edit the first name of ``count`` linked people on both sides (a conflict each)."""
    import httpx

    store = StateStore.open(loaded.state_path)
    try:
        links = [l for l in store.links("sandbox", "person") if l.status == "active"][:count]
    finally:
        store.close()
    names = []
    with httpx.Client(base_url=cloze_url, params={"api_key": CLOZE_KEY, "user": "sandbox@example.com"}) as http:
        for link in links:
            http.post("/v1/people/update", json={"direct": link.cloze_id, "first": "Cloze-Edited"})
            hubspot.update_object("contacts", str(link.external_id), {"firstname": "HubSpot-Edited"})
            names.append(str(link.cloze_id))
    return names


def parse_settings(items: tuple[str, ...]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; a value is read as JSON (``true``, ``2``) where it parses, else as text."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--cloze-setting")
        try:
            out[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[name.strip()] = raw
    return out


MARKER = ".syncd-sandbox"  # marks a directory this command made, so a rerun may clear it


def prepare_directory(directory: Path, force: bool) -> None:
    """An empty ``directory`` for a new sandbox: an earlier sandbox's is cleared, anything else only with force."""
    if directory.exists() and not directory.is_dir():
        raise SyncdError(f"{directory} is a file, not a directory", hint="pass another --dir")
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).is_file() and not force:
            raise SyncdError(
                f"{directory} is not empty and is not a sandbox made by `syncd sandbox`; nothing was deleted",
                hint="pass an empty or new --dir, or add --force to delete everything in it",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("written by `syncd sandbox`; a rerun with the same --dir replaces this directory\n")


def syncd_command() -> str:
    """How to run this same ``syncd`` as typed from the current directory (it may not be on PATH)."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "syncd":  # python -m syncd.cli, or a test runner
        return f"{sys.executable} -m syncd.cli"
    on_path = shutil.which("syncd")
    if on_path and Path(on_path).resolve() == argv0.resolve():
        return "syncd"
    full = argv0 if argv0.is_absolute() else Path.cwd() / argv0
    here = Path.cwd()
    if here != Path("/") and full.is_relative_to(here):
        return str(full.relative_to(here))  # .venv/bin/syncd, after the quick start
    return str(full)


def _show(report: RunReport, title: str) -> None:
    console.rule(title)
    print_report(report)


def _seed(cloze: ClozeEmulator, hubspot: HubSpotEmulator, people: int, seed_value: int,
          rng: random.Random) -> tuple[dict[str, int], int]:
    """Fill both emulators, with a progress bar per side (a large seed takes a while)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=console, transient=False,
                  disable=not console.is_terminal) as bars:
        task = bars.add_task("seeding Cloze", total=None)
        seeded = seed_emulator(cloze, people, seed_value,
                               progress=lambda done, total: bars.update(task, completed=done, total=total))
        task = bars.add_task("seeding HubSpot", total=None)
        dataset = build_dataset(seed_value, companies=16, contacts=max(40, people // 3), deals=max(15, people // 10))
        load_into(hubspot, dataset, progress=lambda done, total: bars.update(task, completed=done, total=total))
        overlap = seed_overlap(cloze, hubspot, rng, max(5, people // 10))
    return seeded, overlap


def _sync(loaded: Any, store: StateStore, mode: Literal["incremental", "full"]) -> RunReport:
    """One run of the sandbox pair, with progress bars on a terminal (a large seed takes minutes)."""
    from syncd.progress import TerminalProgress

    bars = TerminalProgress(console, "sandbox") if console.is_terminal else None
    try:
        return sync_pair(loaded, "sandbox", store=store, mode=mode, progress=bars)
    finally:
        if bars is not None:
            bars.stop()


@click.command("sandbox")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("sandbox"),
              show_default=True, help="where the config, secrets and state database are written")
@click.option("--force", is_flag=True, help="clear --dir even if it holds files that are not an earlier sandbox")
@click.option("--people", type=click.IntRange(min=0), default=300, show_default=True,
              help="Cloze people to seed (companies and deals follow)")
@click.option("--seed", "seed_value", type=int, default=7, show_default=True, help="random seed for the data")
@click.option("--serve", is_flag=True, help="keep the emulators running afterwards (Ctrl-C stops them)")
@click.option("--cloze-setting", "cloze_settings", multiple=True, metavar="NAME=VALUE",
              help="a Cloze emulator behaviour setting (connectors/cloze/EMULATOR_CHOICES.md), e.g. "
                   "app_link_get=all; the defaults are the documented behaviour")
@click.option("--external", type=click.Choice(["hubspot", "salesforce"]), default="hubspot", show_default=True,
              help="which external CRM's emulator is the other side")
def sandbox_cmd(directory: Path, force: bool, people: int, seed_value: int, serve: bool,
                cloze_settings: tuple[str, ...], external: str) -> None:
    """Run a reconcile against local Cloze and HubSpot (or Salesforce) emulators with seeded data."""
    if external == "salesforce":
        _salesforce_sandbox(directory, force, people, seed_value, serve, parse_settings(cloze_settings))
        return
    configure_logging("warning", "auto", (CLOZE_KEY, HUBSPOT_TOKEN), to_stderr=True)
    behaviour = parse_settings(cloze_settings)
    try:
        prepare_directory(directory, force)
    except SyncdError as exc:
        fail(exc)
    rng = random.Random(seed_value)
    try:
        emulator = ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com", seed=seed_value, **behaviour)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--cloze-setting") from None
    with emulator as cloze, HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        if not console.is_terminal:
            console.print(f"seeding the emulators ({people} Cloze people)…")
        seeded, overlap = _seed(cloze, hubspot, people, seed_value, rng)
        console.print(
            f"[bold]Cloze emulator[/] {cloze.url}: {seeded['person']} people, {seeded['company']} companies, "
            f"{seeded['project']} projects\n[bold]HubSpot emulator[/] {hubspot.url}: "
            f"{len(hubspot.objects('contacts'))} contacts ({overlap} of them also in Cloze), "
            f"{len(hubspot.objects('companies'))} companies, {len(hubspot.objects('deals'))} deals"
        )
        config_path = write_config(directory, cloze.url, hubspot.url, pending_stage=cloze.behaviour.project_pending_stage)
        try:
            loaded = load_config(config_path)
        except SyncdError as exc:
            fail(exc)
        console.print(f"config written to [bold]{config_path}[/]\n")

        failed = _story(loaded, config_path, "HubSpot", hubspot.url, cloze.url, serve,
                        lambda: conflicting_edits(cloze.url, hubspot, loaded, rng, 3))
    raise SystemExit(1 if failed else 0)


def _salesforce_sandbox(directory: Path, force: bool, people: int, seed_value: int, serve: bool,
                        behaviour: dict[str, Any]) -> None:
    """The sandbox story with the Salesforce emulator as the external side."""
    from connectors.salesforce.emulator import SalesforceEmulator
    from syncd import sandbox_salesforce as sf

    configure_logging("warning", "auto", (CLOZE_KEY, sf.SALESFORCE_SESSION), to_stderr=True)
    try:
        prepare_directory(directory, force)
    except SyncdError as exc:
        fail(exc)
    rng = random.Random(seed_value)
    try:
        emulator = ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com", seed=seed_value, **behaviour)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--cloze-setting") from None
    with emulator as cloze, SalesforceEmulator(sf.SALESFORCE_SESSION) as salesforce:
        if not console.is_terminal:
            console.print(f"seeding the emulators ({people} Cloze people)…")
        seeded = seed_emulator(cloze, people, seed_value)
        sf.seed_salesforce(salesforce, people, seed_value)
        overlap = sf.seed_overlap(cloze, salesforce, rng, max(5, people // 10))
        console.print(
            f"[bold]Cloze emulator[/] {cloze.url}: {seeded['person']} people, {seeded['company']} companies, "
            f"{seeded['project']} projects\n[bold]Salesforce emulator[/] {salesforce.url}: {sf.counts(salesforce)} "
            f"({overlap} contacts also in Cloze)")
        config_path = sf.write_config(directory, cloze.url, salesforce.url,
                                      pending_stage=cloze.behaviour.project_pending_stage)
        try:
            loaded = load_config(config_path)
        except SyncdError as exc:
            fail(exc)
        console.print(f"config written to [bold]{config_path}[/]\n")
        failed = _story(loaded, config_path, "Salesforce", salesforce.url, cloze.url, serve,
                        lambda: sf.conflicting_edits(cloze.url, salesforce, loaded, 3))
    raise SystemExit(1 if failed else 0)


def _story(loaded: Any, config_path: Path, external: str, external_url: str, cloze_url: str, serve: bool,
           edit: Callable[[], list[Any]]) -> bool:
    """The sandbox's three runs against seeded emulators, the conflicts they recorded and what to try
    next; with ``serve``, the emulators keep answering until Ctrl-C. True when a run went wrong."""
    store = StateStore.open(loaded.state_path)
    try:
        first = _sync(loaded, store, "full")
        _show(first, "1. first reconcile: existing people matched by e-mail, the rest created on each side")
        edited = edit()
        second = _sync(loaded, store, "incremental")
        _show(second, f"2. incremental sync after {len(edited)} people were edited on both sides (newest wins)")
        third = _sync(loaded, store, "full")
        _show(third, "3. reconcile again: nothing left to do, nothing written")
        conflicts = store.conflicts("sandbox")
        labels = link_labels(store, conflicts)
    finally:
        store.close()
    console.rule("conflicts recorded")
    for row in conflicts[:10]:
        who = labels.get(row.link_id or -1) or row.cloze_id
        console.print(f"  #{row.id} {row.entity} {escape(str(who))} {row.field}: "
                      f"Cloze {escape(row.cloze_value or 'null')} / "
                      f"{external} {escape(row.external_value or 'null')} -> {row.outcome} ({row.policy})",
                      highlight=False)
    command = syncd_command()
    console.print(f"\nTry: {command} status --config {config_path}\n     "
                  f"{command} conflicts list --all --config {config_path}", highlight=False)
    runs = (first, second, third)
    failed = not all(r.ok for r in runs) or third.total_writes != 0 or any(r.record_errors for r in runs)
    if serve:
        console.print(f"\nServing until Ctrl-C. Cloze: {cloze_url}  {external}: {external_url}")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
    return failed
