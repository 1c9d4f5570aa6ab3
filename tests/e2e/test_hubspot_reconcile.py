"""End to end: ``syncd`` as a subprocess against the Cloze and HubSpot emulators over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from syncd.sandbox import HUBSPOT_TOKEN, write_config
from syncd.sandbox_files import CLOZE_KEY

SYNCD = [sys.executable, "-m", "syncd.cli"]


def syncd(*args: str, config: Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.run([*SYNCD, *args, "--config", str(config)], capture_output=True, text=True, timeout=180, env=env,
                          check=False)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def person(first: str, last: str, email: str, **extra: Any) -> dict[str, Any]:
    return {"first": first, "last": last, "name": f"{first} {last}", "emails": [{"value": email}], **extra}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ClozeEmulator, HubSpotEmulator, Path]]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, HubSpotEmulator(token=HUBSPOT_TOKEN) as hubspot:
        config = write_config(tmp_path, cloze.url, hubspot.url)
        yield cloze, hubspot, config


def emails_of_contacts(hubspot: HubSpotEmulator) -> list[str]:
    return sorted(o["properties"]["email"].lower() for o in hubspot.objects("contacts") if o["properties"].get("email"))


def cloze_emails(cloze: ClozeEmulator) -> list[str]:
    return sorted(e["value"].lower() for p in cloze.records("person") for e in p.get("emails", []) if not e.get("archived"))


@pytest.mark.slow
def test_first_sync_edits_conflicts_archive_and_a_quiet_second_run(world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    # Overlap: Ann exists on both sides (matched by e-mail, never copied).
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example", keywords=["vip"]))
    hub_ann = hubspot.add_object("contacts", {"email": "ANN@acme.example", "firstname": "Ann", "lastname": "Lee", "jobtitle": "CEO"})
    cloze.add_record("person", person("Bob", "Ng", "bob@acme.example"))
    hubspot.add_object("contacts", {"email": "cy@beta.example", "firstname": "Cy", "lastname": "Oh"})

    syncd("reconcile", config=config)
    assert emails_of_contacts(hubspot) == ["ann@acme.example", "bob@acme.example", "cy@beta.example"]
    assert cloze_emails(cloze) == ["ann@acme.example", "bob@acme.example", "cy@beta.example"]
    # App Links on the Cloze side, the Cloze identity on the HubSpot side.
    for record in cloze.records("person"):
        links = [l for l in record.get("appLinks", []) if l.get("source") == "hubspot.com" and not l.get("archived")]
        assert len(links) == 1, record
    for contact in hubspot.objects("contacts"):
        assert contact["properties"].get("cloze_syncd_id"), contact
    ann_rec = cloze.get_record("person", ann)
    assert ann_rec is not None and any(l["uniqueid"] == hub_ann for l in ann_rec["appLinks"])

    # A second run writes nothing on either side.
    cloze_writes, hub_writes = cloze.writes, hubspot.stats.writes
    syncd("reconcile", config=config)
    assert (cloze.writes, hubspot.stats.writes) == (cloze_writes, hub_writes)

    # Edits on both sides to different fields merge; the same field is a conflict settled by policy.
    export = json.loads(syncd("state", "export", config=config).stdout)
    link = next(l for l in export["links"] if l["cloze_id"] == ann)
    hubspot.update_object("contacts", link["external_id"], {"jobtitle": "Chair", "firstname": "Anne"})
    import httpx

    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": ann, "last": "Lee-Smith", "first": "Annie"}).raise_for_status()
    syncd("sync", config=config)
    contact = hubspot.get_object("contacts", link["external_id"])
    assert contact is not None and contact["properties"]["lastname"] == "Lee-Smith"
    ann_rec = cloze.get_record("person", ann)
    assert ann_rec is not None and ann_rec.get("last") == "Lee-Smith"
    conflicts = json.loads(syncd("conflicts", "list", "--all", "--json", config=config).stdout)
    assert [(c["field"], c["policy"]) for c in conflicts if c["cloze_id"] == ann and c["field"] == "first"] == [("first", "newest_wins")]

    # A HubSpot archive is handled by the delete policy (unlink: the Cloze record stays, the link goes).
    cy = next(l for l in json.loads(syncd("state", "export", config=config).stdout)["links"]
              if l["status"] == "active" and (hubspot.get_object("contacts", l["external_id"]) or {}).get("properties", {}).get("email") == "cy@beta.example")
    hubspot.archive("contacts", cy["external_id"])
    syncd("reconcile", config=config)
    assert cy["cloze_id"] in {p["direct"] for p in cloze.records("person")}
    after = json.loads(syncd("state", "export", config=config).stdout)["links"]
    assert [l["status"] for l in after if l["id"] == cy["id"]] == ["unlinked"]
    writes = (cloze.writes, hubspot.stats.writes)
    syncd("reconcile", config=config)
    assert (cloze.writes, hubspot.stats.writes) == writes
    assert emails_of_contacts(hubspot) == ["ann@acme.example", "bob@acme.example"]


def test_wiped_state_rebuilds_without_duplicates(world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    for i in range(12):
        cloze.add_record("person", person(f"P{i}", "Cloze", f"p{i}@c.example"))
        hubspot.add_object("contacts", {"email": f"q{i}@h.example", "firstname": f"Q{i}", "lastname": "Hub"})
    syncd("reconcile", config=config)
    counts = (len(cloze.records("person")), len(hubspot.objects("contacts")))
    assert counts == (24, 24)
    state = config.parent / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(state) + suffix).unlink(missing_ok=True)
    out = syncd("state", "rebuild", config=config).stdout
    assert "person: 24 links rebuilt" in out
    writes = (cloze.writes, hubspot.stats.writes)
    syncd("reconcile", config=config)
    assert (len(cloze.records("person")), len(hubspot.objects("contacts"))) == counts
    assert (cloze.writes, hubspot.stats.writes) == writes


def test_dry_run_prints_the_plan_and_writes_nothing_anywhere(world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
    syncd("reconcile", config=config)
    cloze.add_record("person", person("Bob", "Ng", "bob@acme.example"))
    state = config.parent / "state.db"
    before = state.read_bytes()
    writes = (cloze.writes, hubspot.stats.writes)
    proc = syncd("reconcile", "--dry-run", "--json", config=config)
    [report] = json.loads(proc.stdout)
    assert report["dry_run"] and [row["action"] for row in report["plan"]] == ["create_external"]
    assert state.read_bytes() == before
    assert (cloze.writes, hubspot.stats.writes) == writes


@pytest.mark.slow
def test_secrets_never_reach_output_logs_or_state(world: tuple[ClozeEmulator, HubSpotEmulator, Path]) -> None:
    cloze, hubspot, config = world
    cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
    hubspot.set_faults(script=[{"kind": "error", "status": 500}] * 4)
    outputs = [syncd("reconcile", config=config, check=None)]
    hubspot.reset()
    outputs.append(syncd("reconcile", config=config, check=None))
    outputs.append(syncd("state", "export", config=config))
    outputs.append(syncd("config", "show", config=config))
    text = "".join(p.stdout + p.stderr for p in outputs)
    assert CLOZE_KEY not in text and HUBSPOT_TOKEN not in text
    state = (config.parent / "state.db").read_bytes()
    assert CLOZE_KEY.encode() not in state and HUBSPOT_TOKEN.encode() not in state


def test_bad_config_lists_every_problem_with_its_key_and_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[pairs.main]\napp_id = "HubSpot"\ndelete_policy = "erase"\n'
        '[pairs.main.schedule]\ninterval = "1s"\n'
        '[pairs.main.cloze]\napi_key = "env:SYNCD_TEST_UNSET_VARIABLE"\n'
        '[pairs.main.external]\nconnector = "hubspot"\ntokn = "x"\n'
    )
    proc = syncd("config", "check", config=config, check=78)
    assert "pairs.main.app_id" in proc.stderr and "(line 2)" in proc.stderr
    assert "pairs.main.delete_policy" in proc.stderr
    assert "pairs.main.schedule.interval" in proc.stderr
    config.write_text(
        '[pairs.main]\napp_id = "hubspot.com"\n'
        '[pairs.main.cloze]\napi_key = "env:SYNCD_TEST_UNSET_VARIABLE"\n'
        '[pairs.main.external]\nconnector = "hubspot"\ntokn = "x"\n'
        '[pairs.main.entities.person.fields]\nfirts = {}\n'
    )
    proc = syncd("config", "check", config=config, check=78)
    assert "pairs.main.cloze.api_key: environment variable SYNCD_TEST_UNSET_VARIABLE is not set" in proc.stderr
    assert "pairs.main.external.tokn" in proc.stderr and "Traceback" not in proc.stderr
    proc = syncd("reconcile", config=config, check=78)
    assert "Traceback" not in proc.stderr


def test_two_contacts_sharing_a_phone_are_held_back_not_merged_into_one_cloze_person(
    world: tuple[ClozeEmulator, HubSpotEmulator, Path],
) -> None:
    """Twins on one side would be merged by Cloze on create: both are held and reported, nothing is written."""
    cloze, hubspot, config = world
    hubspot.add_object("contacts", {"email": "a@one.example", "firstname": "Ann", "lastname": "Lee", "phone": "+1 555 0100"})
    hubspot.add_object("contacts", {"email": "b@two.example", "firstname": "Ann", "lastname": "Lee", "phone": "+1 555 0100"})
    writes = (cloze.writes, hubspot.stats.writes)
    proc = syncd("reconcile", config=config, check=3)
    assert cloze.records("person") == []
    assert (cloze.writes, hubspot.stats.writes) == writes
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert export["links"] == []
    errors = [e for e in export["record_errors"] if not e["resolved"]]
    assert sorted(e["code"] for e in errors) == ["duplicate_on_side", "duplicate_on_side"], errors
    assert "Traceback" not in proc.stderr
    syncd("reconcile", config=config, check=3)  # still reported, still nothing written
    assert (cloze.writes, hubspot.stats.writes) == writes


def test_a_create_that_cloze_merges_into_a_linked_person_is_reported_not_relinked(
    world: tuple[ClozeEmulator, HubSpotEmulator, Path],
) -> None:
    """Cloze merges a create into an existing person sharing a phone: one link, one clear error, then quiet."""
    cloze, hubspot, config = world
    cloze.add_record("person", person("Ann", "Lee", "ann@cloze.example", phones=[{"value": "+1 555 0100"}]))
    hubspot.add_object("contacts", {"email": "ann@hub.example", "firstname": "Ann", "lastname": "Lee", "phone": "+1 555 0100"})
    proc = syncd("reconcile", config=config, check=3)
    assert len(cloze.records("person")) == 1
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert len([l for l in export["links"] if l["status"] == "active"]) == 1
    codes = [e["code"] for e in export["record_errors"] if not e["resolved"]]
    assert codes == ["merged_on_create"], export["record_errors"]
    refs = [o["properties"].get("cloze_syncd_id") for o in hubspot.objects("contacts")]
    assert len([r for r in refs if r]) == 1, refs  # only the linked contact carries the Cloze identity
    writes = (cloze.writes, hubspot.stats.writes)
    syncd("reconcile", config=config, check=3)  # still reported, nothing written again
    assert (cloze.writes, hubspot.stats.writes) == writes
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_manual_conflict_is_resolved_from_the_cli_and_applied_on_the_next_run(
    world: tuple[ClozeEmulator, HubSpotEmulator, Path],
) -> None:
    cloze, hubspot, config = world
    config.write_text(config.read_text().replace(
        '[pairs.sandbox.entities.person]\npolicy = "newest_wins"', '[pairs.sandbox.entities.person]\npolicy = "manual"'))
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example"))
    syncd("reconcile", config=config)
    link = json.loads(syncd("state", "export", config=config).stdout)["links"][0]
    import httpx

    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": ann, "last": "Cloze-Lee"}).raise_for_status()
    hubspot.update_object("contacts", link["external_id"], {"lastname": "Hub-Lee"})
    syncd("sync", config=config, check=3)  # a pending conflict: finished, but needs an operator
    [conflict] = json.loads(syncd("conflicts", "list", "--json", config=config).stdout)
    assert (conflict["field"], conflict["cloze_value"], conflict["external_value"]) == ("last", "Cloze-Lee", "Hub-Lee")
    contact = hubspot.get_object("contacts", link["external_id"])
    assert contact is not None and contact["properties"]["lastname"] == "Hub-Lee"  # nothing written while it waits
    shown = json.loads(syncd("conflicts", "show", str(conflict["id"]), config=config).stdout)
    assert shown["status"] == "open"
    syncd("conflicts", "resolve", str(conflict["id"]), "--take", "external", config=config)
    syncd("sync", config=config)
    record = cloze.get_record("person", ann)
    assert record is not None and record["last"] == "Hub-Lee"
    assert json.loads(syncd("conflicts", "list", "--json", config=config).stdout) == []
    bad = syncd("conflicts", "resolve", "999", "--take", "cloze", config=config, check=1)
    assert "no conflict with id 999" in bad.stderr


@pytest.mark.slow
def test_2000_people_initial_sync_under_the_rate_limit_is_paced_not_bounced(
    world: tuple[ClozeEmulator, HubSpotEmulator, Path],
) -> None:
    cloze, hubspot, config = world
    hubspot.configure(rate_limit_per_10s=100)  # HubSpot Free/Starter: 100 requests per 10 seconds
    for i in range(2000):
        cloze.add_record("person", person(f"P{i}", "Load", f"p{i}@load.example"))
    proc = syncd("reconcile", config=config)
    contacts = hubspot.objects("contacts")
    assert len(contacts) == 2000
    assert all(c["properties"].get("cloze_syncd_id") for c in contacts)
    assert hubspot.stats.rate_limited <= 2, f"{hubspot.stats.rate_limited} requests bounced off the limit"
    assert proc.stderr.count('"api_retry"') + proc.stderr.count("api_retry ") <= 2
    export = json.loads(syncd("state", "export", config=config).stdout)
    assert len([l for l in export["links"] if l["status"] == "active"]) == 2000
    assert [e for e in export["record_errors"] if not e["resolved"]] == []
