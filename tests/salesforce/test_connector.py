"""The Salesforce connector against the Salesforce emulator over loopback: reads, the change feed, idempotent
creates, conditional updates, deletes and merges, auth flows and the daily API budget."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.errors import AuthError, ChangeHistoryLost, ConfigError
from connectors.model import CHANGED_SINCE_READ, CreateRequest, SetPatch, UpdateRequest
from connectors.salesforce import ids
from connectors.salesforce.budget import DailyBudgetSpent, parse_limit_info
from connectors.salesforce.changes import Position
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.emulator import SalesforceEmulator
from connectors.salesforce.seed import load_into
from connectors.salesforce.settings import SalesforceSettings

from .conftest import SESSION

CONSUMER = {"client_id": "3MVG9emulator.consumer.key", "client_secret": "emulator-consumer-secret"}


def connect(emulator: SalesforceEmulator, state_dir: Path | None = None, /, **settings: Any) -> SalesforceConnector:
    base: dict[str, Any] = {"auth": "session", "session_id": SESSION, "instance_url": emulator.url}
    if settings.get("auth", "session") != "session":
        base = {"login_url": emulator.url}
    config = SalesforceSettings.model_validate({**base, **settings})
    return SalesforceConnector(config, ConnectorContext(pair="p", side="external", app_id="acme.my.salesforce.com",
                                                        state_dir=state_dir))


@pytest.fixture
def conn(emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
    with connect(emulator) as connector:
        yield connector


def emails(*values: str) -> SetPatch:
    return SetPatch(result=frozenset(values))


def test_reads_map_fields_relations_and_18_character_ids(emulator: SalesforceEmulator,
                                                         conn: SalesforceConnector) -> None:
    seeded = load_into(emulator)
    people = [r for page in conn.list_all("person") for r in page]
    assert len(people) == 30 and all(len(p.id) == 18 and ids.normalize(p.id) == p.id for p in people)
    contact = next(p for p in people if p.id == seeded["contact-01"])
    assert contact.fields["emails"] and contact.fields["companies"] == [seeded["account-01"]]
    [deal] = conn.get("project", [seeded["opp-01"]]).values()
    assert deal.fields["companies"] == [seeded["account-01"]] and len(deal.fields["people"]) == 2
    assert all(len(p) == 18 for p in deal.fields["people"])  # Contact ids, as the link table keeps them
    assert deal.fields["stage"] and deal.fields["close_date"]
    # A 15-character id (as typed from the UI) reads the same record.
    short = seeded["contact-01"][:15]
    assert conn.get("person", [short])[short].id == seeded["contact-01"]
    [company] = conn.lookup("company", "domains", "harborpointdental.com")
    assert company.id == seeded["account-01"]
    assert [r.id for r in conn.lookup("person", "emails", str(contact.fields["emails"][0]).upper())] == [contact.id]


def test_create_is_an_upsert_on_the_identity_field_in_batches_of_200(emulator: SalesforceEmulator,
                                                                      conn: SalesforceConnector) -> None:
    requests = [CreateRequest(f"k{i}", {"first": "P", "last": f"N{i}", "emails": emails(f"p{i}@x.example")},
                              cloze_ref=f"cloze-{i}") for i in range(250)]
    first = conn.create("person", requests)
    assert all(r.ok for r in first) and emulator.stats.by_route["collections.upsert"] == 2
    assert first[7].record is not None and first[7].record.cloze_ref == "cloze-7"
    again = conn.create("person", requests[:3])  # repeated after a crash: the same records, no duplicates
    assert [r.id for r in again] == [r.id for r in first[:3]] and all(r.details.get("existed") for r in again)
    assert len(emulator.records("Contact")) == 250
    assert conn.find_linked("person", "cloze-9") is not None and conn.find_linked("person", "nobody") is None


def test_required_fields_and_restricted_picklists_are_record_errors(conn: SalesforceConnector) -> None:
    results = conn.create("project", [
        CreateRequest("ok", {"name": "Deal", "stage": "Prospecting"}, cloze_ref="c1"),
        CreateRequest("bad-stage", {"name": "Deal 2", "stage": "Maybe"}, cloze_ref="c2"),
        CreateRequest("no-stage", {"name": "Deal 3"}, cloze_ref="c3"),
    ])
    assert [(r.key, r.ok, r.code) for r in results] == [
        ("ok", True, None), ("bad-stage", False, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ("no-stage", False, "REQUIRED_FIELD_MISSING")]
    assert "StageName" in (results[2].error or "")
    # A person without a last name gets the configured placeholder (LastName is required).
    [person] = conn.create("person", [CreateRequest("k", {"first": "Solo"}, cloze_ref="c4")])
    assert person.ok and person.record is not None and person.record.fields["last"] == "[unknown]"


def test_missing_identity_field_says_what_an_admin_must_create(emulator: SalesforceEmulator) -> None:
    emulator.configure(external_id_objects=["Account", "Opportunity"])
    emulator.reset()
    with connect(emulator) as conn, pytest.raises(ConfigError) as caught:
        conn.create("person", [CreateRequest("k", {"last": "Lee"}, cloze_ref="c1")])
    text = str(caught.value)
    assert "Cloze_Syncd_Id__c" in text and "External ID" in text and "Unique" in text and "Contact" in text


def test_an_edit_after_our_read_makes_the_update_changed_since_read(emulator: SalesforceEmulator,
                                                                    conn: SalesforceConnector) -> None:
    [made] = conn.create("person", [CreateRequest("k", {"first": "Ann", "last": "Lee"}, cloze_ref="c1")])
    assert made.record is not None
    seen = made.record.modified_at
    emulator.advance_clock(5)
    emulator.update_record("Contact", made.record.id, {"Title": "CFO"})
    [result] = conn.update("person", [UpdateRequest(made.record.id, {"title": "CEO"}, seen_modified_at=seen)])
    assert result.code == CHANGED_SINCE_READ and result.record is not None and result.record.fields["title"] == "CFO"
    assert emulator.get_record("Contact", made.record.id)["Title"] == "CFO"  # type: ignore[index]
    # Read again, the write goes through.
    [ok] = conn.update("person", [UpdateRequest(made.record.id, {"title": "CEO"},
                                                seen_modified_at=result.record.modified_at)])
    assert ok.ok and ok.record is not None and ok.record.fields["title"] == "CEO"


def test_change_feed_walks_ties_by_id_and_reports_deletes_and_merges(emulator: SalesforceEmulator) -> None:
    conn = connect(emulator, poll_overlap_seconds=0)
    emulator.freeze_clock(time.time())
    made = [emulator.add_record("Contact", {"LastName": f"N{i}", "Email": f"n{i}@x.example"}) for i in range(6)]
    pages = list(conn.changes("person", None))
    assert sorted(r.id for p in pages for r in p.records) == sorted(made)
    cursor = pages[-1].cursor
    assert cursor is not None and cursor.startswith("sf1:")
    # A cursor in the middle of a second that had ended when its poll began: only rows after it (by id)
    # come back (a second still open during the poll is read again: test_e2e's same-second edit).
    stamp = int(cursor.split(":")[1])
    middle = Position(stamp, sorted(made)[2]).encode(stamp + 2_000)
    assert sorted(r.id for p in conn.changes("person", middle) for r in p.records) == sorted(made)[3:]
    emulator.advance_clock(10)
    emulator.delete_record("Contact", made[0])
    emulator.merge("Contact", made[1], [made[2]])
    after = list(conn.changes("person", cursor))
    assert [i for p in after for i in p.deleted_ids] == [made[0]]
    merged = [r for p in after for r in p.records if r.unreadable]
    assert [r.id for r in merged] == [made[2]] and made[1] in (merged[0].unreadable or "")
    assert "SF_MERGED" in (merged[0].unreadable or "")
    conn.close()


def test_a_gap_longer_than_the_recycle_bin_raises_change_history_lost(conn: SalesforceConnector) -> None:
    old = int(time.time() * 1000) - 16 * 86_400_000
    with pytest.raises(ChangeHistoryLost) as caught:
        list(conn.changes("company", Position(old, "").encode(old)))
    assert "syncd reconcile p" in str(caught.value) and caught.value.code == "SF_HISTORY_GAP"


def test_api_version_is_checked_at_start(emulator: SalesforceEmulator) -> None:
    with connect(emulator, api_version="67.0") as conn, pytest.raises(ConfigError) as caught:
        conn.check()
    assert "67.0" in str(caught.value) and "66.0" in str(caught.value)


def test_the_pair_stops_at_its_share_of_the_daily_allowance(emulator: SalesforceEmulator, tmp_path: Path) -> None:
    emulator.configure(daily_api_limit=40)
    load_into(emulator)
    with connect(emulator, tmp_path, daily_budget_percent=50) as conn, pytest.raises(DailyBudgetSpent) as caught:
        for _ in range(40):
            conn.get("company", ["001000000000000"])
    assert caught.value.exit_code == 75 and "share" in str(caught.value)
    assert emulator.budget.used() == 20
    # The ledger is kept across runs: a new connector for the same pair is stopped too.
    with connect(emulator, tmp_path, daily_budget_percent=50) as again, pytest.raises(DailyBudgetSpent):
        again.get("company", ["001000000000000"])
        again.get("company", ["001000000000000"])
    assert stat.S_IMODE(os.stat(tmp_path / "salesforce-p.calls.json").st_mode) == 0o600


def test_the_pair_share_follows_the_org_clock_and_rolls_over_with_it(emulator: SalesforceEmulator,
                                                                     tmp_path: Path) -> None:
    """The share is counted on Salesforce's clock (each reply's Date), not the machine's: when the org's rolling
    24 hours have passed, yesterday's calls no longer count, whatever the local clock says."""
    emulator.configure(daily_api_limit=40)
    with connect(emulator, tmp_path, daily_budget_percent=50) as conn, pytest.raises(DailyBudgetSpent) as caught:
        for _ in range(40):
            conn.get("company", ["001000000000000"])
    assert emulator.budget.used() == 20
    assert 82_800 <= (caught.value.retry_after or 0) <= 86_400  # the oldest calls leave the window in a day
    emulator.advance_clock(6 * 3600)  # not yet a day on the org's clock: still spent
    with connect(emulator, tmp_path, daily_budget_percent=50) as again, pytest.raises(DailyBudgetSpent):
        again.get("company", ["001000000000000"])
        again.get("company", ["001000000000000"])
    emulator.advance_clock(86_400)  # the next day on the org's clock
    with connect(emulator, tmp_path, daily_budget_percent=50) as nextday:
        for _ in range(15):
            nextday.get("company", ["001000000000000"])
        assert nextday.client.budget.share_used() == pytest.approx(100 * 15 / 40)


