"""End to end: HubSpot's signed webhooks trigger a sync in a real ``syncd run``, long before the interval.

Both emulators run on loopback; the HubSpot emulator is told to deliver its change
events, signed with the app's client secret, to the daemon's listener at
``/webhooks/external/sandbox``. The pair's interval is an hour, so only a webhook can
bring an edit across within the test. Deliveries with a bad signature or a stale
timestamp are refused with 401, logged with the reason, and never with a secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_config
from connectors.hubspot.emulator.webhooks import signature_v3
from syncd.webhooks import list_pair, subscribe_pair, unsubscribe_pair
from tests.daemon.procs import Daemon, free_port
from tests.fault.seeding import populate
from tests.fault.world import PAIR, World, open_world

pytestmark = pytest.mark.timeout(120)

CLIENT_SECRET = "hubspot-app-client-secret-7d1e"
WEBHOOK_SECRET = "daemon-webhook-secret-0042"


@dataclass
class Setup:
    world: World
    daemon: Daemon
    hook_url: str

    def webhook_runs(self) -> int:
        return sum(1 for r in self.world.export()["runs"] if r["mode"] == "webhook")


def wait_until(check: Callable[[], bool], timeout: float, what: str, daemon: Daemon) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"{what} not within {timeout}s:\n{daemon.output()}"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("hubspot-webhooks")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    config: dict[str, dict[str, Any]] = {
        "logging": {"level": "debug", "format": "json"},
        "daemon.http": {"port": port},
        "daemon.webhooks": {"enabled": True, "public_url": public, "secret": "env:SYNCD_TEST_WEBHOOK_SECRET",
                            "debounce": "0.1s"},
        f"pairs.{PAIR}.schedule": {"interval": "1h", "reconcile_cron": ""},
        f"pairs.{PAIR}.change_notifications": {"cloze": False, "external": True},
    }
    hook_url = f"{public}/webhooks/external/{PAIR}"
    with open_world(directory, config=config,
                    external={"webhook_client_secret": "env:SYNCD_TEST_HUBSPOT_CLIENT_SECRET"}) as world:
        populate(world, seed=71, cloze_people=2, hub_people=3, overlap=1)
        daemon = Daemon(world.config, directory, {"SYNCD_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                                  "SYNCD_TEST_HUBSPOT_CLIENT_SECRET": CLIENT_SECRET})
        try:
            daemon.wait_ready()
            daemon.wait_event("run_finished", timeout=60)  # the first run, started with the daemon
            world.hubspot.configure(webhook_target_url=hook_url, webhook_client_secret=CLIENT_SECRET)
            yield Setup(world, daemon, hook_url)
        finally:
            world.hubspot.configure(webhook_target_url=None)
            daemon.stop()
            daemon.close()


def _linked_contact(world: World) -> tuple[str, str]:
    """A HubSpot contact the first run linked, and the e-mail that finds its Cloze twin."""
    cloze_emails = {e["value"].lower() for p in world.cloze.records("person") for e in p.get("emails", [])}
    for contact in world.hubspot.objects("contacts"):
        email = (contact["properties"].get("email") or "").lower()
        if email in cloze_emails:
            return contact["id"], email
    raise AssertionError("no contact is on both sides after the first run")


def _cloze_first(world: World, email: str) -> str | None:
    for person in world.cloze.records("person"):
        if any(e["value"].lower() == email for e in person.get("emails", [])):
            return str(person.get("first") or "")
    return None


def test_an_edit_in_hubspot_reaches_cloze_through_a_webhook(setup: Setup) -> None:
    world, daemon = setup.world, setup.daemon
    before = setup.webhook_runs()
    contact_id, email = _linked_contact(world)
    world.hubspot.update_object("contacts", contact_id, {"firstname": "Hooked"})
    took = wait_until(lambda: _cloze_first(world, email) == "Hooked", 30, "the edit in Cloze", daemon)
    assert took < 30  # the interval is an hour: only the webhook brought it
    assert setup.webhook_runs() > before
    assert any(d.status == 200 for d in world.hubspot.webhooks.deliveries)
    sync = daemon.wait_event("webhook sync", pair=PAIR)
    assert sync["sides"] == ["external"]


def _post(setup: Setup, body: bytes, *, secret: str, age_ms: int = 0) -> httpx.Response:
    stamp = str(int(time.time() * 1000) - age_ms)
    headers = {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
               "X-HubSpot-Signature-v3": signature_v3(secret, "POST", setup.hook_url, body, stamp)}
    return httpx.post(setup.hook_url, content=body, headers=headers, timeout=10)


def test_bad_signature_and_stale_timestamp_are_refused_and_logged_without_secrets(setup: Setup) -> None:
    world, daemon = setup.world, setup.daemon
    contact_id, _ = _linked_contact(world)
    body = json.dumps([{"subscriptionType": "contact.propertyChange", "objectId": int(contact_id),
                        "portalId": 4242424, "occurredAt": int(time.time() * 1000)}]).encode()
    assert _post(setup, body, secret=CLIENT_SECRET, age_ms=6 * 60 * 1000).status_code == 401  # stale
    assert _post(setup, body, secret="not-the-app-secret").status_code == 401
    assert httpx.post(setup.hook_url, content=body, timeout=10).status_code == 401  # unsigned
    # The emulator itself, signing with the wrong secret: its deliveries are refused too.
    world.hubspot.configure(webhook_client_secret="a-leaked-old-secret")
    seen = len(world.hubspot.webhooks.deliveries)
    before = setup.webhook_runs()
    try:
        world.hubspot.update_object("contacts", contact_id, {"jobtitle": "Forged"})
        assert world.hubspot.webhooks.wait_idle(10)
        assert [d.status for d in world.hubspot.webhooks.deliveries[seen:]] == [401]
    finally:
        world.hubspot.configure(webhook_client_secret=CLIENT_SECRET)
    time.sleep(0.5)  # longer than the debounce: a queued sync would have started
    assert setup.webhook_runs() == before
    reasons = [e["event"] for e in daemon.logs() if str(e.get("event", "")).startswith("webhook rejected")]
    assert any("timestamp is 360 s old" in r for r in reasons), reasons
    assert any("signature does not match" in r for r in reasons), reasons
    assert any("no X-HubSpot-Signature-v3" in r for r in reasons), reasons
    logs = daemon.stdout_path.read_text() + daemon.stderr_path.read_text()
    for secret in (CLIENT_SECRET, WEBHOOK_SECRET, "a-leaked-old-secret"):
        assert secret not in logs


def test_subscribe_makes_cloze_subscriptions_and_names_hubspot_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot's subscriptions live in the app's settings: `subscribe` skips that side and says where to go."""
    monkeypatch.setenv("SYNCD_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("SYNCD_TEST_HUBSPOT_CLIENT_SECRET", CLIENT_SECRET)
    config: dict[str, dict[str, Any]] = {
        "daemon.webhooks": {"enabled": True, "public_url": "https://sync.example.com",
                            "secret": "env:SYNCD_TEST_WEBHOOK_SECRET"},
        f"pairs.{PAIR}.change_notifications": {"external": True},
    }
    with open_world(tmp_path, config=config,
                    external={"webhook_client_secret": "env:SYNCD_TEST_HUBSPOT_CLIENT_SECRET"}) as world:
        loaded = load_config(world.config)
        done = subscribe_pair(loaded, PAIR)
        made = done.rows
        assert sorted((row.side, row.event) for row in made) == [
            ("cloze", "company.change"), ("cloze", "person.change"), ("cloze", "project.change")]
        assert {row.uniqueid for row in list_pair(loaded, PAIR)} == {row.uniqueid for row in made}
        assert list(done.elsewhere) == ["external"]
        assert done.elsewhere["external"] == ("set the target URL in the HubSpot app's webhook settings: "
                                              f"https://sync.example.com/webhooks/external/{PAIR}")
        assert sorted(unsubscribe_pair(loaded, PAIR)) == sorted(row.uniqueid for row in made)
