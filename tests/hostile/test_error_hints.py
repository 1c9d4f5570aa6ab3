"""Errors that say what to do: a wrong URL fails at once, names the side, the setting and the URL.

A host that does not resolve, a port nobody listens on, and a web page where the
API belongs are permanent until the config changes, so no retries are spent on
them (the default backoff would wait about 18 s). The message names the side,
the config key and the URL (scheme, host, path; never the query string with the
key), and ends with a hint in the tone of restic's "Is there a repository at the
following location?". Retries that do happen are visible as one log line each.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.cloze.client import ClozeClient
from connectors.errors import UnreachableError
from syncd.sandbox import HUBSPOT_TOKEN
from syncd.sandbox_files import CLOZE_KEY
from tests.daemon.procs import free_port
from tests.fault.world import PAIR, open_world
from tests.hostile import faults
from tests.hostile.world import hostile_world, last_run, run_syncd

# The connector's shipped backoff, not the tests' fast one: failing fast must not depend on it.
SHIPPED_RETRY = {"retry_attempts": 6, "retry_initial_wait": 0.5, "retry_max_total": 300}
FAST = 3.0  # seconds a permanent failure may take inside the run


def _run_took(world: Any) -> float:
    run = last_run(world)
    return (int(run["finished_at"]) - int(run["started_at"])) / 1000


def test_a_refused_connection_fails_at_once_with_the_setting_to_check(tmp_path: Path) -> None:
    port = free_port()  # bound and released: nothing listens there
    with open_world(tmp_path, cloze={**SHIPPED_RETRY, "base_url": f"http://127.0.0.1:{port}/api"}) as world:
        ran = run_syncd(world, "reconcile", timeout=60)
        took = _run_took(world)
    assert ran.returncode == 75, ran.describe()
    assert took < FAST, ran.describe()
    assert f"connection refused by 127.0.0.1:{port}" in ran.output, ran.describe()
    assert "side=cloze" in ran.output and f"url=http://127.0.0.1:{port}/api/v1/" in ran.output, ran.describe()
    assert f"Is there a Cloze API at http://127.0.0.1:{port}/api?" in ran.output, ran.describe()
    assert f"check pairs.{PAIR}.cloze.base_url" in ran.output, ran.describe()
    assert CLOZE_KEY not in ran.output and "api_key=" not in ran.output, ran.describe()


def test_a_refused_hubspot_connection_names_the_external_setting(tmp_path: Path) -> None:
    port = free_port()
    with open_world(tmp_path, external={"base_url": f"http://127.0.0.1:{port}"}) as world:
        ran = run_syncd(world, "reconcile", timeout=60)
        took = _run_took(world)
    assert ran.returncode == 75, ran.describe()
    assert took < FAST, ran.describe()
    assert "side=external" in ran.output, ran.describe()
    assert f"Is there a HubSpot API at http://127.0.0.1:{port}?" in ran.output, ran.describe()
    assert f"check pairs.{PAIR}.external.base_url" in ran.output, ran.describe()
    assert HUBSPOT_TOKEN not in ran.output, ran.describe()


@pytest.mark.parametrize("status", [200, 404])
def test_a_web_page_instead_of_the_api_fails_at_once_with_a_hint(tmp_path: Path, status: int) -> None:
    with hostile_world(tmp_path, cloze=SHIPPED_RETRY) as (world, proxy):
        proxy.add(r".", faults.Html(status))
        ran = run_syncd(world, "reconcile", timeout=60)
        took = _run_took(world)
    assert ran.returncode == 1, ran.describe()
    assert took < FAST, ran.describe()
    assert f"HTTP {status} with a text/html" in ran.output, ran.describe()
    assert f"Is there a Cloze API at {proxy.url}? Check pairs.{PAIR}.cloze.base_url" in ran.output, ran.describe()
    assert "?api_key" not in ran.output and CLOZE_KEY not in ran.output, ran.describe()


def test_a_host_that_does_not_resolve_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Name resolution would leave loopback, so the resolver's answer for this one name is given here;
    # the client, its session, httpx and the socket layer are the real ones.
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "api.cloze.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    client = ClozeClient("advClozeKey+/secret==", base_url="https://api.cloze.invalid/base", pair="p1",
                         rate_per_second=None)
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        client.profile()
    client.close()
    assert time.monotonic() - started < 1.0
    text = str(caught.value)
    assert "cannot resolve host 'api.cloze.invalid'" in text
    assert "url=https://api.cloze.invalid/base/v1/user/profile" in text
    assert "Is there a Cloze API at https://api.cloze.invalid/base? Check pairs.p1.cloze.base_url" in text
    assert "advClozeKey" not in text and "api_key" not in text
    assert caught.value.exit_code == 75


def test_retries_are_visible_one_line_each_with_the_url(tmp_path: Path) -> None:
    with hostile_world(tmp_path, config={"logging": {"format": "console", "level": "info"}}) as (world, proxy):
        proxy.add(r"/v1/people/feed", faults.Status(503), times=2)
        ran = run_syncd(world, "reconcile", timeout=60)
    assert ran.returncode == 0, ran.describe()
    lines = [line for line in ran.output.splitlines() if "api_retry" in line]
    assert len(lines) == 2, ran.describe()
    for n, line in enumerate(lines, 1):
        assert f"attempt={n}" in line and "side=cloze" in line, line
        assert f"url={proxy.url}/v1/people/feed" in line, line
        assert "api_key" not in line and CLOZE_KEY not in line, line

