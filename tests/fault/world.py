"""A world for the end-to-end suites: both emulators, a tuned pair config, seeded records, and the checks.

The fault, crash, bad-input and security suites all run ``syncd`` against the
Cloze and HubSpot emulators over real HTTP. This module holds what they share:

- :func:`open_world` starts both emulators (HubSpot's account limits off unless
  asked for) and writes the sandbox pair config tuned for tests (fast pacing,
  short backoff, the given timeouts);
- :func:`populate` seeds people, companies and deals on both sides, some people
  on both (same e-mail), every record with a unique identity so that counting
  identities finds any duplicate or lost record;
- :func:`check_no_duplicates`, :func:`check_nothing_lost` and
  :func:`check_joined` are the promises, checked on the emulators' own data.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.sandbox import CLOZE_KEY, HUBSPOT_TOKEN, write_config

PAIR = "sandbox"
APP_ID = "hubspot.com"
CLOZE_USER = "sandbox@example.com"
SYNCD = [sys.executable, "-m", "syncd.cli"]
REPO = Path(__file__).resolve().parents[2]
ENTITY_TYPES: Mapping[str, str] = {"person": "contacts", "company": "companies", "project": "deals"}
PERSON_STAGES = ("lead", "future", "current", "past", "out")
HUB_LIFECYCLE = ("lead", "opportunity", "customer", "evangelist", "subscriber")
DEAL_STAGES = ("appointmentscheduled", "presentationscheduled", "contractsent", "closedwon", "closedlost")
FIRST_NAMES = ("Ann", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea")

# Pacing and backoff for tests: the emulators run on loopback, so only the faults should slow a run down.
FAST_CLOZE: Mapping[str, Any] = {
    "rate_per_second": 1000, "retry_initial_wait": 0.02, "retry_max_total": 60, "timeout": 10,
}
# The emulator's search has no indexing lag, so the change feed's look-back can be short (the default
# 30 s would re-read every record a test touched).
FAST_HUBSPOT: Mapping[str, Any] = {"requests_per_10s": 100000, "search_per_second": 1000, "timeout": 10,
                                   "change_overlap_seconds": 1.0}
NO_LIMITS: Mapping[str, Any] = {"rate_limit_per_10s": None, "search_rate_per_second": None, "daily_limit": None}


# -- config ------------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no TOML form for {value!r}")


def set_keys(text: str, table: str, values: Mapping[str, Any]) -> str:
    """``text`` with ``key = value`` set in ``[table]`` (replaced where present, else added under the header)."""
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
    """Set keys in several tables of the config file at ``path``."""
    text = path.read_text()
    for table, values in tables.items():
        text = set_keys(text, table, values)
    path.write_text(text)
    os.chmod(path, 0o600)


# -- the world ---------------------------------------------------------------------


@dataclass
class World:
    cloze: ClozeEmulator
    hubspot: HubSpotEmulator
    directory: Path
    config: Path

    @property
    def state_path(self) -> Path:
        return self.directory / "state.db"

    def writes(self) -> tuple[int, int]:
        """Write requests received so far: (Cloze create/update/delete calls, HubSpot records written)."""
        return self.cloze.writes, self.hubspot.stats.writes

    def clear_faults(self) -> None:
        self.cloze.reset_faults()
        self.hubspot.set_faults(latency=0.0, error_rate=0.0, slow_rate=0.0, drop_rate=0.0, malformed_rate=0.0,
                                script=[])

    def syncd(self, *args: str, check: int | None = None, timeout: float = 240,
              env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``syncd ARGS --config CONFIG`` as a subprocess (the way a user or a timer runs it)."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        full_env["PYTHONPATH"] = str(REPO)
        full_env.update(env or {})
        proc = subprocess.run([*SYNCD, *args, "--config", str(self.config)], capture_output=True, text=True,
                              timeout=timeout, env=full_env, cwd=self.directory)
        if check is not None:
            assert proc.returncode == check, describe(proc)
        return proc

    def run(self, mode: str = "full") -> RunReport:
        """One run in this process (quicker than a subprocess where only the outcome matters)."""
        loaded = load_config(self.config)
        store = StateStore.open(loaded.state_path)
        try:
            return sync_pair(loaded, PAIR, store=store, mode=mode)  # type: ignore[arg-type]
        finally:
            store.close()

    def export(self) -> dict[str, Any]:
        store = StateStore.open(self.state_path, readonly=True)
        try:
            return store.export()
        finally:
            store.close()

    def open_errors(self) -> list[dict[str, Any]]:
        return [e for e in self.export().get("record_errors", []) if not e["resolved"]]

    def cloze_http(self) -> httpx.Client:
        """A plain HTTP client on the Cloze API, for edits a user would make."""
        return httpx.Client(base_url=self.cloze.url, params={"api_key": CLOZE_KEY, "user": CLOZE_USER}, timeout=30)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"


@contextmanager
def open_world(
    directory: Path,
    *,
    cloze_emulator: Mapping[str, Any] | None = None,
    hubspot_emulator: Mapping[str, Any] | None = None,
    cloze: Mapping[str, Any] | None = None,
    external: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[World]:
    """Both emulators running and a tuned config in ``directory``.

    ``cloze_emulator`` / ``hubspot_emulator`` are emulator settings (faults, limits);
    ``cloze`` / ``external`` override connector settings; ``config`` sets keys in
    other tables (``{"logging": {"level": "debug"}}``).
    """
    hub_settings = {**NO_LIMITS, **(hubspot_emulator or {})}
    with ClozeEmulator(api_key=CLOZE_KEY, user=CLOZE_USER, **(cloze_emulator or {})) as c, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, **hub_settings) as h:
        path = write_config(directory, c.url, h.url)
        tables: dict[str, Mapping[str, Any]] = {
            f"pairs.{PAIR}.cloze": {**FAST_CLOZE, **(cloze or {})},
            f"pairs.{PAIR}.external": {**FAST_HUBSPOT, **(external or {})},
        }
        tables.update(config or {})
        tune_config(path, tables)
        yield World(c, h, directory, path)


# -- seeded records ------------------------------------------------------------------


@dataclass
class Population:
    """Identities seeded on each side: person e-mail, company name, deal name."""

    cloze: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITY_TYPES})
    hubspot: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITY_TYPES})
    cloze_ids: dict[str, dict[str, str]] = field(default_factory=lambda: {e: {} for e in ENTITY_TYPES})
    hubspot_ids: dict[str, dict[str, str]] = field(default_factory=lambda: {e: {} for e in ENTITY_TYPES})

    def union(self, entity: str) -> set[str]:
        return self.cloze[entity] | self.hubspot[entity]

    def extend(self, other: "Population") -> None:
        for entity in ENTITY_TYPES:
            self.cloze[entity] |= other.cloze[entity]
            self.hubspot[entity] |= other.hubspot[entity]
            self.cloze_ids[entity].update(other.cloze_ids[entity])
            self.hubspot_ids[entity].update(other.hubspot_ids[entity])


def cloze_person(first: str, last: str, email: str, **extra: Any) -> dict[str, Any]:
    return {"first": first, "last": last, "name": f"{first} {last}", "emails": [{"value": email}], **extra}


def populate(world: World, *, seed: int, cloze_people: int, hub_people: int, overlap: int,
             companies: int = 0, deals: int = 0, tag: str = "w") -> Population:
    """Seed both sides. ``overlap`` of the HubSpot contacts share an e-mail with a Cloze person.

    ``tag`` keeps identities of several calls apart (each call adds new records).
    """
    rng = random.Random(f"world:{seed}:{tag}")
    pop = Population()
    cloze_companies: list[tuple[str, str]] = []
    hub_companies: list[tuple[str, str]] = []
    for i in range(companies):
        name, domain = f"Cz {tag} Works {i}", f"cz{i}.{tag}.example"
        direct = world.cloze.add_record("company", {"name": name, "domains": [domain],
                                                   "keywords": [f"t{rng.randint(0, 5)}"]})
        pop.cloze["company"].add(name)
        pop.cloze_ids["company"][name] = direct
        cloze_companies.append((name, domain))
        name, domain = f"Hs {tag} Group {i}", f"hs{i}.{tag}.example"
        hub_id = world.hubspot.add_object("companies", {"name": name, "domain": domain, "description": f"d{i}"})
        pop.hubspot["company"].add(name)
        pop.hubspot_ids["company"][name] = hub_id
        hub_companies.append((name, hub_id))
    cloze_emails: list[str] = []
    for i in range(cloze_people):
        first, last = rng.choice(FIRST_NAMES), f"Cz{tag}{i}"
        email = f"c{i}.{tag}@people.example"
        extra: dict[str, Any] = {"stage": rng.choice(PERSON_STAGES), "keywords": [f"k{rng.randint(0, 3)}"]}
        if cloze_companies and rng.random() < 0.5:
            # The employer named in workHistory too: Cloze derives a person's company name from the
            # relation when no job names one, which takes a second run to settle (see test_baseline).
            company, domain = rng.choice(cloze_companies)
            extra["companies"] = [{"domains": [domain]}]
            extra["workHistory"] = [{"organization": company, "title": "Staff"}]
        direct = world.cloze.add_record("person", cloze_person(first, last, email, **extra))
        pop.cloze["person"].add(email)
        pop.cloze_ids["person"][email] = direct
        cloze_emails.append(email)
    hub_emails: list[str] = []
    for i in range(hub_people):
        if i < overlap and i < len(cloze_emails):
            email = cloze_emails[i]
            spelled = email.upper() if i % 2 else email
        else:
            email = f"h{i}.{tag}@people.example"
            spelled = email
        props = {"firstname": rng.choice(FIRST_NAMES), "lastname": f"Hs{tag}{i}", "email": spelled,
                 "jobtitle": rng.choice(("Agent", "Broker", "Owner")), "lifecyclestage": rng.choice(HUB_LIFECYCLE)}
        assoc = None
        if hub_companies and rng.random() < 0.5:
            company, company_id = rng.choice(hub_companies)
            props["company"] = company
            assoc = {"companies": [company_id]}
        hub_id = world.hubspot.add_object("contacts", props, assoc)
        pop.hubspot["person"].add(email)
        pop.hubspot_ids["person"][email] = hub_id
        hub_emails.append(hub_id)
    for i in range(deals):
        name = f"Cz {tag} Deal {i}"
        body: dict[str, Any] = {"name": name, "stage": rng.choice(("future", "current", "won")),
                                "customFields": [{"id": "value", "type": "currency", "value": 1000 + i}]}
        if cloze_emails:
            body["clientpeople"] = [{"emails": [{"value": rng.choice(cloze_emails)}]}]
        direct = world.cloze.add_record("project", body)
        pop.cloze["project"].add(name)
        pop.cloze_ids["project"][name] = direct
        name = f"Hs {tag} Deal {i}"
        links: dict[str, list[str]] = {}
        if hub_emails:
            links["contacts"] = [rng.choice(hub_emails)]
        if hub_companies:
            links["companies"] = [rng.choice(hub_companies)[1]]
        hub_id = world.hubspot.add_object("deals", {"dealname": name, "dealstage": rng.choice(DEAL_STAGES),
                                                    "pipeline": "default", "amount": str(500 + i)}, links or None)
        pop.hubspot["project"].add(name)
        pop.hubspot_ids["project"][name] = hub_id
    return pop


# -- reading the emulators ----------------------------------------------------------


def cloze_identity(entity: str, record: Mapping[str, Any]) -> str:
    if entity == "person":
        raw = record.get("emails") or []
        items = raw if isinstance(raw, list) else [raw]  # a bad-input case stores a bare string
        emails = sorted(str(e.get("value", "") if isinstance(e, dict) else e).lower() for e in items
                        if not (isinstance(e, dict) and e.get("archived")))
        return emails[0] if emails else f"<no email: {record.get('direct')}>"
    if entity == "company" and not record.get("name"):
        # Cloze makes a nameless company for a person's relation to a domain it does not know yet;
        # creating the real company later merges into it (same domain).
        domains = [str(d.get("domain", "") if isinstance(d, dict) else d) for d in record.get("domains", [])]
        return f"<domain {domains[0] if domains else record.get('direct')}>"
    return str(record.get("name") or "")


def hub_identity(entity: str, obj: Mapping[str, Any]) -> str:
    props = obj["properties"]
    if entity == "person":
        return str(props.get("email", f"<no email: {obj['id']}>")).lower()
    return str(props.get("name" if entity == "company" else "dealname", ""))


def cloze_links(record: Mapping[str, Any]) -> list[str]:
    """Live App Links of this pair's App ID on a Cloze record (their Unique IDs)."""
    return [str(l.get("uniqueid")) for l in record.get("appLinks", [])
            if str(l.get("source", "")).lower() == APP_ID and not l.get("archived")]


