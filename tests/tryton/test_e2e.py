"""End to end: ``syncd`` as a subprocess between the Cloze emulator and a real Tryton server.

Each test gets a fresh Tryton database (a copy of the cached template) so that a
full reconcile sees only what the test put there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.cloze.emulator import ClozeEmulator
from connectors.tryton.rpc import RpcClient
from connectors.tryton.testserver import Install, TrytonServer, running_server
from tests.tryton.helpers import category_id
from tests.tryton.proxy import RpcRelay

pytestmark = pytest.mark.tryton

CLOZE_KEY = "e2e-cloze-key-5b7d1c"
APP_ID = "tryton.example.com"
SYNCD = [sys.executable, "-m", "syncd.cli"]

CONFIG = """\
[state]
path = "{state}"

[logging]
level = "warning"

[pairs.main]
app_id = "{app_id}"
app_name = "Tryton"
app_url = "{tryton}/#{{entity}}/{{id}}"
delete_policy = "unlink"

[pairs.main.cloze]
base_url = "{cloze}"
api_key = "env:CLOZE_API_KEY"
user = "ops@example.com"
rate_per_second = 200

[pairs.main.external]
connector = "tryton"
url = "{tryton}"
database = "{database}"
username = "{username}"
password = "env:TRYTON_PASSWORD"

[pairs.main.entities.person]
policy = "newest_wins"

[pairs.main.entities.company]
enabled = true

