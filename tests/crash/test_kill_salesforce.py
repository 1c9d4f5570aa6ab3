"""SIGKILL of ``syncd reconcile`` at each Cloze-side write of a Salesforce pair, then a clean run.

A fresh pair of emulators per write point: Salesforce holds an account, contacts and an
opportunity that Cloze lacks, Cloze holds people that Salesforce lacks, so the first reconcile
writes to Cloze both creates (company, people, project, each with its App Link) and App Links on
records it created in Salesforce. The Cloze emulator counts a write when the request arrives and
then holds it for a few milliseconds before applying it: a kill at the n-th arrival lands after
the write reaches Cloze and before syncd reads the reply (the write is applied, the state database
never hears of it); a kill a little later lands between the reply and syncd's record of it. The
next reconcile must finish with no duplicate on either side and nothing lost, and the one after
it must write nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.salesforce.emulator import SalesforceEmulator
from state.store import StateStore
from syncd.engine.runner import sync_pair
from syncd.sandbox import CLOZE_KEY
from syncd.sandbox_salesforce import SALESFORCE_SESSION, write_config

SYNCD = [sys.executable, "-m", "syncd.cli"]
LATENCY_MS = 40  # Cloze holds each request this long before applying it: the kill lands inside it
SHARES = 3  # the write points are dealt over this many tests
PEOPLE = {"ann@acme.example", "bo@acme.example", "cy@beta.example", "di@beta.example"}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}


def _syncd(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*SYNCD, *args, "--config", str(config)], capture_output=True, text=True, timeout=180,
                          env=_env(), check=False)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _populate(cloze: ClozeEmulator, salesforce: SalesforceEmulator) -> None:
    acme = salesforce.add_record("Account", {"Name": "Acme", "Website": "https://acme.example"})
    salesforce.add_record("Contact", {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@acme.example",
                                      "AccountId": acme})
    salesforce.add_record("Contact", {"FirstName": "Bo", "LastName": "Ng", "Email": "bo@acme.example",
                                      "AccountId": acme})
    salesforce.add_record("Opportunity", {"Name": "Acme renewal", "StageName": "Qualification",
                                          "CloseDate": "2027-03-01", "AccountId": acme})
    for first, email in (("Cy", "cy@beta.example"), ("Di", "di@beta.example")):
        cloze.add_record("person", {"first": first, "last": "Oh", "name": f"{first} Oh",
                                    "emails": [{"value": email}]})


def _cloze_emails(cloze: ClozeEmulator) -> list[str]:
    return [e["value"].lower() for p in cloze.records("person") for e in p.get("emails", []) if not e.get("archived")]


def _check_converged(cloze: ClozeEmulator, salesforce: SalesforceEmulator, config: Path, context: str) -> None:
    cloze_people = Counter(_cloze_emails(cloze))
    sf_people = Counter(str(r["Email"]).lower() for r in salesforce.records("Contact"))
    assert cloze_people == Counter(PEOPLE) and sf_people == Counter(PEOPLE), f"{context}: {cloze_people} {sf_people}"
    assert (len(cloze.records("company")), len(salesforce.records("Account"))) == (1, 1), context
    assert (len(cloze.records("project")), len(salesforce.records("Opportunity"))) == (1, 1), context
    store = StateStore.open(load_config(config).state_path, readonly=True)
    try:
        export: dict[str, Any] = store.export()
    finally:
        store.close()
    assert not export["journal"], f"{context}: creates left in the journal"
    active = Counter(link["entity"] for link in export["links"] if link["status"] == "active")
    assert active == {"person": 4, "company": 1, "project": 1}, f"{context}: {active}"
    for record in cloze.records("person"):
        live = [link for link in record.get("appLinks", []) if not link.get("archived")]
        assert len(live) == 1, f"{context}: {record}"


def _killed_at(cloze: ClozeEmulator, config: Path, write: int, delay: float) -> bool:
    """Start ``syncd reconcile`` and SIGKILL it ``delay`` s after Cloze sees its ``write``-th write request."""
    base = cloze.writes
    proc = subprocess.Popen([*SYNCD, "reconcile", "--config", str(config)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    killed = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if cloze.writes - base >= write:
                if delay:
                    time.sleep(delay)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
                break
            time.sleep(0.0005)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return killed


def _world(tmp: Path) -> tuple[ClozeEmulator, SalesforceEmulator, Path]:
    cloze = ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com", latency_ms=LATENCY_MS)
    salesforce = SalesforceEmulator(SALESFORCE_SESSION)
    cloze.start()
    salesforce.start()
    _populate(cloze, salesforce)
    return cloze, salesforce, write_config(tmp, cloze.url, salesforce.url)


def _uninterrupted_writes(tmp: Path) -> int:
    """How many Cloze writes a whole first reconcile makes (and that it converges)."""
    cloze, salesforce, config = _world(tmp)
    try:
        _syncd("reconcile", config=config)
        _check_converged(cloze, salesforce, config, "uninterrupted")
        return cloze.writes
    finally:
        cloze.stop()
        salesforce.stop()


def _external_writes(salesforce: SalesforceEmulator) -> int:
    return salesforce.stats.records_created + salesforce.stats.records_updated


@pytest.mark.slow
@pytest.mark.parametrize("share", range(SHARES))
def test_a_kill_at_each_cloze_write_then_a_clean_run_leaves_no_duplicate_and_loses_nothing(
        tmp_path: Path, share: int) -> None:
    """The write points are dealt over ``SHARES`` tests so that they run side by side."""
    writes = _uninterrupted_writes(tmp_path / "clean")
    assert writes >= 6  # creates of a company, two people and a project, and two App Links

    for point in range(1 + share, writes + 1, SHARES):
        for moment, delay in (("while Cloze applies it", 0.0), ("after its reply", (LATENCY_MS + 15) / 1000)):
            if moment == "after its reply" and point % 2:
                continue  # every write is killed during its request; every other one after its reply too
            context = f"killed at Cloze write {point} of {writes}, {moment}"
            cloze, salesforce, config = _world(tmp_path / f"w{point}-{int(delay * 1000)}")
            try:
                assert _killed_at(cloze, config, point, delay), f"{context}: the run ended before the kill"
                _syncd("reconcile", config=config)
                _check_converged(cloze, salesforce, config, context)
                before = (cloze.writes, _external_writes(salesforce))
                loaded = load_config(config)
                store = StateStore.open(loaded.state_path)
                try:
                    assert sync_pair(loaded, "sandbox", store=store, mode="full").ok, context
                finally:
                    store.close()
                after = (cloze.writes, _external_writes(salesforce))
                assert after == before, f"{context}: the run after recovery wrote {before} -> {after}"
            finally:
                cloze.stop()
                salesforce.stop()
