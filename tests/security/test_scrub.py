"""The one scrubber: every encoding of a registered secret, and credentials in the shapes they travel in
(``Bearer ...``, ``api_key=...``) even when the value was never registered."""

from __future__ import annotations

import base64

from connectors.scrub import Scrubber
from tests.security.forms import TRICKY_CLOZE_KEY, encodings, leaks


def test_the_scrubber_knows_every_encoding_of_a_secret() -> None:
    scrub = Scrubber([TRICKY_CLOZE_KEY])
    for form in encodings(TRICKY_CLOZE_KEY):
        text = f"GET /v1/people?x=1&a={form}&user=u said no"
        assert leaks([scrub(text)], [TRICKY_CLOZE_KEY]) == [], form
        assert scrub(text).startswith("GET /v1/people?x=1&a=")
    # base64 of "anyone:secret", wherever the secret falls in the 3-byte groups
    for prefix in ("u:", "ab:", "abc:", "sandbox@example.com:"):
        blob = base64.b64encode((prefix + TRICKY_CLOZE_KEY).encode()).decode()
        assert leaks([scrub(f"Authorization: Basic {blob}")], [TRICKY_CLOZE_KEY]) == []
    assert scrub("nothing secret here") == "nothing secret here"


def test_bearer_and_key_parameters_are_scrubbed_even_for_a_value_never_registered() -> None:
    scrub = Scrubber()
    assert "abc123secretvalue" not in scrub("Authorization: Bearer abc123secretvalue")
    assert "abc123secretvalue" not in scrub('{"correlationId": "Bearer abc123secretvalue"}')
    assert "abc123secretvalue" not in scrub("GET /v1/people/find?api_key=abc123secretvalue&user=x")
    assert scrub("GET /v1/people/find?pagesize=10&user=x") == "GET /v1/people/find?pagesize=10&user=x"


def test_metrics_labels_pass_the_scrubber() -> None:
    from wsgiref.util import setup_testing_defaults

    from prometheus_client import CollectorRegistry, Counter

    from connectors.scrub import register
    from syncd.web import make_app

    register(TRICKY_CLOZE_KEY)
    registry = CollectorRegistry()
    Counter("syncd_test_events", "a label carrying a secret", ["pair"], registry=registry) \
        .labels(pair=f"p-{TRICKY_CLOZE_KEY}").inc()
    app = make_app(registry=registry, health=lambda: None, webhooks=lambda: None)  # type: ignore[arg-type, return-value]
    environ: dict[str, object] = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    body = b"".join(app(environ, lambda status, headers, exc_info=None: lambda data: None))
    text = body.decode()
    assert 'syncd_test_events_total{pair="p-***"} 1.0' in text
    assert leaks([text], [TRICKY_CLOZE_KEY]) == []
