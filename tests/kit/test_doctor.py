"""``syncd doctor`` against the emulators, as an operator runs it: a real subprocess, one line per problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.salesforce.emulator import SalesforceEmulator

SYNCD = [sys.executable, "-m", "syncd.cli"]
CLOZE_KEY, HUBSPOT_TOKEN = "doctor-cloze-key-3c9e1a", "pat-na1-doctor-token-77aa"
ENV = {**os.environ, "DOCTOR_CLOZE_KEY": CLOZE_KEY, "DOCTOR_HUBSPOT_TOKEN": HUBSPOT_TOKEN}


@pytest.fixture
def cloze() -> Iterator[ClozeEmulator]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="ops@example.com") as emu:
        yield emu


@pytest.fixture
def hubspot() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(token=HUBSPOT_TOKEN) as emu:
        yield emu


def config(tmp_path: Path, cloze: ClozeEmulator, hubspot: HubSpotEmulator, *, external: str = "",
           person_fields: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[state]
path = "{tmp_path / 'state.db'}"

[pairs.main]
app_id = "hubspot.com"
app_name = "HubSpot"

[pairs.main.cloze]
base_url = "{cloze.url}"
api_key = "env:DOCTOR_CLOZE_KEY"
user = "ops@example.com"

[pairs.main.external]
connector = "hubspot"
base_url = "{hubspot.url}"
token = "env:DOCTOR_HUBSPOT_TOKEN"
token_kind = "private_app"
{external}

[pairs.main.entities.person.fields]
first = {{}}
emails = {{}}
{person_fields}
""")
    return path


def problem_lines(ran: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in ran.stdout.splitlines() if " -- fix: " in line]


def doctor(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SYNCD, "doctor", "--config", str(path), *args], capture_output=True, text=True, env=ENV,
                          timeout=120, check=False)


def test_a_healthy_pair_passes(tmp_path: Path, cloze: ClozeEmulator, hubspot: HubSpotEmulator) -> None:
    ran = doctor(config(tmp_path, cloze, hubspot), "--facts")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "pairs.main.cloze: ok" in ran.stdout and "pairs.main.external: ok" in ran.stdout
    assert problem_lines(ran) == [] and "all checks passed" in ran.stdout
    facts = {line.split(" facts: ")[0]: json.loads(line.split(" facts: ", 1)[1])
             for line in ran.stdout.splitlines() if " facts: " in line}
    assert facts["pairs.main.cloze"]["account"] == "ops@example.com", ran.stdout
    assert facts["pairs.main.external"]["token_kind"] == "private_app", ran.stdout
    used = {route for route, n in hubspot.stats.by_route.items() if n}
    assert used and used <= {"access-token-info", "properties.list", "pipelines.list", "pipelines.stages",
                             "account-info", "owners.list"}, f"doctor must only read: {used}"


def test_a_missing_scope_to_create_the_identity_property_is_named(tmp_path: Path, cloze: ClozeEmulator,
                                                                  hubspot: HubSpotEmulator) -> None:
    hubspot.configure(missing_scopes={"crm.schemas.contacts.write", "crm.objects.deals.write"})
    ran = doctor(config(tmp_path, cloze, hubspot))
    assert ran.returncode == 78, ran.stdout + ran.stderr
    lines = problem_lines(ran)
    assert len(lines) == 3, ran.stdout  # the identity and tags properties of contacts, the deals write scope
    assert any("cloze_syncd_id" in line and "is missing on contacts" in line
               and "fix: grant the app the scope crm.schemas.contacts.write" in line for line in lines), lines
    assert any("lacks the scope crm.objects.deals.write" in line for line in lines), lines
    assert all(line.startswith("pairs.main.external") for line in lines)


def test_a_missing_property_is_named_when_it_will_not_be_created(tmp_path: Path, cloze: ClozeEmulator,
                                                                 hubspot: HubSpotEmulator) -> None:
    ran = doctor(config(tmp_path, cloze, hubspot, external="create_properties = false"))
    assert ran.returncode == 78, ran.stdout + ran.stderr
    lines = problem_lines(ran)
    assert [line for line in lines if "cloze_syncd_id" in line and "contacts" in line], ran.stdout + ran.stderr
    assert all("or set create_properties = true" in line for line in lines), lines


def test_a_bad_token_is_one_line_with_its_fix(tmp_path: Path, cloze: ClozeEmulator, hubspot: HubSpotEmulator) -> None:
    path = config(tmp_path, cloze, hubspot)
    ran = subprocess.run([*SYNCD, "doctor", "--config", str(path)], capture_output=True, text=True, timeout=120,
                         env={**ENV, "DOCTOR_HUBSPOT_TOKEN": "pat-na1-wrong-token-0000"}, check=False)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    [line] = problem_lines(ran)
    assert line.startswith("pairs.main.external") and "401" in line and "fix: check the HubSpot token" in line, line
    assert "pairs.main.cloze: ok" in ran.stdout
    assert "pat-na1-wrong-token-0000" not in ran.stdout + ran.stderr and "Traceback" not in ran.stderr


def test_unmapped_custom_fields_are_named_on_each_side(tmp_path: Path, cloze: ClozeEmulator,
                                                       hubspot: HubSpotEmulator) -> None:
    fields = ('"custom.source" = { cloze = "lead-source", external = "cloze_lead_source", kind = "text" }\n'
              '"custom.mood" = { cloze = "no-such-field", external = "firstname", kind = "text" }')
    ran = doctor(config(tmp_path, cloze, hubspot, person_fields=fields))
    assert ran.returncode == 78, ran.stdout + ran.stderr
    lines = problem_lines(ran)
    assert len(lines) == 2, ran.stdout
    [cloze_line] = [line for line in lines if line.startswith("pairs.main.cloze")]
    assert "no person custom field 'no-such-field'" in cloze_line and "Custom Fields" in cloze_line, cloze_line
    [hubspot_line] = [line for line in lines if line.startswith("pairs.main.external")]
    assert "no contacts property 'cloze_lead_source'" in hubspot_line and "create the property" in hubspot_line


def test_a_salesforce_object_without_the_identity_field_is_named(tmp_path: Path, cloze: ClozeEmulator) -> None:
    session = "00D5g0000000001!doctor-session"
    with SalesforceEmulator(session, external_id_objects=["Account", "Opportunity"]) as salesforce:
        path = tmp_path / "config.toml"
        path.write_text(f"""
[state]
path = "{tmp_path / 'state.db'}"

[pairs.main]
app_id = "acme.my.salesforce.com"

[pairs.main.cloze]
base_url = "{cloze.url}"
api_key = "env:DOCTOR_CLOZE_KEY"

[pairs.main.external]
connector = "salesforce"
auth = "session"
session_id = "env:DOCTOR_SF_SESSION"
instance_url = "{salesforce.url}"
""")
        ran = subprocess.run([*SYNCD, "doctor", "--config", str(path)], capture_output=True, text=True, timeout=120,
                             env={**ENV, "DOCTOR_SF_SESSION": session}, check=False)
    assert ran.returncode == 78, ran.stdout + ran.stderr
    [line] = problem_lines(ran)
    assert line.startswith("pairs.main.external (Contact.Cloze_Syncd_Id__c)") and "is missing" in line, line
    assert "fix: in Setup > Object Manager > Contact" in line and session not in ran.stdout + ran.stderr
