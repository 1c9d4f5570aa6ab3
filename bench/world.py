"""The benchmark's world: both emulators on loopback, seeded straight into their stores, and a pair config.

Seeding goes around the emulators' HTTP APIs (and, for HubSpot, around the
per-record uniqueness scans of ``add_object``), so 100,000 records take seconds
to set up and the clock only runs while ``syncd`` works.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.emulator.schema import DEFAULT_ASSOCIATION
from syncd.sandbox import HUBSPOT_TOKEN, tune_config, write_config
from syncd.sandbox_files import CLOZE_KEY

PAIR = "sandbox"
CLOZE_USER = "sandbox@example.com"
STAGES = ("lead", "future", "current", "past", "out")
LIFECYCLE = ("lead", "opportunity", "customer", "evangelist", "subscriber")
DEAL_STAGES = ("appointmentscheduled", "presentationscheduled", "contractsent", "closedwon", "closedlost")
FIRST = ("Ann", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia")


@dataclass(frozen=True)
class Scenario:
    """How the emulators and the connectors are set for a run."""

    name: str
    latency_s: float = 0.0
    limits: bool = False  # HubSpot's documented Free/Starter limits on, connectors at their default pacing

    def cloze_emulator(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_s * 1000}

    def hubspot_emulator(self) -> dict[str, Any]:
        limits: dict[str, Any] = {} if self.limits else {
            "rate_limit_per_10s": None, "search_rate_per_second": None, "daily_limit": None}
        return {"latency": self.latency_s, **limits}

    def connector_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.limits:  # the shipped defaults: Cloze paced at 4 requests/s, HubSpot at 80% of 100 per 10 s
            return ({"rate_per_second": 4.0, "page_size": 500},
                    {"requests_per_10s": 100, "search_per_second": 4.0})
        return ({"rate_per_second": 1000, "page_size": 1000},
                {"requests_per_10s": 1_000_000, "search_per_second": 1000})


@dataclass
class Seeded:
    cloze_people: list[str] = field(default_factory=list)  # direct ids
    hub_people: list[str] = field(default_factory=list)  # HubSpot ids
    companies: int = 0
    deals: int = 0

    @property
    def records(self) -> int:
        return len(self.cloze_people) + len(self.hub_people) + self.companies + self.deals


class RouteTimer:
    """Time the emulators spend answering, per route: where a slow run waits on the servers, not on syncd.

    It wraps the two emulators' request entry points (``ClozeApi.call``, ``HubSpotEmulator.handle``) for
    the benchmark process only; the emulators themselves stay as shipped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}
        self.calls: Counter[str] = Counter()

    def add(self, route: str, seconds: float) -> None:
        with self._lock:
            self.seconds[route] = self.seconds.get(route, 0.0) + seconds
            self.calls[route] += 1

    def snapshot(self) -> tuple[dict[str, float], dict[str, int]]:
        with self._lock:
            return dict(self.seconds), dict(self.calls)

    def since(self, before: tuple[dict[str, float], dict[str, int]], top: int = 8) -> list[dict[str, Any]]:
        seconds, calls = self.snapshot()
        spent = {k: v - before[0].get(k, 0.0) for k, v in seconds.items()}
        rows = sorted(((k, v) for k, v in spent.items() if v > 0), key=lambda kv: -kv[1])[:top]
        return [{"route": k, "seconds": round(v, 2), "calls": calls[k] - before[1].get(k, 0),
                 "ms_per_call": round(1000 * v / max(1, calls[k] - before[1].get(k, 0)), 2)} for k, v in rows]

    def install(self) -> None:
        from connectors.cloze.emulator.api import ClozeApi

        timer = self
        cloze_call, hub_handle = ClozeApi.call, HubSpotEmulator.handle
        if getattr(cloze_call, "timed", False):
            return

        def call(api: Any, handler: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return cloze_call(api, handler, request)
            finally:
                timer.add(f"cloze {request.method} {request.path}", time.perf_counter() - started)

        def handle(emulator: Any, method: str, raw_path: str, headers: Any, raw_body: bytes) -> Any:
            started = time.perf_counter()
            try:
                return hub_handle(emulator, method, raw_path, headers, raw_body)
            finally:
                timer.add(f"hubspot {method} {raw_path.split('?')[0]}", time.perf_counter() - started)

        call.timed = True  # type: ignore[attr-defined]
        ClozeApi.call = call  # type: ignore[method-assign,assignment]
        HubSpotEmulator.handle = handle  # type: ignore[method-assign,assignment]


TIMER = RouteTimer()


@dataclass
class World:
    cloze: ClozeEmulator
    hubspot: HubSpotEmulator
    directory: Path
    config: Path
    timer: RouteTimer = TIMER

    @property
    def state_path(self) -> Path:
        return self.directory / "state.db"

    def api_calls(self) -> tuple[int, int]:
        return int(self.cloze.stats.total_requests), int(self.hubspot.stats.requests)

    def writes(self) -> tuple[int, int]:
        return int(self.cloze.writes), int(self.hubspot.stats.writes)


@contextmanager
def open_world(directory: Path, scenario: Scenario, extra: Mapping[str, Mapping[str, Any]] | None = None
               ) -> Iterator[World]:
    directory.mkdir(parents=True, exist_ok=True)
    TIMER.install()
    with ClozeEmulator(api_key=CLOZE_KEY, user=CLOZE_USER, **scenario.cloze_emulator()) as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, **scenario.hubspot_emulator()) as hubspot:
        config = write_config(directory, cloze.url, hubspot.url)
        cloze_settings, hub_settings = scenario.connector_settings()
        tune_config(config, {
            "logging": {"level": "warning"},
            f"pairs.{PAIR}.cloze": cloze_settings,
            # Poll look-back: the emulator's search has no indexing lag.
            f"pairs.{PAIR}.external": {**hub_settings, "change_overlap_seconds": 1.0},
            **(extra or {}),
        })
        yield World(cloze, hubspot, directory, config)


