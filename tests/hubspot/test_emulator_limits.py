"""Rate limits, fault switches and counters of the emulator."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.hubspot.emulator import HubSpotEmulator
from tests.hubspot.conftest import TOKEN


def test_rolling_ten_second_window_429(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.configure(rate_limit_per_10s=5, daily_limit=1000)
    replies = [http.get("/crm/v3/objects/contacts") for _ in range(6)]
    assert [r.status_code for r in replies] == [200] * 5 + [429]
    ok, refused = replies[0], replies[-1]
    assert ok.headers["X-HubSpot-RateLimit-Max"] == "5"
    assert ok.headers["X-HubSpot-RateLimit-Remaining"] == "4"
    assert ok.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert ok.headers["X-HubSpot-RateLimit-Daily"] == "1000"
    assert ok.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "999"
    assert "X-HubSpot-RateLimit-Secondly" in ok.headers
    body = refused.json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["category"] == "RATE_LIMITS" and body["status"] == "error"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert emulator.stats.rate_limited == 1


def test_tokens_are_limited_separately(emulator: HubSpotEmulator) -> None:
    emulator.tokens.add("other-token")
    emulator.configure(rate_limit_per_10s=2)
    for token, expected in (("other-token", [200, 200, 429]), (TOKEN, [200, 200, 429])):
        got = [httpx.get(f"{emulator.url}/crm/v3/objects/deals", headers={"Authorization": f"Bearer {token}"})
               .status_code for _ in range(3)]
        assert got == expected


def test_search_has_its_own_per_second_limit(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.configure(search_rate_per_second=2, rate_limit_per_10s=100)
    codes = [http.post("/crm/v3/objects/contacts/search", json={}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert http.get("/crm/v3/objects/contacts").status_code == 200  # other endpoints are not affected
    assert emulator.stats.search_rate_limited == 1
    time.sleep(1.05)
    assert http.post("/crm/v3/objects/contacts/search", json={}).status_code == 200


def test_daily_limit(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.configure(daily_limit=2)
    codes = [http.get("/crm/v3/objects/companies").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert emulator.stats.daily_limited == 1


def test_scripted_faults_through_the_admin_endpoint(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    setup = http.post("/_emulator/faults", json={"script": [
        {"kind": "error", "status": 503, "match": "/search"},
        {"kind": "malformed", "method": "GET"},
        {"kind": "rate_limit"},
        {"kind": "drop"},
    ]})
    assert setup.status_code == 200 and len(setup.json()["script"]) == 4
    assert http.post("/crm/v3/objects/contacts/search", json={}).status_code == 503
    garbled = http.get("/crm/v3/objects/contacts")
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        garbled.json()
    assert http.get("/crm/v3/objects/contacts").status_code == 429
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/crm/v3/objects/contacts")
    assert http.get("/crm/v3/objects/contacts").status_code == 200
    stats = http.get("/_emulator/stats").json()
    assert stats["faults_injected"] == 4 and stats["by_status"]["503"] == 1


def test_slow_replies_apply_the_write_then_time_out(emulator: HubSpotEmulator) -> None:
    emulator.set_faults(script=[{"kind": "slow", "seconds": 0.6}])
    with (httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.2) as slow,
          pytest.raises(httpx.ReadTimeout)):
        slow.post("/crm/v3/objects/companies", json={"properties": {"name": "Late"}})
    assert [o["properties"]["name"] for o in emulator.objects("companies")] == ["Late"]


def test_random_faults_and_latency_are_settable(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.set_faults(error_rate=1.0, error_status=500)
    assert http.get("/crm/v3/objects/contacts").status_code == 500
    http.post("/_emulator/faults", json={"error_rate": 0, "latency": 0.15})
    started = time.monotonic()
    assert http.get("/crm/v3/objects/contacts").status_code == 200
    assert time.monotonic() - started >= 0.15
    assert http.post("/_emulator/faults", json={"bogus": 1}).status_code == 400


def test_settings_endpoint_and_reset(emulator: HubSpotEmulator, http: httpx.Client) -> None:
    emulator.add_object("contacts", {"email": "r@example.com"})
    assert http.post("/_emulator/settings", json={"search_result_cap": 5}).json()["search_result_cap"] == 5
    assert emulator.settings.search_result_cap == 5
    http.get("/crm/v3/objects/contacts")
    assert emulator.stats.requests == 1 and emulator.stats.by_route["objects.list"] == 1
    assert http.post("/_emulator/reset").status_code == 200
    assert emulator.objects("contacts") == [] and emulator.stats.requests == 0


def test_constructor_rejects_unknown_settings() -> None:
    with pytest.raises(TypeError):
        HubSpotEmulator(nonsense=1)
