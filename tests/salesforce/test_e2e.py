"""End to end: ``syncd`` as a subprocess against the Cloze and Salesforce emulators over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.salesforce import ids
from connectors.salesforce.emulator import SalesforceEmulator
from state.store import StateStore
from syncd.engine.runner import sync_pair
from syncd.sandbox import set_keys
from syncd.sandbox_files import CLOZE_KEY
from syncd.sandbox_salesforce import APP_ID, SALESFORCE_SESSION, write_config

SYNCD = [sys.executable, "-m", "syncd.cli"]
World = tuple[ClozeEmulator, SalesforceEmulator, Path]


def syncd(*args: str, config: Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.run([*SYNCD, *args, "--config", str(config)], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def person(first: str, last: str, email: str, **extra: Any) -> dict[str, Any]:
    return {"first": first, "last": last, "name": f"{first} {last}", "emails": [{"value": email}], **extra}


def sf_writes(salesforce: SalesforceEmulator) -> int:
    stats = salesforce.stats
    return stats.records_created + stats.records_updated + stats.records_deleted


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            SalesforceEmulator(SALESFORCE_SESSION) as salesforce:
        config = write_config(tmp_path, cloze.url, salesforce.url)
        config.write_text(set_keys(config.read_text(), "pairs.sandbox.entities.project", {"enabled": False}))
        yield cloze, salesforce, config


def contact_emails(salesforce: SalesforceEmulator) -> list[str]:
    return sorted(str(r["Email"]).lower() for r in salesforce.records("Contact") if r.get("Email"))


def cloze_title(record: dict[str, Any]) -> str | None:
    jobs = record.get("jobs") or record.get("job") or []
    return record.get("jobtitle") or (jobs[0].get("title") if jobs and isinstance(jobs[0], dict) else None)


def cloze_emails(cloze: ClozeEmulator) -> list[str]:
    return sorted(e["value"].lower() for p in cloze.records("person") for e in p.get("emails", [])
                  if not e.get("archived"))


def links(config: Path) -> list[dict[str, Any]]:
    return list(json.loads(syncd("state", "export", config=config).stdout)["links"])


@pytest.mark.slow
def test_first_sync_creates_edits_conflicts_deletes_and_a_quiet_second_run(world: World) -> None:
    cloze, salesforce, config = world
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
    sf_ann = salesforce.add_record("Contact", {"Email": "ANN@acme.example", "FirstName": "Ann", "LastName": "Lee",
                                               "Title": "CEO"})
    cloze.add_record("company", {"name": "Acme", "domains": [{"value": "acme.example"}]})
    sf_acme = salesforce.add_record("Account", {"Name": "Acme Inc", "Website": "https://www.acme.example"})
    cloze.add_record("person", person("Bob", "Ng", "bob@acme.example"))
    salesforce.add_record("Contact", {"Email": "cy@beta.example", "FirstName": "Cy", "LastName": "Oh"})

    syncd("reconcile", config=config)
    # Matched by e-mail and by domain: no duplicates on either side.
    assert contact_emails(salesforce) == ["ann@acme.example", "bob@acme.example", "cy@beta.example"]
    assert cloze_emails(cloze) == ["ann@acme.example", "bob@acme.example", "cy@beta.example"]
    assert len(salesforce.records("Account")) == 1 and len(cloze.records("company")) == 1
    # App Links (the org host, 18-character ids) on Cloze; the Cloze identity in the External ID field.
    for record in cloze.records("person"):
        mine = [link for link in record.get("appLinks", []) if link.get("source") == APP_ID and not link.get("archived")]
        assert len(mine) == 1 and ids.normalize(mine[0]["uniqueid"]) == mine[0]["uniqueid"], record
        assert mine[0]["url"].endswith("/" + mine[0]["uniqueid"])
    for contact in salesforce.records("Contact"):
        assert contact.get("Cloze_Syncd_Id__c"), contact
    ann_rec = cloze.get_record("person", ann)
    assert ann_rec is not None and any(link["uniqueid"] == sf_ann for link in ann_rec["appLinks"])
    assert cloze_title(ann_rec) == "CEO", ann_rec
    assert salesforce.get_record("Account", sf_acme)["Cloze_Syncd_Id__c"]  # type: ignore[index]

    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes

    # Edits to different fields merge both ways; the same field on both sides is a recorded conflict.
    salesforce.advance_clock(2)
    salesforce.update_record("Contact", sf_ann, {"Title": "Chair", "FirstName": "Anne"})
    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": ann, "last": "Lee-Smith", "first": "Annie"}).raise_for_status()
    syncd("sync", config=config)
    edited = salesforce.get_record("Contact", sf_ann)
    assert edited is not None and edited["LastName"] == "Lee-Smith"
    ann_rec = cloze.get_record("person", ann)
    assert ann_rec is not None and cloze_title(ann_rec) == "Chair" and ann_rec.get("last") == "Lee-Smith"
    conflicts = json.loads(syncd("conflicts", "list", "--all", "--json", config=config).stdout)
    assert [c["field"] for c in conflicts if c["cloze_id"] == ann] == ["first"]

    # A delete in Salesforce is handled by the delete policy (unlink: the Cloze record stays).
    cy = next(link for link in links(config)
              if (salesforce.get_record("Contact", link["external_id"]) or {}).get("Email") == "cy@beta.example")
    salesforce.advance_clock(2)
    salesforce.delete_record("Contact", cy["external_id"])
    syncd("sync", config=config)
    assert cy["cloze_id"] in {p["direct"] for p in cloze.records("person")}
    assert [link["status"] for link in links(config) if link["id"] == cy["id"]] == ["unlinked"]
    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_a_merge_whose_survivor_keeps_the_synced_identity_relinks_the_cloze_record(world: World) -> None:
    """A Salesforce user merges the synced contact into a newer duplicate and keeps the synced contact's Cloze
    identity on the survivor: the merged-away record's MasterRecordId and the survivor's marker agree, so the
    Cloze record is linked to the survivor, with nothing deleted or created."""
    cloze, salesforce, config = world
    bo = cloze.add_record("person", person("Bo", "Lee", "bo@acme.example"))
    syncd("reconcile", config=config)
    syncd("sync", config=config)
    [synced] = salesforce.records("Contact")
    salesforce.advance_clock(2)
    survivor = salesforce.add_record("Contact", {"FirstName": "Robert", "LastName": "Lee", "Title": "CTO"})
    salesforce.merge("Contact", survivor, [str(synced["Id"])], fields={"Email": "bo@acme.example",
                                                                      "Cloze_Syncd_Id__c": bo})
    syncd("sync", config=config)
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert [e for e in export["record_errors"] if not e["resolved"]] == []
    assert [(link["cloze_id"], link["external_id"], link["status"]) for link in export["links"]] == [
        (bo, survivor, "active")]
    record = cloze.get_record("person", bo)
    assert record is not None and len(cloze.records("person")) == 1
    mine = [link["uniqueid"] for link in record.get("appLinks", []) if link.get("source") == APP_ID
            and not link.get("archived")]
    assert survivor in mine and cloze_title(record) == "CTO"
    assert [r["Id"] for r in salesforce.records("Contact")] == [survivor]
    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_a_merge_of_two_synced_contacts_is_a_record_error_naming_both_cloze_records(world: World) -> None:
    """The survivor keeps its own Cloze identity: two Cloze records now face one contact. Nothing is deleted or
    relinked by guess; the error names the survivor, the Cloze record it carries and the one-field fix."""
    cloze, salesforce, config = world
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
    bo = cloze.add_record("person", person("Bo", "Lee", "bo@acme.example"))
    syncd("reconcile", config=config)
    syncd("sync", config=config)
    by_email = {str(r["Email"]).lower(): str(r["Id"]) for r in salesforce.records("Contact")}
    salesforce.advance_clock(2)
    salesforce.merge("Contact", by_email["ann@acme.example"], [by_email["bo@acme.example"]])
    syncd("sync", config=config, check=None)
    export = json.loads(syncd("state", "export", config=config).stdout)
    errors = [e["message"] or "" for e in export["record_errors"] if not e["resolved"]]
    assert len(errors) == 1 and "SF_MERGED" in errors[0], errors
    assert by_email["ann@acme.example"] in errors[0] and ann in errors[0] and bo in errors[0], errors[0]
    assert len(cloze.records("person")) == 2  # nothing deleted in Cloze
    assert all(link["status"] == "active" for link in export["links"])
    # A full reconcile sees the merge too (queryAll), rather than a delete for the delete policy.
    syncd("reconcile", config=config, check=None)
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert all(link["status"] == "active" for link in export["links"]), export["links"]
    assert any("SF_MERGED" in (e["message"] or "") for e in export["record_errors"] if not e["resolved"])


def test_a_salesforce_edit_racing_the_sync_write_becomes_a_conflict(world: World) -> None:
    cloze, salesforce, config = world
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.entities.person", {"policy": "manual"}))
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
    syncd("reconcile", config=config)
    syncd("sync", config=config)
    [contact] = salesforce.records("Contact")
    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": ann, "last": "Lee-Cloze"}).raise_for_status()

    def edit() -> None:  # after the sync read the contact, just before its write arrives
        salesforce.advance_clock(2)
        salesforce.update_record("Contact", str(contact["Id"]), {"LastName": "Lee-Salesforce"})
    salesforce.before_request("PATCH", "/sobjects/Contact/", edit)
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        report = sync_pair(loaded, "sandbox", store=store, mode="incremental")
        found = [c for c in store.conflicts("sandbox") if c.field == "last"]
    finally:
        store.close()
    assert report.ok, report.error
    assert [(json.loads(c.cloze_value or "null"), json.loads(c.external_value or "null"), c.status) for c in found] == [
        ("Lee-Cloze", "Lee-Salesforce", "open")]
    assert salesforce.get_record("Contact", str(contact["Id"]))["LastName"] == "Lee-Salesforce"  # type: ignore[index]


def test_the_pair_stops_with_exit_75_near_the_org_daily_limit_and_resumes_the_next_day(world: World) -> None:
    cloze, salesforce, config = world
    for i in range(5):
        cloze.add_record("person", person(f"P{i}", "Lee", f"p{i}@acme.example"))
    salesforce.configure(daily_api_limit=1000)
    salesforce.spend_budget(950)  # the org's other integrations
    proc = syncd("reconcile", config=config, check=75)
    assert "daily API calls" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    salesforce.advance_clock(86_400)  # the next day: the window has rolled on
    syncd("reconcile", config=config)
    assert contact_emails(salesforce) == [f"p{i}@acme.example" for i in range(5)]


def test_the_pair_stops_at_its_own_share_and_resumes_when_the_org_clock_reaches_the_next_day(world: World) -> None:
    """The pair's share is counted on the org's clock: stepping the emulator's clock a day frees it, and each
    run continues where the previous one stopped until everything is synced."""
    cloze, salesforce, config = world
    for i in range(60):
        cloze.add_record("person", person(f"P{i}", "Lee", f"p{i}@acme.example"))
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.external", {"daily_budget_percent": 4, "batch_size": 1}))
    salesforce.configure(daily_api_limit=1000)  # a share of 40 calls a day, one create per call: a few runs
    stopped = 0
    for _day in range(15):
        proc = syncd("reconcile", config=config, check=None)
        if proc.returncode == 0:
            break
        assert proc.returncode == 75 and "its share (4% of the org's 1000) is used up" in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        stopped += 1
        salesforce.advance_clock(86_400)  # the next day, on the org's clock only
    assert stopped >= 2
    assert contact_emails(salesforce) == sorted(f"p{i}@acme.example" for i in range(60))
    assert len(cloze.records("person")) == 60
    writes = (cloze.writes, sf_writes(salesforce))
    salesforce.advance_clock(86_400)
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_state_rebuild_after_a_lost_database_creates_nothing(world: World) -> None:
    cloze, salesforce, config = world
    for i in range(6):
        cloze.add_record("person", person(f"P{i}", "Cloze", f"p{i}@c.example"))
        salesforce.add_record("Contact", {"Email": f"q{i}@s.example", "FirstName": f"Q{i}", "LastName": "Sf"})
    syncd("reconcile", config=config)
    counts = (len(cloze.records("person")), len(salesforce.records("Contact")))
    assert counts == (12, 12)
    state = config.parent / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(state) + suffix).unlink(missing_ok=True)
    out = syncd("state", "rebuild", config=config).stdout
    assert "person: 12 links rebuilt" in out
    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (len(cloze.records("person")), len(salesforce.records("Contact"))) == counts
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_sandbox_with_salesforce_runs_the_three_run_story_without_record_errors(tmp_path: Path) -> None:
    proc = subprocess.run([*SYNCD, "sandbox", "--external", "salesforce", "--dir", str(tmp_path / "sbx"),
                           "--people", "40"], check=False, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Salesforce emulator" in proc.stdout and "3. reconcile again" in proc.stdout
    tail = proc.stdout.split("3. reconcile again", 1)[1]
    assert "wrote" not in tail.split("conflicts recorded", 1)[0]
    assert 'connector = "salesforce"' in (tmp_path / "sbx" / "config.toml").read_text()


@pytest.mark.parametrize("moment", ["Account", "Contact", "Opportunity"])
def test_a_crash_at_a_salesforce_write_then_a_clean_run_leaves_no_duplicate(tmp_path: Path, moment: str) -> None:
    """SIGKILL lands while Salesforce applies a batch of upserts: the write is made, its record in the state
    database is not. The next run finds the records by their External ID instead of creating them again."""
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            SalesforceEmulator(SALESFORCE_SESSION) as salesforce:
        config = write_config(tmp_path, cloze.url, salesforce.url)
        acme = cloze.add_record("company", {"name": "Acme", "domains": [{"value": "acme.example"}]})
        for i in range(4):
            cloze.add_record("person", person(f"P{i}", "Lee", f"p{i}@acme.example"))
        cloze.add_record("project", {"name": "Deal", "stage": "current", "companies": [{"direct": acme}]})
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        proc = subprocess.Popen([*SYNCD, "reconcile", "--config", str(config)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        salesforce.before_request("PATCH", f"/composite/sobjects/{moment}/", lambda: proc.kill())
        proc.communicate(timeout=180)
        assert proc.returncode == -9
        syncd("reconcile", config=config)
        objects = {"Account": 1, "Contact": 4, "Opportunity": 1}
        assert {name: len(salesforce.records(name)) for name in objects} == objects
        assert (len(cloze.records("person")), len(cloze.records("company"))) == (4, 1)
        writes = (cloze.writes, sf_writes(salesforce))
        syncd("reconcile", config=config)
        assert (cloze.writes, sf_writes(salesforce)) == writes


def test_after_a_gap_longer_than_the_recycle_bin_the_sync_reads_in_full_and_finds_the_delete(world: World) -> None:
    cloze, salesforce, config = world
    for name in ("Ann", "Bo"):
        cloze.add_record("person", person(name, "Lee", f"{name.lower()}@acme.example"))
    syncd("reconcile", config=config)
    syncd("sync", config=config)
    bo = next(r for r in salesforce.records("Contact") if r["Email"] == "bo@acme.example")
    salesforce.delete_record("Contact", str(bo["Id"]))
    salesforce.purge()  # the Recycle Bin emptied: queryAll no longer shows the delete
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:  # the last poll was 16 days ago
        stamp = int(time.time() * 1000) - 16 * 86_400_000
        with store.transaction() as s:
            store.set_cursor(s, "sandbox", "person", "external", f"sf1:{stamp}::{stamp}")
    finally:
        store.close()
    proc = syncd("sync", "--json", config=config)
    assert "read in full" in proc.stdout + proc.stderr
    bo_cloze = next(p["direct"] for p in cloze.records("person") if p["emails"][0]["value"] == "bo@acme.example")
    assert [link["status"] for link in links(config) if link["cloze_id"] == bo_cloze] == ["unlinked"]
    assert len(cloze.records("person")) == 2  # delete_policy = "unlink": the Cloze record stays


def test_an_app_link_imported_with_a_15_character_id_links_without_a_duplicate(world: World) -> None:
    cloze, salesforce, config = world
    sf_ann = salesforce.add_record("Contact", {"Email": "ann@acme.example", "FirstName": "Ann", "LastName": "Lee"})
    cloze.add_record("person", person("Ann", "Lee", "ann.lee@home.example", appLinks=[
        {"source": APP_ID, "uniqueid": sf_ann[:15], "label": "Salesforce"}]))
    syncd("reconcile", config=config)
    assert len(salesforce.records("Contact")) == 1 and len(cloze.records("person")) == 1
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert [(link["external_id"], link["status"]) for link in export["links"]] == [(sf_ann, "active")]
    assert [e for e in export["record_errors"] if not e["resolved"]] == []
    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_state_rebuild_pairs_an_app_link_written_with_the_15_character_id(world: World) -> None:
    """A Cloze App Link imported from the Salesforce UI carries the 15-character id; the rebuild must read it as
    the 18-character id Salesforce returns, or it pairs nothing and the next reconcile has nothing to join on."""
    cloze, salesforce, config = world
    sf_ann = salesforce.add_record("Contact", {"Email": "ann@acme.example", "FirstName": "Ann", "LastName": "Lee"})
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example", appLinks=[
        {"source": APP_ID, "uniqueid": sf_ann[:15], "label": "Salesforce"}]))
    out = syncd("state", "rebuild", config=config).stdout
    assert "person: 1 links rebuilt" in out, out
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert [(link["cloze_id"], link["external_id"], link["status"]) for link in export["links"]] == [
        (ann, sf_ann, "active")]
    syncd("reconcile", config=config)
    assert (len(cloze.records("person")), len(salesforce.records("Contact"))) == (1, 1)
    assert salesforce.get_record("Contact", sf_ann)["Cloze_Syncd_Id__c"] == ann  # type: ignore[index]
    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_leads_sync_as_people_and_a_converted_lead_hands_its_cloze_record_to_the_contact(world: World) -> None:
    cloze, salesforce, config = world
    salesforce.configure(external_id_objects=("Contact", "Account", "Opportunity", "Lead"),
                         lead_convert_custom_fields=("Cloze_Syncd_Id__c",))
    config.write_text(set_keys(config.read_text(), "pairs.sandbox.external", {"leads": True}))
    lead = salesforce.add_record("Lead", {"FirstName": "Lee", "LastName": "Park", "Company": "Park Bakery",
                                          "Email": "lee@parkbakery.example"})
    salesforce.add_record("Contact", {"FirstName": "Oh", "LastName": "Kim", "Email": "oh@acme.example"})
    syncd("reconcile", config=config)
    [lee] = [p for p in cloze.records("person") if p["emails"][0]["value"] == "lee@parkbakery.example"]
    assert any(link["uniqueid"] == lead for link in lee["appLinks"])
    assert salesforce.get_record("Lead", lead)["Cloze_Syncd_Id__c"] == lee["direct"]  # type: ignore[index]
    assert len(salesforce.records("Contact")) == 1  # the lead was not copied to a contact

    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": lee["direct"], "last": "Park-Kim"}).raise_for_status()
    syncd("sync", config=config)
    assert salesforce.get_record("Lead", lead)["LastName"] == "Park-Kim"  # type: ignore[index]

    salesforce.advance_clock(2)
    made = salesforce.convert_lead(lead)
    syncd("sync", config=config)
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert [e for e in export["record_errors"] if not e["resolved"]] == []
    assert [link["external_id"] for link in export["links"] if link["cloze_id"] == lee["direct"]
            and link["status"] == "active"] == [made["contact"]]
    assert len(cloze.records("person")) == 2 and len(salesforce.records("Contact")) == 2
    writes = (cloze.writes, sf_writes(salesforce))
    syncd("reconcile", config=config)
    assert (cloze.writes, sf_writes(salesforce)) == writes


def test_an_edit_in_the_second_the_contact_was_read_reaches_cloze_next_run(world: World) -> None:
    """SystemModstamp is a whole second: a contact edited again within the second the previous poll read
    it keeps its ``(SystemModstamp, Id)``; the next poll reads that second again even with
    ``poll_overlap_seconds = 0`` (the sandbox's setting). The org's clock is held a few seconds ahead,
    so the first read and the edit share one stamped second."""
    cloze, salesforce, config = world
    salesforce.freeze_clock(int(time.time()) + 5)
    contact = salesforce.add_record("Contact", {"Email": "ann@acme.example", "FirstName": "Ann", "LastName": "Lee"})
    loaded = load_config(config)
    store = StateStore.open(loaded.state_path)
    try:
        assert sync_pair(loaded, "sandbox", store=store, mode="full").ok
        assert sync_pair(loaded, "sandbox", store=store, mode="incremental").ok  # the feed's cursor is set
        salesforce.update_record("Contact", contact, {"Title": "CTO"})
        report = sync_pair(loaded, "sandbox", store=store, mode="incremental")
    finally:
        store.close()
    assert report.ok, report.error
    [ann] = cloze.records("person")
    assert cloze_title(ann) == "CTO"
