"""The daily API budget and its header, sessions (401 INVALID_SESSION_ID), the OAuth token endpoint
(JWT bearer verified with a public key, client credentials), faults and the admin API."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest

from connectors.salesforce.emulator import SalesforceEmulator
from tests.salesforce.conftest import SESSION, VERSION


def test_every_reply_carries_the_limit_header(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    assert api.get("/limits").headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    refused = api.post("/sobjects/Contact", json={})
    assert refused.status_code == 400 and refused.headers["Sforce-Limit-Info"] == "api-usage=2/15000"
    emulator.configure(limit_info_form="bursts")
    assert api.get("/limits").headers["Sforce-Limit-Info"] == "api-usage=3/15000; api-bursts=0/750"
    limits = api.get("/limits").json()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 4}


def test_spent_budget_is_403_until_the_next_day(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.configure(daily_api_limit=5)
    emulator.spend_budget(3)  # the org's other integrations
    assert [api.get("/limits").status_code for _ in range(2)] == [200, 200]
    refused = api.get("/query", params={"q": "SELECT Id FROM Contact"})
    assert refused.status_code == 403
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert "Retry-After" not in refused.headers and refused.headers["Sforce-Limit-Info"] == "api-usage=5/5"
    assert emulator.stats.limit_refused == 1
    emulator.advance_clock(86_400)  # rolling 24 hours: yesterday's calls no longer count
    again = api.get("/query", params={"q": "SELECT Id FROM Contact"})
    assert again.status_code == 200 and again.headers["Sforce-Limit-Info"] == "api-usage=1/5"


def test_bad_or_missing_session_is_401(http: httpx.Client, emulator: SalesforceEmulator) -> None:
    url = f"{emulator.url}/services/data/v{VERSION}/limits"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        reply = http.get(url, headers=headers)
        assert reply.status_code == 401
        assert reply.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert emulator.budget.used() == 0  # refused before it counted


def test_client_credentials_token_expires_after_session_timeout(http: httpx.Client, emulator: SalesforceEmulator) -> None:
    basic = base64.b64encode(b"3MVG9emulator.consumer.key:emulator-consumer-secret").decode()
    reply = http.post(f"{emulator.url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"})
    assert reply.status_code == 200, reply.text
    token = reply.json()
    assert token["instance_url"] == emulator.url and token["token_type"] == "Bearer"
    assert token["id"].endswith("/id/00D5g0000000001EAA/0055g0000000001AAA") and "refresh_token" not in token
    call = f"{token['instance_url']}/services/data/v{VERSION}/limits"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert http.get(call, headers=headers).status_code == 200
    emulator.advance_clock(7_201)
    assert http.get(call, headers=headers).json()[0]["errorCode"] == "INVALID_SESSION_ID"
    wrong = http.post(f"{emulator.url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "3MVG9emulator.consumer.key", "client_secret": "guess"})
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_client",
                                                         "error_description": "invalid client credentials"}


@pytest.fixture
def rsa_keys() -> tuple[Any, str]:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, public


def _assertion(key: Any, **claims: Any) -> str:
    jwt = pytest.importorskip("jwt")
    body = {"iss": "3MVG9emulator.consumer.key", "sub": "integration@example.com",
            "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180, **claims}
    return str(jwt.encode(body, key, algorithm="RS256"))


def test_jwt_bearer_flow(http: httpx.Client, emulator: SalesforceEmulator, rsa_keys: tuple[Any, str]) -> None:
    key, public = rsa_keys
    token_url = f"{emulator.url}/services/oauth2/token"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    unconfigured = http.post(token_url, data={"grant_type": grant, "assertion": _assertion(key)})
    assert unconfigured.status_code == 400 and unconfigured.json()["error"] == "invalid_grant"
    emulator.configure(jwt_public_key=public)
    good = http.post(token_url, data={"grant_type": grant, "assertion": _assertion(key)})
    assert good.status_code == 200, good.text
    headers = {"Authorization": f"Bearer {good.json()['access_token']}"}
    assert http.get(f"{emulator.url}/services/data/v{VERSION}/limits", headers=headers).status_code == 200
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "invalid assertion": _assertion(other_key),
        "audience is invalid": _assertion(key, aud="https://evil.example"),
        "user hasn't approved this consumer": _assertion(key, sub="someone@else.example"),
        "expired access/refresh token": _assertion(key, exp=int(time.time()) - 10),
    }
    for description, assertion in cases.items():
        reply = http.post(token_url, data={"grant_type": grant, "assertion": assertion})
        assert reply.status_code == 400 and reply.json() == {"error": "invalid_grant",
                                                             "error_description": description}
    wrong_app = http.post(token_url, data={"grant_type": grant, "assertion": _assertion(key, iss="other")})
    assert wrong_app.json()["error"] == "invalid_client_id"


def test_revoked_sessions_are_refused(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    assert emulator.revoke_sessions(SESSION) == 1
    assert api.get("/limits").status_code == 401


def test_scripted_faults(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.set_faults(script=[{"kind": "error", "status": 503, "match": "/query"},
                                {"kind": "rate_limit", "match": "/limits"},
                                {"kind": "drop_after", "method": "PATCH"}])
    unavailable = api.get("/query", params={"q": "SELECT Id FROM Contact"})
    assert unavailable.status_code == 503 and unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert api.get("/limits").json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    with pytest.raises(httpx.HTTPError):  # the upsert is applied, then the connection drops before the reply
        api.patch("/sobjects/Contact/Cloze_Syncd_Id__c/p-9", json={"LastName": "Kowalski"})
    assert [r["Cloze_Syncd_Id__c"] for r in emulator.records("Contact")] == ["p-9"]
    repeat = api.patch("/sobjects/Contact/Cloze_Syncd_Id__c/p-9", json={"LastName": "Kowalski"})
    assert repeat.status_code == 200 and repeat.json()["created"] is False
    assert emulator.stats.faults_injected == 3


def test_admin_api_seed_inspect_clock(http: httpx.Client, emulator: SalesforceEmulator) -> None:
    admin = f"{emulator.url}/_emulator"
    seeded = http.post(f"{admin}/seed").json()
    assert seeded["account-01"].startswith("001") and seeded["opp-01"].startswith("006")
    accounts = http.get(f"{admin}/records", params={"object": "Account"}).json()
    assert len(accounts) == 10 and accounts[0]["attributes"]["type"] == "Account"
    roles = emulator.records("OpportunityContactRole")
    assert roles and all(r["Id"].startswith("00K") for r in roles)
    assert sum(1 for r in roles if r["IsPrimary"]) == len({r["OpportunityId"] for r in roles})
    assert all(r["Id"].startswith("00Q") for r in emulator.records("Lead"))
    before = http.get(f"{admin}/clock").json()["now"]
    after = http.post(f"{admin}/clock", json={"advance_seconds": 86_400}).json()["now"]
    assert after > before
    assert http.post(f"{admin}/settings", json={"duplicate_rule": "maybe"}).status_code == 400
    assert http.post(f"{admin}/budget", json={"spend": 10}).json() == {"api_usage": 10}
    stats = http.get(f"{admin}/stats").json()
    assert stats["api_usage"] == 10 and stats["daily_api_limit"] == 15_000


def test_random_and_body_faults(api: httpx.Client, emulator: SalesforceEmulator) -> None:
    emulator.set_faults(script=[{"kind": "malformed", "match": "/limits"}, {"kind": "slow", "seconds": 0.2,
                                                                           "match": "/limits"}])
    broken = api.get("/limits")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    started = time.monotonic()
    assert api.get("/limits").status_code == 200 and time.monotonic() - started >= 0.2
    emulator.set_faults(script=[], error_rate=1.0, error_status=500, seed=3)  # a new script replaces the old
    failed = api.get("/limits")
    assert failed.status_code == 500 and failed.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    emulator.set_faults(error_rate=0.0, drop_rate=1.0)
    with pytest.raises(httpx.HTTPError):
        api.get("/limits")
    emulator.set_faults(drop_rate=0.0)
    assert api.get("/limits").status_code == 200


def test_refresh_token_flow_with_rotation(http: httpx.Client, emulator: SalesforceEmulator) -> None:
    token_url = f"{emulator.url}/services/oauth2/token"
    client = {"client_id": "3MVG9emulator.consumer.key", "client_secret": "emulator-consumer-secret"}
    plain = emulator.issue_refresh_token()
    first = http.post(token_url, data={"grant_type": "refresh_token", "refresh_token": plain, **client}).json()
    assert first["access_token"] and "refresh_token" not in first  # without rotation the same token stays valid
    assert http.post(token_url, data={"grant_type": "refresh_token", "refresh_token": plain,
                                      **client}).status_code == 200
    emulator.configure(refresh_token_rotation=True)
    old = http.post(f"{emulator.url}/_emulator/refresh-token").json()["refresh_token"]
    rotated = http.post(token_url, data={"grant_type": "refresh_token", "refresh_token": old, **client}).json()
    new = rotated["refresh_token"]
    assert new != old
    replay = http.post(token_url, data={"grant_type": "refresh_token", "refresh_token": old, **client})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # Replaying a retired token revoked the whole chain: the newest token is dead too.
    assert http.post(token_url, data={"grant_type": "refresh_token", "refresh_token": new,
                                      **client}).status_code == 400