def test_the_org_usage_is_what_salesforce_reports(emulator: SalesforceEmulator, conn: SalesforceConnector) -> None:
    """``/limits`` (read by ``check()``) and each reply's ``Sforce-Limit-Info`` give the org's own figures."""
    emulator.configure(daily_api_limit=1000)
    emulator.spend_budget(400)
    conn.client.get("/limits")
    budget = conn.client.budget
    assert (budget.org_used, budget.org_max) == (emulator.budget.used(), 1000)
    budget.observe_limits({"DailyApiRequests": {"Max": 2000, "Remaining": 1500}})
    assert (budget.org_used, budget.org_max) == (500, 2000)


def test_request_limit_exceeded_is_the_budget_being_spent(emulator: SalesforceEmulator,
                                                          conn: SalesforceConnector) -> None:
    emulator.configure(daily_api_limit=10)
    emulator.spend_budget(10)
    with pytest.raises(DailyBudgetSpent) as caught:
        conn.get("company", ["001000000000000"])
    assert "REQUEST_LIMIT_EXCEEDED" in str(caught.value) and emulator.stats.limit_refused == 1  # not retried
    assert parse_limit_info("api-usage=18/5000; api-bursts=1/750") == (18, 5000)


def test_client_credentials_and_one_re_mint_on_invalid_session(emulator: SalesforceEmulator) -> None:
    with connect(emulator, auth="client_credentials", **CONSUMER) as conn:
        conn.get("company", ["001000000000000"])
        assert conn.client.token is not None
        emulator.revoke_sessions(conn.client.token.access_token)
        conn.get("company", ["001000000000000"])
        assert conn.client.tokens.minted == 2 and conn.account_identity()["org_id"].startswith("00D")
    with connect(emulator, auth="client_credentials", client_id=CONSUMER["client_id"],
                 client_secret="not-the-secret-4711") as bad, pytest.raises(AuthError) as caught:
        bad.get("company", ["001000000000000"])
    assert "4711" not in str(caught.value) and "client_id/client_secret" in str(caught.value)


