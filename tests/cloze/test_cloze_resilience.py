"""The client under injected faults: what is retried, what is not, and that the key never leaks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator
from connectors.errors import AuthError, RecordRejected, TransientApiError
from connectors.http import RetryPolicy
from tests.cloze.conftest import API_KEY

MakeClient = Callable[..., ClozeClient]


def test_429_with_retry_after_is_waited_out(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.set_faults(rate_limit_next=1, retry_after_s=1)
    started = time.monotonic()
    profile = client.profile()
    waited = time.monotonic() - started
    assert profile["email"]
    assert 1.0 <= waited < 2.5, f"Retry-After: 1 must be honoured, waited {waited:.2f}s"
    assert client.session.retries == 1 and emulator.stats.faults["rate_limit"] == 1


def test_429_without_retry_after_backs_off(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.set_faults(rate_limit_next=2, rate_limit_retry_after=False)
    started = time.monotonic()
    assert client.count("person") == 0
    assert time.monotonic() - started < 1.0, "without Retry-After the (fast) exponential backoff applies"
    assert client.session.retries == 2


def test_pacing_keeps_under_the_server_limit(emulator: ClozeEmulator, make_client: MakeClient) -> None:
    emulator.set_faults(rate_limit_per_second=20, rate_limit_burst=10)
    paced = make_client(rate_per_second=10.0)  # bursts 10, then 10/s: always under 20/s with 10 burst
    for _ in range(14):
        paced.count("person")
    assert emulator.stats.faults.get("rate_limit", 0) == 0


@pytest.mark.parametrize("fault", ["error_next", "drop_next", "malformed_next"])
def test_transient_faults_are_recovered(emulator: ClozeEmulator, client: ClozeClient, fault: str) -> None:
    emulator.add_record("person", {"first": "Ada", "emails": [{"value": "ada@example.com"}]})
    emulator.set_faults(**{fault: 2})
    assert client.get("person", "ada@example.com")["first"] == "Ada"
    assert client.session.retries == 2
    assert sum(emulator.stats.faults.values()) == 2


def test_timeout_is_retried(emulator: ClozeEmulator, make_client: MakeClient) -> None:
    emulator.set_faults(timeout_next=1, slow_reply_s=2.0)
    impatient = make_client(timeout=0.3)
    started = time.monotonic()
    assert impatient.profile()["email"]
    assert time.monotonic() - started < 1.5
    assert impatient.session.retries == 1 and emulator.stats.faults["timeout"] == 1


def test_seeded_random_faults_are_all_recovered(emulator: ClozeEmulator, make_client: MakeClient) -> None:
    emulator.seed(30)
    emulator.set_faults(error_rate=0.15, drop_rate=0.1, malformed_rate=0.1, seed=5)
    sturdy = make_client(retry=RetryPolicy(attempts=8, initial=0.01, maximum=0.05, max_total=20, jitter=0))
    seen = [r["direct"] for page in sturdy.iter_find("person", page_size=4) for r in page]
    assert len(set(seen)) == 30
    assert sum(emulator.stats.faults.values()) > 0


def test_idempotent_create_survives_a_dropped_reply(emulator: ClozeEmulator, client: ClozeClient) -> None:
    emulator.set_faults(drop_next=1)
    body = {"first": "Bo", "appLinks": [{"source": "crm.example.com", "uniqueid": "42"}]}
    client.create("person", body)
    assert client.session.retries == 1
    assert len(emulator.records("person")) == 1, "the repeated create merged by App Link"


def test_force_create_is_not_repeated_after_a_dropped_reply(
    emulator: ClozeEmulator, client: ClozeClient
) -> None:
    emulator.set_faults(drop_next=1)
    with pytest.raises(TransientApiError):
        client.create("project", {"name": "No id", "forceCreate": True})
    assert client.session.requests_sent == 1
    assert len(emulator.records("project")) == 1


def test_retries_exhausted_raise_transient_error(emulator: ClozeEmulator, make_client: MakeClient) -> None:
    emulator.set_faults(error_next=10, error_status=502)
    quick = make_client(retry=RetryPolicy(attempts=3, initial=0.01, maximum=0.02, max_total=5))
    with pytest.raises(TransientApiError) as err:
        quick.profile()
    assert err.value.status == 502 and quick.session.requests_sent == 3


def test_business_error_reply_is_not_retried(emulator: ClozeEmulator, client: ClozeClient) -> None:
    with pytest.raises(RecordRejected) as err:
        client.update("project", {"direct": "does-not-exist", "name": "x"})
    assert err.value.code == 62 and err.value.message == "Not found"
    assert emulator.request_count("POST /v1/projects/update") == 1


def test_bearer_auth(emulator: ClozeEmulator, make_client: MakeClient) -> None:
    emulator.oauth_tokens = frozenset({"oauth-token-abcdef"})
    assert make_client(auth="bearer", user=None).profile()["email"]
    assert make_client(auth="bearer", api_key="oauth-token-abcdef", user=None).profile()["email"]
    with pytest.raises(AuthError) as err:
        make_client(auth="bearer", api_key="expired-token-123").profile()
    assert "Invalid token" in err.value.message and err.value.status == 401


def test_key_never_logged_or_raised(
    emulator: ClozeEmulator, make_client: MakeClient, caplog: pytest.LogCaptureFixture, all_logs: None
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with capture_logs() as events:
        chatty = make_client()
        emulator.set_faults(error_next=1, drop_next=1, rate_limit_next=1, retry_after_s=0)
        chatty.find("person")
        chatty.feed_start("person", modifiedafter="now")
        emulator.set_faults(error_next=10)
        with pytest.raises(TransientApiError) as transient:
            chatty.profile()
        texts += [str(transient.value), repr(transient.value)]
        emulator.reset_faults()
        with pytest.raises(RecordRejected) as rejected:
            chatty.create("person", {"first": "No identifiers"})
        texts += [str(rejected.value), repr(rejected.value)]
        wrong = make_client(api_key=API_KEY + "-revoked")
        with pytest.raises(AuthError) as auth:
            wrong.profile()
        texts += [str(auth.value), repr(auth.value)]
        dead = make_client(base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=2, initial=0.01))
        with pytest.raises(TransientApiError) as unreachable:
            dead.profile()
        texts += [str(unreachable.value), repr(unreachable.value)]
    assert any(e["event"] == "api_retry" for e in events), "the retries were logged"
    assert "api_key=***" in caplog.text, "httpx logged request URLs, with the key scrubbed"
    everything = "\n".join(
        [caplog.text, *texts, *(repr(e) for e in events), *(r.getMessage() for r in caplog.records)]
    )
    assert API_KEY not in everything


def test_admin_switches_over_http(emulator: ClozeEmulator, client: ClozeClient) -> None:
    admin = httpx.Client(base_url=emulator.url)
    try:
        assert admin.post("/_emulator/faults", json={"error_next": 1}).json()["error_next"] == 1
        assert admin.post("/_emulator/faults", json={"error_rate": 3}).status_code == 400
        client.profile()
        stats = admin.get("/_emulator/stats").json()
        assert stats["faults"] == {"error": 1} and stats["requests"]["GET /v1/user/profile"] == 2
        assert (
            admin.post("/_emulator/settings", json={"keywords_mode": "merge"}).json()["keywords_mode"]
            == "merge"
        )
        assert emulator.behaviour.keywords_mode == "merge"
        direct = admin.post(
            "/_emulator/records/people", json={"first": "Cy", "emails": [{"value": "cy@x.example"}]}
        )
        assert client.get_by_direct("person", direct.json()["direct"])["first"] == "Cy"
        assert admin.post("/_emulator/stats/reset").json()["total_requests"] == 0
    finally:
        admin.close()
