"""Account identities: what each connector reports, and how a recorded identity is compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import ConnectorContext
from connectors.cloze.connector import ClozeConnector, ClozeSettings
from connectors.cloze.emulator import ClozeEmulator
from connectors.errors import AccountMismatchError
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.settings import HubSpotSettings
from connectors.memory import MemoryConnector, MemorySettings
from connectors.tryton.connector import TrytonConnector
from connectors.tryton.settings import TrytonSettings
from state.store import StateStore
from syncd.engine.accounts import mismatches, verify_accounts

CTX = ConnectorContext("p", "external", "crm.example.com")


def test_cloze_reports_the_profile_email() -> None:
    with ClozeEmulator(api_key="k1", user="Owner@Example.com") as emu:
        conn = ClozeConnector(ClozeSettings(base_url=emu.url, api_key="k1", user="Owner@Example.com"),
                              ConnectorContext("p", "cloze", "crm.example.com"))
        try:
            assert conn.account_identity() == {"user": "owner@example.com"}
        finally:
            conn.close()
        assert emu.request_count("GET /v1/user/profile") == 1


@pytest.mark.parametrize("portal", [4_242_424, 99])
def test_hubspot_reports_the_portal_id_of_account_info(portal: int) -> None:
    with HubSpotEmulator(token="t1", portal_id=portal) as emu:
        conn = HubSpotConnector(HubSpotSettings(base_url=emu.url, token="t1"), CTX)
        try:
            assert conn.account_identity() == {"portal_id": str(portal)}
        finally:
            conn.close()
        assert emu.stats.by_route["account-info"] == 1


def test_tryton_reports_its_database_not_the_address_it_is_reached_at() -> None:
    conn = TrytonConnector(TrytonSettings(url="https://ERP.example.com/", database="acme", username="u",
                                          password="p"), CTX)
    assert conn.account_identity() == {"database": "acme"}
    moved = TrytonConnector(TrytonSettings(url="http://127.0.0.1:8000/", database="acme", username="u",
                                           password="p"), CTX)
    assert moved.account_identity() == conn.account_identity()


def test_memory_reports_its_backend_and_file(tmp_path: Path) -> None:
    conn = MemoryConnector(MemorySettings(backend="b1", path=tmp_path / "x.json"), CTX)
    assert conn.account_identity() == {"backend": "b1", "path": str((tmp_path / "x.json").resolve())}


def test_mismatches_compare_only_what_both_know() -> None:
    recorded = {"cloze": {"user": "a@x.com"}, "external": {"portal_id": "1"}, "app": {"app_id": "hubspot.com"}}
    assert mismatches(recorded, recorded) == []
    assert mismatches(recorded, {"cloze": {"user": "a@x.com"}}) == []
    assert mismatches(recorded, {"external": {"portal_id": "2", "region": "eu1"}}) == [
        "external.portal_id: recorded '1', now '2'"]
    assert mismatches(recorded, {"app": {"app_id": "other.com"}, "cloze": {"user": "b@x.com"}}) == [
        "app.app_id: recorded 'hubspot.com', now 'other.com'", "cloze.user: recorded 'a@x.com', now 'b@x.com'"]


def test_the_first_run_records_and_a_later_one_with_other_accounts_is_refused(state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        mine = {"cloze": {"user": "a@x.com"}, "external": {"portal_id": "1"}, "app": {"app_id": "hubspot.com"}}
        verify_accounts(store, "p", mine, record=False)  # a dry run records nothing
        assert store.accounts("p") == {}
        verify_accounts(store, "p", mine, record=True)
        assert store.accounts("p") == mine
        verify_accounts(store, "p", mine, record=True)
        verify_accounts(store, "q", {"cloze": {"user": "z@x.com"}}, record=True)  # another pair, its own accounts
        with pytest.raises(AccountMismatchError) as info:
            verify_accounts(store, "p", {**mine, "cloze": {"user": "b@x.com"}}, record=True)
        assert info.value.exit_code == 78 and "state adopt --pair p" in str(info.value)
        assert store.where in str(info.value)
        assert store.accounts("p") == mine
    finally:
        store.close()
