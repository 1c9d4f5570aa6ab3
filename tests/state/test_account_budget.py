"""Per-account budgets in the state database: account leases taken with a pair's lease, the API usage
ledger, ``account_available``, and the account keys derived from a pair's settings (no secret in them);
on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import text

from connectors.cloze.connector import ClozeSettings
from connectors.hubspot.settings import HubSpotSettings
from state.budget import BUDGET_SHARE, UsageCounter, account_available, usage_day
from state.store import StateStore
from syncd.engine.accounts import account_key
from tests.state.conftest import NewLocation

ACCOUNT = "hubspot@api.hubapi.com#0123456789abcdef"
DAY = "2026-12-01"


def test_a_second_pair_on_a_held_account_takes_neither_the_account_nor_its_own_lease(
        state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        a = store.claim_lease("a", "run-a", 60, accounts=[ACCOUNT, "cloze#a"])
        assert a == 1 and store.account_holder(ACCOUNT) == "a"
        assert store.claim_lease("b", "run-b", 60, accounts=["cloze#b", ACCOUNT]) is None
        assert store.lease_holder("b") is None  # rolled back with the refused account
        assert store.account_holder("cloze#b") is None
        assert store.claim_lease("c", "run-c", 60, accounts=["cloze#c"]) == 1  # other accounts: no wait
        store.release_lease("a", "run-a", a)
        assert store.account_holder(ACCOUNT) is None
        assert store.claim_lease("b", "run-b", 60, accounts=["cloze#b", ACCOUNT]) == 1
        assert store.account_holder(ACCOUNT) == "b"
        # The holder's lease expiring frees the account too (a killed run needs no clean-up).
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE leases SET expires_at = 0, mono_expires = 0 WHERE pair = 'b'"))
        assert store.account_holder(ACCOUNT) is None
        assert store.claim_lease("a", "run-a2", 60, accounts=[ACCOUNT]) == 2
    finally:
        store.close()


RACERS = 6


def _claim_for(location: Path | str, pair: str, ready: object, go: object, out: object) -> None:
    store = StateStore.open(location)
    try:
        ready.put(pair)  # type: ignore[attr-defined]
        go.wait()  # type: ignore[attr-defined]
        try:
            out.put((pair, store.claim_lease(pair, f"run-{pair}", 60, accounts=[ACCOUNT])))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - the failure the test looks for
            out.put((pair, f"error: {type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
    finally:
        store.close()


def test_pairs_racing_for_one_account_have_exactly_one_winner(new_state_location: NewLocation) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_no in range(8):
        location = new_state_location()
        store = StateStore.open(location)
        if round_no % 2:  # an account last held by a run that has ended
            epoch = store.claim_lease("earlier", "run-earlier", 60, accounts=[ACCOUNT])
            assert epoch is not None
            store.release_lease("earlier", "run-earlier", epoch)
        ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=_claim_for, args=(location, f"pair{i}", ready, go, out)) for i in range(RACERS)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=60)
        go.set()
        results = dict(out.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        winners = [pair for pair, epoch in results.items() if epoch is not None]
        assert len(winners) == 1 and results[winners[0]] == 1, f"round {round_no}: {results}"
        assert store.account_holder(ACCOUNT) == winners[0]
        assert [p for p in results if store.lease_holder(p) is not None] == winners
        store.close()


def test_usage_is_added_per_flush_and_an_account_at_90_percent_is_deferred_with_the_reason(
        state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        counter = UsageCounter()
        for _ in range(400):
            counter.count(ACCOUNT)
        counter.reported(ACCOUNT, remaining=600)
        with store.transaction() as s:
            counter.flush(s, DAY)
        assert counter.pending() == 0
        row = store.usage(ACCOUNT, DAY)
        assert row is not None and (row.calls, row.last_remaining) == (400, 600)
        ok = account_available(store, ACCOUNT, day=DAY)
        assert ok.available and (ok.calls, ok.budget) == (400, 1000)

        counter.count(ACCOUNT, 499)
        counter.reported(ACCOUNT, remaining=101)
        with store.transaction() as s:
            counter.flush(s, DAY)
        assert account_available(store, ACCOUNT, day=DAY).available  # 899 of 1,000: not yet

        counter.count(ACCOUNT)
        with store.transaction() as s:
            counter.flush(s, DAY)  # no new report: the last one, less the calls since
        row = store.usage(ACCOUNT, DAY)
        assert row is not None and (row.calls, row.last_remaining) == (900, 100)
        deferred = account_available(store, ACCOUNT, day=DAY)
        assert not deferred.available and deferred.calls == 900 and BUDGET_SHARE * 1000 <= 900
        assert deferred.reason == (f"account {ACCOUNT} has used 900 of its 1,000 calls for {DAY} (90%, at least "
                                   "90%): deferred until the day's budget resets")
        assert account_available(store, ACCOUNT, day=DAY, daily_budget=10_000).available  # a configured budget
        assert account_available(store, ACCOUNT, day="2026-12-02").available  # a new day
    finally:
        store.close()


def test_a_held_account_is_not_available_and_says_who_holds_it(state_location: Path | str) -> None:
    store = StateStore.open(state_location)
    try:
        assert store.claim_lease("a", "run-a", 60, accounts=[ACCOUNT]) == 1
        busy = account_available(store, ACCOUNT)
        assert not busy.available and busy.reason == f"account {ACCOUNT} is busy: pair 'a' is running on it"
    finally:
        store.close()


def test_the_ledger_day_is_the_utc_date() -> None:
    assert usage_day(1_796_108_602_194) == "2026-12-01"


def test_account_keys_name_the_account_and_no_secret() -> None:
    token = "pat-na1-very-secret-token"
    one = HubSpotSettings(token=token, base_url="http://127.0.0.1:8080/")
    paced = HubSpotSettings(token=token, base_url="http://127.0.0.1:8080", batch_size=10, requests_per_10s=20)
    other = HubSpotSettings(token="pat-na1-another-token", base_url="http://127.0.0.1:8080")
    key = account_key("hubspot", one)
    assert key.startswith("hubspot@127.0.0.1:8080#") and token not in key
    assert account_key("hubspot", paced) == key  # pacing and batch sizes are not the account
    assert account_key("hubspot", other) != key
    cloze = ClozeSettings(api_key="cloze-secret-key", user="ann@acme.example", base_url="https://api.cloze.com")
    cloze_key = account_key("cloze", cloze)
    assert cloze_key.startswith("cloze@api.cloze.com#") and "cloze-secret-key" not in cloze_key
    assert "ann@acme.example" not in cloze_key
    assert account_key("cloze", cloze.model_copy(update={"user": "bob@acme.example"})) != cloze_key
