"""Webhook authentication, size bound, parsing and debounce."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from connectors.cloze.notifications import (
    SubscriptionCache,
    client_reference,
    mask_url,
    pair_token,
    parse_client_reference,
    parse_delivery,
    target_url,
)
from connectors.notifications import MalformedNotification
from syncd.webhooks import Batch, Debouncer, ReceiverConfig, WebhookReceiver
from tests.daemon.cloze_hooks import cloze_sources

SECRET = "s3cret-shared-value"


def delivery(*records: tuple[str, str | None]) -> bytes:
    out = []
    for entity, direct in records:
        rec = {"name": "x", "syncKey": "k"} | ({"direct": direct} if direct else {})
        out.append({entity: rec, "changes": {}, "event": f"{entity}.change"})
    return json.dumps(out).encode()


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[str, Batch]] = []
        self.counts: list[tuple[str, str]] = []

    def enqueue(self, pair: str, batch: Batch) -> None:
        self.batches.append((pair, batch))

    def count(self, pair: str, outcome: str) -> None:
        self.counts.append((pair, outcome))


def receiver(rec: Recorder, *, sub_ok: bool = True, max_body: int = 4096) -> WebhookReceiver:
    return WebhookReceiver(
        ReceiverConfig(cloze_sources(SECRET, ["main", "eu"], known_ids=None if sub_ok else frozenset({"sub-9"})),
                       max_body_bytes=max_body),
        rec.enqueue,
        count=rec.count,
    )


def call(r: WebhookReceiver, pair: str, token: str | None, body: bytes, *, length: int | None = -1,
         sid: str | None = "sub-1") -> tuple[int, bytes, int]:
    stream = io.BytesIO(body)
    query = {"token": token} if token is not None else {}
    headers = {"X-Cloze-Subscription-ID": sid} if sid is not None else {}
    reply = r.handle(f"/webhooks/cloze/{pair}", query, headers, len(body) if length == -1 else length, stream.read)
    return reply.status, reply.body, stream.tell()


def test_tokens_are_per_pair_and_hide_the_secret() -> None:
    assert pair_token(SECRET, "main") != pair_token(SECRET, "eu")
    assert SECRET not in pair_token(SECRET, "main")
    url = target_url("https://sync.example.com/hooks/", "main", SECRET)
    assert url == f"https://sync.example.com/hooks/webhooks/cloze/main?token={pair_token(SECRET, 'main')}"
    assert mask_url(url) == "https://sync.example.com/hooks/webhooks/cloze/main?token=***"
    assert parse_client_reference(client_reference("main", "person.change")) == ("main", "person.change")
    assert parse_client_reference("someone-else") is None


def test_genuine_delivery_is_queued_and_answered_ok() -> None:
    rec = Recorder()
    status, body, _ = call(receiver(rec), "main", pair_token(SECRET, "main"),
                           delivery(("person", "P1"), ("person", "P2"), ("company", "C1")))
    assert (status, body) == (200, b"OK")
    assert len(rec.batches) == 1
    pair, batch = rec.batches[0]
    assert pair == "main" and batch.only() == {"person": frozenset({"P1", "P2"}), "company": frozenset({"C1"})}
    assert rec.counts == [("main", "accepted")]


@pytest.mark.parametrize(
    ("pair", "token"),
    [
        ("main", None),
        ("main", "wrong"),
        ("main", pair_token(SECRET, "eu")),  # another pair's token
        ("main", pair_token("other-secret", "main")),
        ("nope", pair_token(SECRET, "nope")),  # unknown pair, even with a well-formed token
    ],
)
def test_unauthenticated_gets_401_and_nothing_is_queued_or_read(pair: str, token: str | None) -> None:
    rec = Recorder()
    status, _, consumed = call(receiver(rec), pair, token, delivery(("person", "P1")))
    assert status == 401
    assert rec.batches == [] and consumed == 0
    assert rec.counts[0][1] == "unauthorized"
    assert rec.counts[0][0] in ("main", "unknown")  # never an arbitrary label from the URL


def test_unknown_subscription_id_is_refused() -> None:
    rec = Recorder()
    status, _, _ = call(receiver(rec, sub_ok=False), "main", pair_token(SECRET, "main"), delivery(("person", "P1")))
    assert status == 401 and rec.batches == []


def test_oversized_body_gets_413_unread() -> None:
    rec = Recorder()
    big = delivery(*[("person", f"P{i}") for i in range(400)])
    assert len(big) > 4096
    status, _, consumed = call(receiver(rec), "main", pair_token(SECRET, "main"), big)
    assert status == 413 and consumed == 0 and rec.batches == []
    status, _, _ = call(receiver(rec), "main", pair_token(SECRET, "main"), b"[]", length=None)
    assert status == 411


@pytest.mark.parametrize("body", [b"not json", b'"a string"', b"[1, 2]", b'[{"weird": {}}]', b"\xff\xfe"])
def test_malformed_body_gets_400(body: bytes) -> None:
    rec = Recorder()
    status, _, _ = call(receiver(rec), "main", pair_token(SECRET, "main"), body)
    assert status == 400 and rec.batches == []


def test_disabled_receiver_is_404() -> None:
    rec = Recorder()
    r = WebhookReceiver(ReceiverConfig({}, max_body_bytes=4096, enabled=False), rec.enqueue)
    assert call(r, "main", "x", b"[]")[0] == 404


def test_parse_delivery_without_direct_id_asks_for_a_poll() -> None:
    batch = parse_delivery(delivery(("project", None), ("person", "direct:P9")))
    assert batch.poll and batch.only() == {"person": frozenset({"P9"})}
    assert parse_delivery(b'{"company": {"direct": "C2"}, "event": "company.change"}').only() == {
        "company": frozenset({"C2"})
    }
    with pytest.raises(MalformedNotification):
        parse_delivery(b"{}")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_debounce_collapses_a_burst_into_one_batch() -> None:
    clock = FakeClock()
    d = Debouncer(lambda pair, batch: None, delay=2.0, max_delay=20.0, clock=clock)
    for i in range(50):
        d.add("main", Batch(ids={"person": {"P1", f"P{i % 3}"}}))
        clock.t += 0.1
    assert d.due() == []  # still within 2 s of the last event
    clock.t += 2.0
    due = d.due()
    assert len(due) == 1
    pair, batch = due[0]
    assert pair == "main" and batch.only() == {"person": frozenset({"P0", "P1", "P2"})}
    assert d.due() == [] and d.pending() == {}


def test_debounce_max_delay_lets_a_steady_stream_through() -> None:
    clock = FakeClock()
    d = Debouncer(lambda pair, batch: None, delay=2.0, max_delay=5.0, clock=clock)
    fired = []
    for i in range(100):
        d.add("main", Batch(ids={"person": {f"P{i}"}}))
        clock.t += 1.0
        fired.extend(d.due())
    assert 15 <= len(fired) <= 25  # about one batch per max_delay, not zero and not 100
    assert sum(b.size() for _, b in fired) + sum(d.pending().values()) == 100


def test_debounce_thread_fires_once_per_pair() -> None:
    got: list[tuple[str, Batch]] = []
    done = threading.Event()

    def fire(pair: str, batch: Batch) -> None:
        got.append((pair, batch))
        if len(got) == 2:
            done.set()

    d = Debouncer(fire, delay=0.05, max_delay=1.0)
    d.start()
    try:
        for _ in range(20):
            d.add("main", Batch(ids={"person": {"P1"}}))
            d.add("eu", Batch(ids={"company": {"C1"}}))
        assert done.wait(3)
        time.sleep(0.2)
        assert sorted(p for p, _ in got) == ["eu", "main"]
    finally:
        d.close()
    d.add("main", Batch(ids={"person": {"P2"}}))  # closed: dropped, no error
    assert d.pending() == {}


def test_subscription_cache() -> None:
    clock = FakeClock()
    answers = [frozenset({"s1"}), frozenset({"s1", "s2"})]
    fetched: list[str] = []

    def fetch(pair: str) -> frozenset[str]:
        fetched.append(pair)
        return answers[min(len(fetched) - 1, len(answers) - 1)]

    cache = SubscriptionCache(fetch, refresh_every=60, clock=clock)
    assert cache.accepts("main", "anything")  # nothing known yet: the token decides
    cache.refresh("main")
    assert cache.accepts("main", "s1")
    assert not cache.accepts("main", "s9")  # fetched moments ago: refused without asking again
    assert fetched == ["main"]
    clock.t += 61
    assert cache.accepts("main", "s2")  # a miss later re-fetches: a subscription made since is recognised
    assert fetched == ["main", "main"]
    assert not cache.accepts("main", "s3")  # refreshed just now: no re-fetch, refused
    assert not cache.accepts("main", None)

    def broken(pair: str) -> frozenset[str]:
        raise OSError("network down")

    failing = SubscriptionCache(broken)
    failing.refresh("main")  # logged, not raised
    assert failing.accepts("main", "x")