@dataclass(frozen=True)
class Sides:
    """Both emulators' live records of one entity."""

    entity: str
    cloze: list[dict[str, Any]]
    hubspot: list[dict[str, Any]]

    @classmethod
    def read(cls, world: World, entity: str) -> "Sides":
        return cls(entity, world.cloze.records(entity), world.hubspot.objects(ENTITY_TYPES[entity]))


def check_no_duplicates(world: World) -> None:
    """No identity, App Link or stored Cloze identity appears twice on one side."""
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        twice = [k for k, n in Counter(cloze_identity(entity, r) for r in sides.cloze).items() if n > 1]
        assert not twice, f"Cloze holds duplicate {entity} records: {twice[:5]}"
        twice = [k for k, n in Counter(hub_identity(entity, o) for o in sides.hubspot).items() if n > 1]
        assert not twice, f"HubSpot holds duplicate {entity} records: {twice[:5]}"
        links = [uid for r in sides.cloze for uid in cloze_links(r)]
        twice = [k for k, n in Counter(links).items() if n > 1]
        assert not twice, f"App Links to the same HubSpot {entity} on several Cloze records: {twice[:5]}"
        many = [r["direct"] for r in sides.cloze if len(cloze_links(r)) > 1]
        assert not many, f"Cloze {entity} records linked to several HubSpot records: {many[:5]}"
        refs = [o["properties"]["cloze_syncd_id"] for o in sides.hubspot if o["properties"].get("cloze_syncd_id")]
        twice = [k for k, n in Counter(refs).items() if n > 1]
        assert not twice, f"the same Cloze identity on several HubSpot {entity} records: {twice[:5]}"