def seed(world: World, people: int, *, seed_value: int = 1, with_companies: bool = True) -> Seeded:
    """``people`` people, half in each system, 5% of them in both (same e-mail); with companies and deals
    (a tenth as many of each, half per side) unless ``with_companies`` is off."""
    rng = random.Random(seed_value)
    out = Seeded()
    per_side = people // 2
    overlap = people // 20
    n_companies = people // 20 if with_companies else 0
    cloze_companies: list[tuple[str, str]] = []
    hub_companies: list[tuple[str, str]] = []
    hub = world.hubspot.store
    with hub.lock:
        for i in range(n_companies):
            name, domain = f"Cz Works {i}", f"czw{i}.bench.example"
            world.cloze.add_record("company", {"name": name, "domains": [domain]})
            cloze_companies.append((name, domain))
            name, domain = f"Hs Group {i}", f"hsg{i}.bench.example"
            obj = hub.create("companies", {"name": name, "domain": domain})
            hub_companies.append((name, obj.id))
            out.companies += 2
    emails: list[str] = []
    for i in range(per_side):
        email = f"c{i}@people.bench.example"
        record: dict[str, Any] = {"first": rng.choice(FIRST), "last": f"Cz{i}", "emails": [{"value": email}],
                                  "stage": rng.choice(STAGES), "keywords": [f"k{rng.randint(0, 9)}"]}
        if cloze_companies and rng.random() < 0.5:
            company, domain = rng.choice(cloze_companies)
            record["companies"] = [{"domains": [domain]}]
            record["workHistory"] = [{"organization": company, "title": "Staff"}]
        out.cloze_people.append(world.cloze.add_record("person", record))
        emails.append(email)
    with hub.lock:
        for i in range(per_side):
            email = emails[i] if i < overlap else f"h{i}@people.bench.example"
            props = {"firstname": rng.choice(FIRST), "lastname": f"Hs{i}", "email": email,
                     "jobtitle": rng.choice(("Agent", "Broker", "Owner")), "lifecyclestage": rng.choice(LIFECYCLE)}
            obj = hub.create("contacts", props)
            if hub_companies and rng.random() < 0.5:
                company, company_id = rng.choice(hub_companies)
                hub.set_raw(obj, {"company": company})
                hub.associate("contacts", obj.id, "companies", company_id, DEFAULT_ASSOCIATION[("contacts", "companies")])
            out.hub_people.append(obj.id)
        for i in range(n_companies):
            body: dict[str, Any] = {"name": f"Cz Deal {i}", "stage": rng.choice(("future", "current", "won")),
                                    "customFields": [{"id": "value", "type": "currency", "value": 1000 + i}],
                                    "clientpeople": [{"emails": [{"value": rng.choice(emails)}]}]}
            world.cloze.add_record("project", body)
            obj = hub.create("deals", {"dealname": f"Hs Deal {i}", "dealstage": rng.choice(DEAL_STAGES),
                                       "pipeline": "default", "amount": str(500 + i)})
            hub.associate("deals", obj.id, "contacts", rng.choice(out.hub_people), DEFAULT_ASSOCIATION[("deals", "contacts")])
            out.deals += 2
    return out
