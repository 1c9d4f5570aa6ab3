"""Fixtures: a fresh Salesforce emulator per test (real HTTP on 127.0.0.1, port 0), an httpx client on its
data API, and simple-salesforce in direct-session mode over HTTPS (it forces https)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.salesforce.emulator import SalesforceEmulator

SESSION = "00D5g0000000001!test-session-token"
VERSION = "66.0"
CERTS = Path(__file__).resolve().parents[1] / "security" / "data"
CERT, KEY = CERTS / "test-only-cert.pem", CERTS / "test-only-key.pem"
# One TLS context for every client: loading the CA bundle per client costs more than most tests.
_TLS = ssl.create_default_context()


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(SESSION) as sf:
        yield sf


@pytest.fixture
def api(emulator: SalesforceEmulator) -> Iterator[httpx.Client]:
    """An httpx client whose base URL is ``/services/data/v66.0``."""
    with httpx.Client(base_url=f"{emulator.url}/services/data/v{VERSION}",
                      headers={"Authorization": f"Bearer {SESSION}"}, timeout=10, verify=_TLS) as client:
        yield client


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain client (one connection pool for the test: building a TLS context per call is slow)."""
    with httpx.Client(timeout=10, verify=_TLS) as client:
        yield client


@pytest.fixture
def tls_emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(SESSION, tls_cert=CERT, tls_key=KEY, query_batch_size=200) as sf:
        yield sf


@pytest.fixture
def simple(tls_emulator: SalesforceEmulator) -> Iterator[Any]:
    requests = pytest.importorskip("requests")
    simple_salesforce = pytest.importorskip("simple_salesforce")
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override session.verify
    session.verify = str(CERT)
    yield simple_salesforce.Salesforce(instance_url=tls_emulator.url, session_id=SESSION, session=session,
                                       version=VERSION)
    session.close()