def test_a_rotated_refresh_token_is_persisted_before_use(emulator: SalesforceEmulator, tmp_path: Path) -> None:
    emulator.configure(refresh_token_rotation=True)
    initial = emulator.issue_refresh_token()
    with connect(emulator, tmp_path, auth="refresh_token", refresh_token=initial, **CONSUMER) as conn:
        conn.get("company", ["001000000000000"])
    stored = tmp_path / "salesforce-p.refresh-token"
    rotated = stored.read_text().strip()
    assert rotated and rotated != initial and stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    # The next process starts from the rotated token (the initial one is retired).
    with connect(emulator, tmp_path, auth="refresh_token", refresh_token=initial, **CONSUMER) as conn:
        conn.get("company", ["001000000000000"])
    assert stored.read_text().strip() not in (initial, rotated)


def test_jwt_bearer_flow_and_a_clear_error_without_pyjwt(emulator: SalesforceEmulator, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(pem)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    emulator.configure(jwt_public_key=public)
    jwt_settings = {"auth": "jwt", "client_id": CONSUMER["client_id"], "username": "integration@example.com",
                    "private_key_file": str(tmp_path / "key.pem"), "audience": "https://login.salesforce.com"}
    with connect(emulator, **jwt_settings) as conn:
        conn.check()
        assert conn.client.tokens.minted == 1
    monkeypatch.setitem(sys.modules, "jwt", None)  # PyJWT not installed: the import fails
    with connect(emulator, **jwt_settings) as conn, pytest.raises(ConfigError) as caught:
        conn.check()
    assert "cloze-syncd[salesforce]" in str(caught.value)


def test_a_contact_role_change_is_a_change_of_its_opportunity(emulator: SalesforceEmulator,
                                                              conn: SalesforceConnector) -> None:
    seeded = load_into(emulator)
    cursor = [p.cursor for p in conn.changes("project", None)][-1]
    emulator.advance_clock(5)
    contact = emulator.get_record("Contact", seeded["contact-03"])
    assert contact is not None
    emulator.add_record("OpportunityContactRole", {"OpportunityId": seeded["opp-01"], "ContactId": contact["Id"]})
    changed = {r.id: r for p in conn.changes("project", cursor) for r in p.records}
    assert seeded["opp-01"] in changed
    assert ids.normalize(str(contact["Id"])) in changed[seeded["opp-01"]].fields["people"]


def test_describe_lists_the_sales_process_stages_and_app_urls_open_the_record(conn: SalesforceConnector) -> None:
    facts = conn.describe()
    assert "Closed Won" in facts["project_stage_options"] and facts["api_version"] == "66.0"
    assert conn.default_app_url("person") == "https://acme.my.salesforce.com/{id}"
    assert conn.canonical_id("person", "006j000000Pkp1d") == "006j000000Pkp1dAAB"  # the Cloze help's example
    assert conn.canonical_id("person", "not-an-id") == "not-an-id"


def test_a_second_address_added_in_cloze_keeps_the_one_salesforce_holds(conn: SalesforceConnector) -> None:
    [made] = conn.create("person", [CreateRequest("k", {"last": "Lee", "emails": emails("zed@x.example")},
                                                  cloze_ref="c1")])
    assert made.id is not None
    patch = SetPatch(add=frozenset({"amy@x.example"}), result=frozenset({"amy@x.example", "zed@x.example"}))
    [result] = conn.update("person", [UpdateRequest(made.id, {"emails": patch})])
    assert result.ok and result.record is not None and result.record.fields["emails"] == ["zed@x.example"]
    assert result.details["dropped"] == {"emails": ["amy@x.example"]}


def test_a_duplicate_rule_block_names_the_matching_records(emulator: SalesforceEmulator,
                                                           conn: SalesforceConnector) -> None:
    existing = emulator.add_record("Contact", {"LastName": "Lee", "Email": "ann@acme.example"})
    [result] = conn.create("person", [CreateRequest("k", {"last": "Lee", "emails": emails("ann@acme.example")},
                                                    cloze_ref="c1")])
    assert not result.ok and result.code == "DUPLICATES_DETECTED"
    assert existing in (result.error or "") and result.details["matching_records"] == [existing]
