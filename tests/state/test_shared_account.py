"""Two pairs in one config that share one HubSpot account (one token, with the account's rate limit
on), run by one real ``syncd run`` daemon: their runs never overlap, and the account sees zero 429s.

Each pair has its own Cloze account and its own kind of record (people / companies), so every
request in the emulators' request logs names its pair: the people and companies paths on HubSpot,
and the pair's own Cloze emulator. Every one of them falls inside one of its pair's runs, and the
runs of the two pairs never overlap. The API usage ledger counts what the HubSpot emulator served.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.budget import usage_day
from state.store import StateStore
from syncd.sandbox import write_private
from tests.daemon.procs import Daemon

pytestmark = pytest.mark.timeout(300)

TOKEN = "pat-na1-shared-account-0001"
LIMIT_PER_10S = 30
PEOPLE = COMPANIES = 60
CLOZE_KEYS = {"people": "cloze-key-people-0001", "firms": "cloze-key-firms-0002"}


def _pair(name: str, kind: str, cloze_url: str, hubspot_url: str, token_file: Path, key_file: Path) -> str:
    fields = ("first = {}\nlast = {}\nemails = {}\n" if kind == "person" else "name = {}\ndomains = {}\n")
    off = [k for k in ("company", "person", "project") if k != kind]
    disabled = "".join(f"\n[pairs.{name}.entities.{k}]\nenabled = false\n" for k in off)
    return f"""
[pairs.{name}]
app_id = "hubspot.com"
app_name = "HubSpot"

[pairs.{name}.schedule]
interval = "5s"
jitter = 0
reconcile_cron = ""

[pairs.{name}.cloze]
base_url = "{cloze_url}"
api_key = "file:{key_file}"
rate_per_second = 1000

[pairs.{name}.external]
connector = "hubspot"
base_url = "{hubspot_url}"
token = "file:{token_file}"
token_kind = "private_app"
api_version = "v3"
batch_size = 5
requests_per_10s = {LIMIT_PER_10S}

[pairs.{name}.entities.{kind}]
policy = "newest_wins"

[pairs.{name}.entities.{kind}.fields]
{fields}{disabled}"""


def _config(tmp: Path, clozes: Mapping[str, ClozeEmulator], hubspot: HubSpotEmulator) -> Path:
    token_file = tmp / "hubspot_token"
    write_private(token_file, TOKEN + "\n")
    text = f"""
[state]
path = "{tmp / 'state.db'}"

[logging]
level = "info"
format = "json"

[daemon.http]
address = "127.0.0.1"
port = 0
"""
    for name, kind in (("people", "person"), ("firms", "company")):
        key_file = tmp / f"cloze_key_{name}"
        write_private(key_file, CLOZE_KEYS[name] + "\n")
        text += _pair(name, kind, clozes[name].url, hubspot.url, token_file, key_file)
    path = tmp / "config.toml"
    write_private(path, text)
    return path


class RequestLog:
    """When each emulator request was served, and for which pair (test-side wrappers of the emulators)."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str, int]] = []  # (time, pair, status)

    def wrap_hubspot(self, emu: HubSpotEmulator) -> None:
        served = emu.handle

        def handle(method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes) -> Any:
            started = time.time()
            reply, fault = served(method, raw_path, headers, raw_body)
            pair = "people" if "/contacts" in raw_path else "firms" if "/companies" in raw_path else ""
            if not raw_path.startswith("/_emulator/"):
                self.entries.append((started, pair, reply.status))
            return reply, fault

        emu.handle = handle  # type: ignore[method-assign]

    def wrap_cloze(self, emu: ClozeEmulator, pair: str) -> None:
        counted: Callable[[str, str], None] = emu.stats.request

        def request(method: str, path: str) -> None:
            self.entries.append((time.time(), pair, 0))
            counted(method, path)

        emu.stats.request = request  # type: ignore[method-assign]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[dict[str, ClozeEmulator], HubSpotEmulator, RequestLog]]:
    log = RequestLog()
    clozes = {name: ClozeEmulator(api_key=key).start() for name, key in CLOZE_KEYS.items()}
    hubspot = HubSpotEmulator(token=TOKEN, rate_limit_per_10s=LIMIT_PER_10S).start()
    log.wrap_hubspot(hubspot)
    for name, emu in clozes.items():
        log.wrap_cloze(emu, name)
    try:
        yield clozes, hubspot, log
    finally:
        hubspot.stop()
        for emu in clozes.values():
            emu.stop()


def _runs(state: Path) -> list[tuple[str, int, int]]:
    store = StateStore.open(state, readonly=True)
    try:
        return [(r.pair, r.started_at, r.finished_at or 0) for r in store.runs(limit=1000)
                if r.status != "running"]
    finally:
        store.close()


@pytest.mark.slow
def test_two_pairs_on_one_hubspot_account_never_run_at_once_and_get_no_429(
        tmp_path: Path, world: tuple[dict[str, ClozeEmulator], HubSpotEmulator, RequestLog]) -> None:
    clozes, hubspot, log = world
    for i in range(PEOPLE):
        clozes["people"].add_record("person", {"first": f"Ann{i}", "last": "Lee", "name": f"Ann{i} Lee",
                                               "emails": [{"value": f"ann{i}@acme.example"}]})
    for i in range(COMPANIES):
        clozes["firms"].add_record("company", {"name": f"Firm {i}", "domains": [f"firm{i}.example"]})
    config = _config(tmp_path, clozes, hubspot)
    daemon = Daemon(config, tmp_path)
    try:
        daemon.wait_ready(timeout=60)
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            done = _runs(tmp_path / "state.db") if (tmp_path / "state.db").exists() else []
            if all(sum(1 for p, _, _ in done if p == pair) >= 3 for pair in CLOZE_KEYS):
                break
            time.sleep(0.5)
        assert daemon.stop(timeout=60) == 0, daemon.output()
    finally:
        daemon.close()

    runs = _runs(tmp_path / "state.db")
    assert all(sum(1 for p, _, _ in runs if p == pair) >= 3 for pair in CLOZE_KEYS), runs
    people = [(a, b) for p, a, b in runs if p == "people"]
    firms = [(a, b) for p, a, b in runs if p == "firms"]
    overlaps = [(x, y) for x in people for y in firms if x[0] < y[1] and y[0] < x[1]]
    assert overlaps == [], overlaps
    # Every request the emulators served for a pair falls inside one of that pair's runs.
    spans = {"people": people, "firms": firms}
    outside = [(t, pair) for t, pair, _ in log.entries if pair and not any(
        a - 50 <= t * 1000 <= b + 50 for a, b in spans[pair])]
    assert outside == [], outside[:10]
    assert [s for _, _, s in log.entries if s == 429] == [] and hubspot.stats.rate_limited == 0
    assert len(list(hubspot.store.all("contacts", archived=False))) == PEOPLE
    assert len(list(hubspot.store.all("companies", archived=False))) == COMPANIES

    # The ledger of the one HubSpot account counts every request the emulator served.
    store = StateStore.open(tmp_path / "state.db", readonly=True)
    try:
        served = sum(1 for _, _, s in log.entries if s != 0)
        keys = {row["account_key"] for row in store.export()["api_usage"]}
        hubspot_keys = [k for k in keys if k.startswith("hubspot@")]
        assert len(hubspot_keys) == 1, keys  # both pairs: one account
        row = store.usage(hubspot_keys[0], usage_day())
        assert row is not None and row.calls == served
        assert len([k for k in keys if k.startswith("cloze@")]) == 2  # two Cloze accounts
    finally:
        store.close()