[pairs.main.entities.project]
enabled = false
"""


@pytest.fixture
def tryton(tryton_install: Install, tmp_path: Path) -> Iterator[TrytonServer]:
    with running_server(tryton_install, tmp_path / "tryton") as server:
        yield server


@pytest.fixture
def cloze() -> Iterator[ClozeEmulator]:
    with ClozeEmulator(api_key=CLOZE_KEY, user="ops@example.com") as emulator:
        yield emulator


@pytest.fixture
def tadmin(tryton: TrytonServer) -> Iterator[RpcClient]:
    from pydantic import SecretStr

    from connectors.tryton import TrytonSettings

    client = RpcClient(TrytonSettings(url=tryton.url, database=tryton.database, username=tryton.username,
                                      password=SecretStr(tryton.password)))
    yield client
    client.close()


def write_config(tmp_path: Path, cloze: ClozeEmulator, tryton: TrytonServer, url: str | None = None) -> Path:
    config = tmp_path / "syncd.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state.db", app_id=APP_ID, cloze=cloze.url,
                                    tryton=url or tryton.url, database=tryton.database, username=tryton.username))
    return config


def syncd(*args: str, config: Path, tryton: TrytonServer, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env.update(CLOZE_API_KEY=CLOZE_KEY, TRYTON_PASSWORD=tryton.password)
    proc = subprocess.run([*SYNCD, *args, "--config", str(config)], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def last_json(stdout: str) -> Any:
    """The JSON document that ends ``stdout`` (log lines may precede it: logs go to stdout off a tty)."""
    lines = stdout.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[start:]))
            except ValueError:
                continue
    raise AssertionError(f"no JSON document in:\n{stdout}")


def reconcile(config: Path, tryton: TrytonServer) -> dict[str, Any]:
    [report] = last_json(syncd("reconcile", "--json", config=config, tryton=tryton).stdout)
    assert isinstance(report, dict)
    return report


def links(config: Path, tryton: TrytonServer) -> list[dict[str, Any]]:
    data = last_json(syncd("state", "export", config=config, tryton=tryton).stdout)
    return list(data["links"])


def person(first: str, last: str, email: str, **extra: Any) -> dict[str, Any]:
    return {"first": first, "last": last, "name": f"{first} {last}", "emails": [{"value": email}], **extra}


def cloze_update(cloze: ClozeEmulator, direct: str, **fields: Any) -> None:
    httpx.post(f"{cloze.url}/v1/people/update", params={"api_key": CLOZE_KEY},
               json={"direct": direct, **fields}).raise_for_status()


def cloze_people(cloze: ClozeEmulator) -> dict[str, dict[str, Any]]:
    """Live Cloze people by their (first) e-mail."""
    out = {}
    for record in cloze.records("person"):
        emails = [e["value"].lower() for e in record.get("emails", []) if not e.get("archived")]
        if emails:
            out[emails[0]] = record
    return out


def tryton_people(admin: RpcClient) -> dict[str, dict[str, Any]]:
    """Active Tryton parties with an e-mail, by that e-mail."""
    rows = admin.search_read("party.party", [], ["name", "categories.name", "identifiers.code",
                                                 "contact_mechanisms.type", "contact_mechanisms.value"])
    out = {}
    for row in rows:
        emails = [c["value"].lower() for c in row["contact_mechanisms"] if c["type"] == "email"]
        if emails:
            out[emails[0]] = row
    return out


def tryton_state(admin: RpcClient) -> list[Any]:
    """Every party-side record with its version: equal snapshots mean nothing was written."""
    snap: list[Any] = []
    for model in ("party.party", "party.contact_mechanism", "party.address", "party.identifier", "party.category"):
        rows = admin.search_read(model, [], ["id", "write_date", "create_date"], order=[("id", "ASC")],
                                 active_test=False)
        snap.append([(r["id"], r["write_date"], r["create_date"]) for r in rows])
    return snap


def live_app_links(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [link for link in record.get("appLinks", []) if link.get("source") == APP_ID and not link.get("archived")]


def test_first_sync_edits_conflict_delete_and_quiet_runs(tmp_path: Path, cloze: ClozeEmulator,
                                                         tryton: TrytonServer, tadmin: RpcClient) -> None:
    company_cat = category_id(tadmin, "Company")
    [t_ann, t_cy, t_beta] = tadmin.create("party.party", [
        {"name": "Ann Lee", "contact_mechanisms": [("create", [{"type": "email", "value": "ANN@acme.example"}])]},
        {"name": "Cy Oh", "contact_mechanisms": [("create", [{"type": "email", "value": "cy@beta.example"}])]},
        {"name": "Beta Corp", "categories": [("add", [company_cat])],
         "contact_mechanisms": [("create", [{"type": "website", "value": "https://www.beta.example/"}])]},
    ])
    ann = cloze.add_record("person", person("Ann", "Lee", "ann@acme.example", keywords=["vip"]))
    cloze.add_record("person", person("Bob", "Ng", "bob@acme.example", phones=[{"value": "+1 555 0101"}]))
    cloze.add_record("company", {"name": "Acme Inc", "domains": ["acme.example"]})
    config = write_config(tmp_path, cloze, tryton)

    # First sync: Ann is matched by e-mail (not copied), Bob and Cy are created on the other side.
    first = reconcile(config, tryton)
    assert first["status"] == "ok", first
    people = tryton_people(tadmin)
    assert sorted(people) == ["ann@acme.example", "bob@acme.example", "cy@beta.example"]
    assert people["ann@acme.example"]["id"] == t_ann
    assert [c["name"] for c in people["ann@acme.example"]["categories"]] == ["vip"]
    assert all(any(i["code"].startswith("cloze:") for i in row["identifiers"]) for row in people.values())
    in_cloze = cloze_people(cloze)
    assert sorted(in_cloze) == ["ann@acme.example", "bob@acme.example", "cy@beta.example"]
    assert in_cloze["ann@acme.example"]["direct"] == ann
    assert all(len(live_app_links(r)) == 1 for r in in_cloze.values())
    assert live_app_links(in_cloze["cy@beta.example"])[0]["uniqueid"] == str(t_cy)
    companies = tadmin.search_read("party.party", [("categories", "=", company_cat)],
                                   ["name", "contact_mechanisms.value"])
    assert sorted(c["name"] for c in companies) == ["Acme Inc", "Beta Corp"]
    assert sorted(c["name"] for c in cloze.records("company")) == ["Acme Inc", "Beta Corp"]
    assert any("beta.example" in c.get("domains", []) for c in cloze.records("company"))
    assert t_beta in [c["id"] for c in companies]

    # A second run writes nothing on either side.
    before = (cloze.writes, tryton_state(tadmin))
    quiet = reconcile(config, tryton)
    assert quiet["writes"] == {} and (cloze.writes, tryton_state(tadmin)) == before

    # Different fields edited on each side merge.
    tadmin.write("party.party", t_ann, {"contact_mechanisms": [("create", [{"type": "phone", "value": "+1 555 0177"}])]})
    cloze_update(cloze, ann, last="Lee-Smith")
    reconcile(config, tryton)
    assert tryton_people(tadmin)["ann@acme.example"]["name"] == "Ann Lee-Smith"
    phones = [p["value"] for p in cloze_people(cloze)["ann@acme.example"].get("phones", [])]
    assert "+1 555 0177" in phones or "+15550177" in [p.replace(" ", "") for p in phones]

    # The same field edited on both sides is a conflict, settled by newest_wins and recorded.
    tadmin.write("party.party", t_ann, {"name": "Anne Lee-Smith"})
    cloze_update(cloze, ann, first="Annie")  # the later edit
    reconcile(config, tryton)
    assert tryton_people(tadmin)["ann@acme.example"]["name"] == "Annie Lee-Smith"
    assert cloze_people(cloze)["ann@acme.example"]["first"] == "Annie"
    conflicts = last_json(syncd("conflicts", "list", "--all", "--json", config=config, tryton=tryton).stdout)
    assert [(c["field"], c["policy"], c["outcome"]) for c in conflicts] == [("first", "newest_wins", "cloze")]

    # An archive in Tryton is a delete there; the pair's policy (unlink) keeps the Cloze record.
    cy = next(l for l in links(config, tryton) if l["external_id"] == str(t_cy))
    tadmin.write("party.party", t_cy, {"active": False})
    reconcile(config, tryton)
    assert "cy@beta.example" in cloze_people(cloze)
    assert [l["status"] for l in links(config, tryton) if l["id"] == cy["id"]] == ["unlinked"]
    before = (cloze.writes, tryton_state(tadmin))
    assert reconcile(config, tryton)["writes"] == {}
    assert (cloze.writes, tryton_state(tadmin)) == before


def test_incremental_sync_reads_the_change_feed(tmp_path: Path, cloze: ClozeEmulator, tryton: TrytonServer,
                                                tadmin: RpcClient) -> None:
    config = write_config(tmp_path, cloze, tryton)
    cloze.add_record("person", person("Eve", "Ito", "eve@x.example"))
    reconcile(config, tryton)
    [row] = tadmin.search_read("party.party", [("name", "=", "Eve Ito")], ["id"])
    # Edited in Tryton through a contact mechanism of its own: the party's write_date stays put.
    tadmin.create("party.contact_mechanism", [{"party": row["id"], "type": "email", "value": "eve@work.example"}])
    tadmin.create("party.party", [{"name": "Fay Wu", "contact_mechanisms": [("create", [
        {"type": "email", "value": "fay@x.example"}])]}])
    syncd("sync", config=config, tryton=tryton)
    eve = cloze_people(cloze)["eve@x.example"]
    assert sorted(e["value"] for e in eve["emails"] if not e.get("archived")) == ["eve@work.example", "eve@x.example"]
    assert "fay@x.example" in cloze_people(cloze)
    before = (cloze.writes, tryton_state(tadmin))
    syncd("sync", config=config, tryton=tryton)
    assert (cloze.writes, tryton_state(tadmin)) == before


def test_an_edit_in_tryton_during_a_sync_loses_nothing(tmp_path: Path, cloze: ClozeEmulator, tryton: TrytonServer,
                                                        tadmin: RpcClient) -> None:
    [dee] = tadmin.create("party.party", [{"name": "Dee Doe", "contact_mechanisms": [("create", [
        {"type": "email", "value": "dee@x.example"}])]}])
    direct = cloze.add_record("person", person("Dee", "Doe", "dee@x.example"))
    with RpcRelay(tryton.url) as relay:
        config = write_config(tmp_path, cloze, tryton, url=relay.url)
        reconcile(config, tryton)
        cloze_update(cloze, direct, last="Doe-Ray")
        hot = category_id(tadmin, "hot")

        def someone_edits_dee() -> None:  # after syncd read Dee, before its write reaches Tryton
            tadmin.write("party.party", dee, {"categories": [("add", [hot])], "contact_mechanisms": [
                ("create", [{"type": "phone", "value": "+1 555 0123"}])]})

        relay.before("model.party.party.write", someone_edits_dee)
        earlier = len(relay.replies("model.party.party.write"))
        report = reconcile(config, tryton)
        assert report["status"] == "ok", report
        replies = relay.replies("model.party.party.write")[earlier:]
        assert replies[0]["error"][0] == "ConcurrencyException"  # Tryton refused the stale write
        assert "error" not in replies[1]  # and the re-applied write went through
    [row] = tadmin.search_read("party.party", [("id", "=", dee)], ["name", "categories.name",
                                                                  "contact_mechanisms.value"])
    assert row["name"] == "Dee Doe-Ray"  # syncd's edit
    assert [c["name"] for c in row["categories"]] == ["hot"]  # and the concurrent one
    assert "+1 555 0123" in [c["value"] for c in row["contact_mechanisms"]]
    # The next run carries the concurrent edit to Cloze; the one after writes nothing.
    config = write_config(tmp_path, cloze, tryton)
    reconcile(config, tryton)
    record = cloze_people(cloze)["dee@x.example"]
    assert record["last"] == "Doe-Ray" and "hot" in record.get("keywords", [])
    assert [p["value"].replace(" ", "") for p in record.get("phones", [])] == ["+15550123"]
    before = (cloze.writes, tryton_state(tadmin))
    assert reconcile(config, tryton)["writes"] == {}
    assert (cloze.writes, tryton_state(tadmin)) == before


def test_bad_tryton_settings_exit_78(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[pairs.main]\napp_id = "tryton.example.com"\n'
                      '[pairs.main.cloze]\napi_key = "env:CLOZE_API_KEY"\n'
                      '[pairs.main.external]\nconnector = "tryton"\nurl = "127.0.0.1:8000"\ndatabse = "crm"\n')
    proc = subprocess.run([*SYNCD, "reconcile", "--config", str(config)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CLOZE_API_KEY": CLOZE_KEY}, check=False)
    assert proc.returncode == 78, proc.stderr
    assert "pairs.main.external.url" in proc.stderr and "pairs.main.external.databse" in proc.stderr
    assert "Traceback" not in proc.stderr
