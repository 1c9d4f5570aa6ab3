"""HubSpot webhooks: the emulator delivers signed events over HTTP, the connector verifies and parses them.

The emulator posts to a real listener (``syncd.web`` + the generic receiver) on
loopback; the receiver holds the pair's :class:`HubSpotNotifications` as the daemon
does, so each test goes through the same path as a delivery from HubSpot.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from connectors.base import ConnectorContext
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.hubspot.emulator.webhooks import signature_v3
from connectors.hubspot.notifications import HubSpotNotifications, expected_signature, parse_events
from connectors.notifications import Listener, MalformedNotification, RequestHead, Unauthenticated
from syncd.web import Health, HttpListener, make_app
from syncd.webhooks import Batch, ReceiverConfig, WebhookReceiver
from tests.hubspot.conftest import TOKEN

SECRET = "app-client-secret-3f9c"
PORTAL = 4_242_424


@dataclass
class Hooked:
    emulator: HubSpotEmulator
    listener: HttpListener
    batches: list[Batch] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_ids(self, entity: str, wanted: set[str], timeout: float = 10) -> None:
        def seen() -> set[str]:
            return {i for b in self.batches for i in b.ids.get(entity, set())}
        with self.arrived:
            assert self.arrived.wait_for(lambda: wanted <= seen(), timeout=timeout), (seen(), self.outcomes)


def _notifications(public_url: str, **overrides: Any) -> HubSpotNotifications:
    values: dict[str, Any] = {"token": TOKEN, "token_kind": "private_app", "webhook_client_secret": SECRET,
                              "portal_id": PORTAL}
    values.update(overrides)
    context = ConnectorContext(pair="main", side="external", app_id="hubspot.com")
    made = HubSpotConnector.change_notifications(HubSpotSettings(**values), context, Listener(public_url, "x"))
    assert isinstance(made, HubSpotNotifications)
    return made


@pytest.fixture
def hooked() -> Iterator[Hooked]:
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as emu:
        holder: list[Hooked] = []

        def enqueue(pair: str, batch: Batch) -> None:
            with holder[0].arrived:
                holder[0].batches.append(batch)
                holder[0].arrived.notify_all()

        receiver = WebhookReceiver(ReceiverConfig({}, max_body_bytes=65536), enqueue,
                                   count=lambda pair, outcome: holder[0].outcomes.append(outcome))
        app = make_app(registry=CollectorRegistry(), health=lambda: Health(True, {}), webhooks=lambda: receiver)
        listener = HttpListener(app, "127.0.0.1", 0)
        listener.start()
        notifications = _notifications(listener.url)
        receiver.config = ReceiverConfig({notifications.path(): notifications}, max_body_bytes=65536,
                                         public_url=listener.url)
        emu.configure(webhook_target_url=notifications.target_url(), webhook_client_secret=SECRET)
        holder.append(Hooked(emu, listener))
        try:
            yield holder[0]
        finally:
            emu.configure(webhook_target_url=None)
            listener.stop()


def test_every_kind_of_change_arrives_as_record_ids_of_its_entity(hooked: Hooked) -> None:
    emu = hooked.emulator
    contact = emu.add_object("contacts", {"email": "ada@example.com", "firstname": "Ada"})
    company = emu.add_object("companies", {"name": "Analytical Engines", "domain": "engines.example"})
    deal = emu.add_object("deals", {"dealname": "Difference engine", "amount": "100"})
    hooked.wait_ids("person", {contact})
    emu.update_object("deals", deal, {"amount": "250"})
    emu.archive("companies", company)
    hooked.wait_ids("project", {deal})
    hooked.wait_ids("company", {company})
    twin = emu.add_object("contacts", {"email": "ada.l@example.com"})
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        reply = http.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": contact, "objectIdToMerge": twin})
        assert reply.status_code == 200
    hooked.wait_ids("person", {contact, twin})  # the survivor and the record merged into it
    assert all(b.side == "external" for b in hooked.batches)
    assert set(hooked.outcomes) == {"accepted"}
    assert emu.webhooks.wait_idle() and {d.status for d in emu.webhooks.deliveries} == {200}


def test_a_wrong_secret_or_a_stale_timestamp_is_refused_with_401(hooked: Hooked) -> None:
    emu = hooked.emulator
    emu.configure(webhook_client_secret="someone-elses-secret")
    emu.add_object("contacts", {"email": "forged@example.com"})
    assert emu.webhooks.wait_idle()
    emu.configure(webhook_client_secret=SECRET, webhook_timestamp_offset_ms=-301_000)
    emu.add_object("contacts", {"email": "late@example.com"})
    assert emu.webhooks.wait_idle()
    assert [d.status for d in emu.webhooks.deliveries] == [401, 401]
    assert hooked.batches == [] and hooked.outcomes == ["unauthorized", "unauthorized"]
    emu.configure(webhook_timestamp_offset_ms=-200_000)  # within five minutes: accepted
    fresh = emu.add_object("contacts", {"email": "fresh@example.com"})
    hooked.wait_ids("person", {fresh})


def _head(url: str, body: bytes, stamp: str, signature: str | None, now: float) -> RequestHead:
    headers = {"x-hubspot-request-timestamp": stamp}
    if signature is not None:
        headers["x-hubspot-signature-v3"] = signature
    return RequestHead("POST", url, {}, headers, now)


def test_signature_covers_method_url_body_and_timestamp() -> None:
    url = "https://sync.example.com/webhooks/external/main"
    hooks = _notifications("https://sync.example.com")
    body = json.dumps([{"subscriptionType": "contact.creation", "objectId": 7, "portalId": PORTAL}]).encode()
    now = time.time()
    stamp = str(int(now * 1000))
    good = signature_v3(SECRET, "POST", url, body, stamp)  # the emulator's signing, written apart from the check
    assert good == expected_signature(SECRET, "POST", url, body, stamp)
    assert hooks.parse(_head(url, body, stamp, good, now), body).only() == {"person": frozenset({"7"})}
    tampered = [(url, body + b" ", stamp), (url + "?x=1", body, stamp), (url, body, str(int(stamp) + 1))]
    for tampered_url, tampered_body, tampered_stamp in tampered:
        with pytest.raises(Unauthenticated, match="signature does not match"):
            hooks.parse(_head(tampered_url, tampered_body, tampered_stamp, good, now), tampered_body)
    # HubSpot decodes some escapes before signing: a URL with %3A signs as one with ':'.
    assert expected_signature(SECRET, "POST", url + "?a=b%3Ac", body, stamp) == \
        expected_signature(SECRET, "POST", url + "?a=b:c", body, stamp)
    with pytest.raises(Unauthenticated, match="no X-HubSpot-Signature-v3"):
        hooks.authenticate(_head(url, body, stamp, None, now))
    with pytest.raises(Unauthenticated, match="301 s old"):
        hooks.authenticate(_head(url, body, str(int(now * 1000) - 301_000), good, now))
    with pytest.raises(Unauthenticated, match="in the future"):
        hooks.authenticate(_head(url, body, str(int(now * 1000) + 400_000), good, now))
    with pytest.raises(Unauthenticated, match="epoch milliseconds"):
        hooks.authenticate(_head(url, body, "yesterday", good, now))


def test_events_of_other_portals_and_unsynced_objects_are_skipped() -> None:
    events = [
        {"subscriptionType": "object.propertyChange", "objectTypeId": "0-2", "objectId": 11, "portalId": PORTAL},
        {"subscriptionType": "deal.deletion", "objectId": 12, "portalId": PORTAL},
        {"subscriptionType": "contact.associationChange", "fromObjectId": 13, "toObjectId": 99, "portalId": PORTAL},
        {"subscriptionType": "contact.creation", "objectId": 14, "portalId": 1},  # another account
        {"subscriptionType": "ticket.creation", "objectId": 15, "portalId": PORTAL},
        {"subscriptionType": "contact.propertyChange", "portalId": PORTAL},  # no id: poll
    ]
    changed = parse_events(json.dumps(events).encode(), PORTAL)
    assert changed.only() == {"company": frozenset({"11"}), "project": frozenset({"12"}), "person": frozenset({"13"})}
    assert changed.poll
    assert parse_events(json.dumps(events[3:4]).encode(), None).only() == {"person": frozenset({"14"})}
    for bad in (b"{not json", b'{"subscriptionType": "contact.creation"}', b"[1]", b'[{"objectId": 1}]'):
        with pytest.raises(MalformedNotification):
            parse_events(bad, PORTAL)


def test_settings_say_what_webhooks_need() -> None:
    with pytest.raises(ValidationError, match="Service Keys cannot receive webhooks"):
        HubSpotSettings(token=TOKEN, webhook_client_secret=SECRET)  # token_kind defaults to service_key
    context = ConnectorContext(pair="main", side="external", app_id="hubspot.com")
    with pytest.raises(ValueError, match="webhook_client_secret"):
        HubSpotConnector.change_notifications(HubSpotSettings(token=TOKEN, token_kind="private_app"), context,
                                              Listener("https://sync.example.com"))
    hooks = _notifications("https://sync.example.com/hooks/")
    assert hooks.target_url() == "https://sync.example.com/hooks/webhooks/external/main"
    assert not hooks.supports_subscribe
