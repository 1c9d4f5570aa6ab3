"""The Cloze emulator's defaults are the documented behaviour; each convenience beyond it is opt-in."""

from __future__ import annotations

import pytest

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator
from connectors.errors import RecordRejected

SOURCE = "crm.example.com"


def person_with_link(client: ClozeClient, uid: str) -> None:
    client.create("person", {"first": "Ann", "emails": [{"value": f"{uid}@x.example"}],
                             "appLinks": [{"source": SOURCE, "uniqueid": uid}]})


def test_app_link_get_is_documented_for_projects_only(emulator: ClozeEmulator, client: ClozeClient) -> None:
    person_with_link(client, "a1")
    client.create("project", {"name": "Deal", "appLinks": [{"source": SOURCE, "uniqueid": "d1"}]})
    assert client.get("person", f"{SOURCE}:a1") is None
    assert client.get("project", f"{SOURCE}:d1") is not None
    emulator.set_behaviour(app_link_get="all")
    assert client.get("person", f"{SOURCE}:a1") is not None


def test_direct_ids_in_their_documented_forms(emulator: ClozeEmulator, client: ClozeClient) -> None:
    person_with_link(client, "a1")
    client.create("project", {"name": "Deal", "appLinks": [{"source": SOURCE, "uniqueid": "d1"}]})
    person = client.get("person", "a1@x.example")
    project = client.get("project", f"{SOURCE}:d1")
    assert person is not None and project is not None
    assert client.get("person", person["direct"]) is not None
    assert client.get("project", f"direct:{project['direct']}") is not None
    assert client.get("person", f"direct:{person['direct']}") is None
    assert client.get("project", project["direct"]) is None
    emulator.set_behaviour(direct_id_forms="any")
    assert client.get("person", f"direct:{person['direct']}") is not None
    assert client.get("project", project["direct"]) is not None


def test_an_empty_stage_is_left_out_unless_none_is_asked_for(emulator: ClozeEmulator, client: ClozeClient) -> None:
    person_with_link(client, "a1")
    record = client.get("person", "a1@x.example")
    assert record is not None and "stage" not in record and "segment" not in record
    emulator.set_behaviour(empty_enum_as_none=True)
    record = client.get("person", "a1@x.example")
    assert record is not None and (record["stage"], record["segment"], record["step"]) == ("none", "none", "none")


def test_the_pending_project_stage_is_opt_in(emulator: ClozeEmulator, client: ClozeClient) -> None:
    assert [s["key"] for s in client.stages("projects")] == ["future", "current", "won", "lost"]
    with pytest.raises(RecordRejected) as err:
        client.create("project", {"name": "Deal", "stage": "pending", "appLinks": [{"source": SOURCE, "uniqueid": "d1"}]})
    assert err.value.code == 26
    assert "pending" not in str(client.steps())
    emulator.set_behaviour(project_pending_stage=True)
    assert "pending" in [s["key"] for s in client.stages("projects")]
    client.create("project", {"name": "Deal", "stage": "pending", "appLinks": [{"source": SOURCE, "uniqueid": "d1"}]})
    project = client.get("project", f"{SOURCE}:d1")
    assert project is not None and project["stage"] == "pending"


def test_project_segment_keys_carry_the_listings_dash_unless_plain(
    emulator: ClozeEmulator, client: ClozeClient
) -> None:
    assert [s["key"] for s in client.segments("projects")] == ["-project", "-project1", "-project2"]
    assert "-project1" in client.steps()
    for uid, segment in (("d1", "project1"), ("d2", "-project1"), ("d3", "Deals")):
        client.create("project", {"name": uid, "segment": segment, "appLinks": [{"source": SOURCE, "uniqueid": uid}]})
        project = client.get("project", f"{SOURCE}:{uid}")
        assert project is not None and project["segment"] == "-project1"
    assert client.count("project", segment="project1") == 3 and client.count("project", segment="-project1") == 3
    emulator.set_behaviour(project_segment_keys="plain")
    assert [s["key"] for s in client.segments("projects")] == ["project", "project1", "project2"]
    client.create("project", {"name": "d4", "segment": "-project2", "appLinks": [{"source": SOURCE, "uniqueid": "d4"}]})
    project = client.get("project", f"{SOURCE}:d4")
    assert project is not None and project["segment"] == "project2"


def test_seeded_projects_use_the_accounts_forms(emulator: ClozeEmulator) -> None:
    emulator.seed(60)
    projects = emulator.records("project")
    assert projects and all(p.get("stage") != "pending" for p in projects)
    assert all(str(p.get("segment", "-")).startswith("-") for p in projects)