def check_nothing_lost(world: World, pop: Population) -> None:
    """Every seeded record is still on the side it was seeded on."""
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        on_cloze = {cloze_identity(entity, r) for r in sides.cloze}
        on_hub = {hub_identity(entity, o) for o in sides.hubspot}
        lost = sorted(pop.cloze[entity] - on_cloze)
        assert not lost, f"Cloze lost {entity} records: {lost[:5]}"
        lost = sorted(pop.hubspot[entity] - on_hub)
        assert not lost, f"HubSpot lost {entity} records: {lost[:5]}"


def unjoined(world: World) -> dict[str, list[str]]:
    """Records not (yet) joined to a counterpart that points back at them, by entity: ``side:id``."""
    out: dict[str, list[str]] = {}
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        hub = {o["id"]: o for o in sides.hubspot}
        bad: list[str] = []
        joined_hub: set[str] = set()
        for record in sides.cloze:
            targets = cloze_links(record)
            target = hub.get(targets[0]) if len(targets) == 1 else None
            if target is None or target["properties"].get("cloze_syncd_id") != record["direct"]:
                bad.append(f"cloze:{record['direct']}")
            else:
                joined_hub.add(target["id"])
        for obj in sides.hubspot:
            if obj["id"] not in joined_hub:
                bad.append(f"external:{obj['id']}")
        if bad:
            out[entity] = bad
    return out


def check_joined(world: World, pop: Population | None = None) -> None:
    """Every record on each side is joined one-to-one; with ``pop``, both sides hold every seeded identity."""
    problems = unjoined(world)
    assert not problems, f"records not joined: { {k: v[:5] for k, v in problems.items()} }"
    for entity in ENTITY_TYPES:
        sides = Sides.read(world, entity)
        assert len(sides.cloze) == len(sides.hubspot), (entity, len(sides.cloze), len(sides.hubspot))
        if pop is not None:
            want = pop.union(entity)
            assert {cloze_identity(entity, r) for r in sides.cloze} >= want, entity
            assert {hub_identity(entity, o) for o in sides.hubspot} >= want, entity
    check_people_equal(world)


def check_people_equal(world: World) -> None:
    """Linked people agree on the fields compared here directly on the wire: names and e-mail."""
    hub = {o["id"]: o["properties"] for o in world.hubspot.objects("contacts")}
    for record in world.cloze.records("person"):
        [uid] = cloze_links(record)
        props = hub[uid]
        assert (record.get("first") or None, record.get("last") or None) == (
            props.get("firstname"), props.get("lastname")), (record, props)
        assert cloze_identity("person", record) == str(props.get("email", "")).lower(), (record, props)


def check_errors_cover(world: World) -> None:
    """Every record left unjoined is named by an open record error (its id or its counterpart's)."""
    named: set[str] = set()
    for err in world.open_errors():
        named.add(str(err["record_id"]))
    problems = unjoined(world)
    links = {l["cloze_id"]: l["external_id"] for l in world.export().get("links", [])}
    back = {v: k for k, v in links.items()}
    for entity, items in problems.items():
        for item in items:
            side, _, rid = item.partition(":")
            partner = links.get(rid) if side == "cloze" else back.get(rid)
            hub_ref = None
            if side == "external":
                obj = world.hubspot.get_object(ENTITY_TYPES[entity], rid)
                hub_ref = (obj or {}).get("properties", {}).get("cloze_syncd_id")
            assert {rid, partner, hub_ref} & named, (
                f"{entity} {item} is not joined and no open record error names it; open errors: "
                f"{[(e['op'], e['record_id'], e['message']) for e in world.open_errors()][:10]}")


# -- edits a user makes between runs ---------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One field changed by hand on one side; after a good run both sides must hold ``value``."""

    entity: str
    side: str  # "cloze" | "hubspot"
    record_id: str  # the id on ``side``
    field: str  # canonical name: first, last, title, description, value
    value: str


_CLOZE_PATH = {"person": "people", "company": "companies", "project": "projects"}
_HUB_PROPERTY = {("person", "first"): "firstname", ("person", "last"): "lastname", ("person", "title"): "jobtitle",
                 ("company", "description"): "description", ("project", "value"): "amount"}


def active_links(world: World, entity: str) -> list[tuple[str, str]]:
    """``(cloze_id, external_id)`` of the pair's active links of ``entity``, from the state database."""
    return sorted((str(l["cloze_id"]), str(l["external_id"])) for l in world.export().get("links", [])
                  if l["entity"] == entity and l["status"] == "active" and l["cloze_id"] and l["external_id"])


def make_edits(world: World, rng: random.Random, *, people: int, tag: str) -> list[Edit]:
    """Edit linked records on both sides: Cloze changes ``last`` of some people, HubSpot ``title`` and
    ``first`` of others and of some of the same people (disjoint fields merge), plus company
    descriptions in Cloze and deal amounts in HubSpot."""
    edits: list[Edit] = []
    persons = active_links(world, "person")
    rng.shuffle(persons)
    chosen = persons[: people * 2]
    cloze_side, hub_side = chosen[:people], chosen[people // 2: people // 2 + people]
    with world.cloze_http() as http:
        for n, (cid, _) in enumerate(cloze_side):
            edits.append(Edit("person", "cloze", cid, "last", f"Edited{tag}c{n}"))
            http.post("/v1/people/update", json={"direct": cid, "last": f"Edited{tag}c{n}"}).raise_for_status()
        for n, (cid, _) in enumerate(active_links(world, "company")[:3]):
            text = f"Described {tag} {n}"
            edits.append(Edit("company", "cloze", cid, "description", text))
            http.post("/v1/companies/update", json={"direct": cid, "description": text}).raise_for_status()
    for n, (_, hid) in enumerate(hub_side):
        props = {"jobtitle": f"Title{tag}h{n}"}
        edits.append(Edit("person", "hubspot", hid, "title", props["jobtitle"]))
        if n % 2:
            props["firstname"] = f"First{tag}h{n}"
            edits.append(Edit("person", "hubspot", hid, "first", props["firstname"]))
        world.hubspot.update_object("contacts", hid, props)
    for n, (_, hid) in enumerate(active_links(world, "project")[:3]):
        amount = str(7000 + 13 * n + rng.randint(0, 99))
        edits.append(Edit("project", "hubspot", hid, "value", amount))
        world.hubspot.update_object("deals", hid, {"amount": amount})
    return edits


def _cloze_value(entity: str, record: Mapping[str, Any], name: str) -> str | None:
    from connectors.cloze.mapping import custom_value, work

    if name == "title":
        return work(record)[1]
    if name == "value":
        raw = custom_value(record, "value")
        return None if raw is None else str(raw)
    value = record.get(name)
    return None if value is None else str(value)


def _same(name: str, a: str | None, b: str | None) -> bool:
    if name == "value" and a is not None and b is not None:
        from decimal import Decimal

        return Decimal(a) == Decimal(b)
    return a == b


def check_edits(world: World, edits: list[Edit]) -> None:
    """Every edit is on both sides of its link."""
    by_entity = {entity: active_links(world, entity) for entity in {e.entity for e in edits}}
    for edit in edits:
        links = by_entity[edit.entity]
        pair = next((l for l in links if (l[0] if edit.side == "cloze" else l[1]) == edit.record_id), None)
        assert pair is not None, f"{edit}: the record is no longer linked"
        record = world.cloze.get_record(edit.entity, pair[0])
        obj = world.hubspot.get_object(ENTITY_TYPES[edit.entity], pair[1])
        assert record is not None and obj is not None, f"{edit}: a side lost the record"
        on_cloze = _cloze_value(edit.entity, record, edit.field)
        on_hub = obj["properties"].get(_HUB_PROPERTY[(edit.entity, edit.field)])
        assert _same(edit.field, on_cloze, edit.value), f"{edit} lost on Cloze: {on_cloze!r}"
        assert _same(edit.field, on_hub, edit.value), f"{edit} lost on HubSpot: {on_hub!r}"


# -- raw values behind the APIs' backs (what a buggy or hostile API could send) ------------------------


def cloze_poke(world: World, entity: str, direct: str, **raw: Any) -> None:
    """Set fields of a stored Cloze record as given, skipping the emulator's own validation."""
    store = world.cloze.store
    with store.lock:
        store._records[entity][direct].data.update(raw)  # type: ignore[index]
        store._changed()


def hubspot_poke(world: World, object_type: str, object_id: str, **raw: Any) -> None:
    """Set properties of a stored HubSpot record as given (any JSON type), skipping validation."""
    store = world.hubspot.store
    with store.lock:
        store.objects[object_type][object_id].properties.update(raw)
