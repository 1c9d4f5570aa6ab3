"""Transient faults on one side during a first reconcile are absorbed by retries: the run converges.

Each case injects one kind of fault into one emulator at a rate (or a burst)
that retries with backoff must absorb: 429 bursts with and without
``Retry-After``, 500/502/503, replies slower than the client's timeout,
connections dropped mid-response, truncated JSON, and slow replies within the
timeout. The faulty run must exit 0 with every record joined exactly once,
and the next run must write nothing. A case also fails if its fault was never
injected (it would prove nothing).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.fault.checks import check_joined, check_no_duplicates, check_nothing_lost
from tests.fault.seeding import populate
from tests.fault.world import World, describe, open_world

TIMEOUT = 0.5  # seconds per request, in both connectors' settings

CLOZE_CASES = [
    pytest.param({"rate_limit_next": 4, "retry_after_s": 0.1}, id="429-burst-with-retry-after"),
    pytest.param({"rate_limit_next": 4, "rate_limit_retry_after": False}, id="429-burst-without-retry-after"),
    pytest.param({"error_rate": 0.12, "error_status": 500, "seed": 1}, id="500"),
    pytest.param({"error_rate": 0.12, "error_status": 502, "seed": 2}, id="502"),
    pytest.param({"error_rate": 0.12, "error_status": 503, "seed": 3}, id="503"),
    pytest.param({"timeout_rate": 0.04, "slow_reply_s": 1.2, "seed": 4}, id="timeouts"),
    pytest.param({"drop_rate": 0.08, "seed": 5}, id="dropped-mid-response"),
    pytest.param({"malformed_rate": 0.08, "seed": 6}, id="malformed-json"),
    pytest.param({"latency_ms": 5, "latency_jitter_ms": 40, "seed": 7}, id="slow-replies"),
]

HUBSPOT_CASES = [
    pytest.param({"script": [{"kind": "rate_limit", "match": "/batch/upsert"}] * 2}, id="429-burst-with-retry-after"),
    pytest.param({"script": [{"kind": "error", "status": 429, "match": "/batch/"}] * 2},
                 id="429-burst-without-retry-after"),
    pytest.param({"error_rate": 0.05, "error_status": 500, "seed": 1}, id="500"),
    pytest.param({"error_rate": 0.05, "error_status": 502, "seed": 2}, id="502"),
    pytest.param({"error_rate": 0.05, "error_status": 503, "seed": 3}, id="503"),
    pytest.param({"slow_rate": 0.05, "slow_seconds": 1.2, "seed": 5}, id="timeouts"),
    pytest.param({"drop_rate": 0.06, "seed": 5}, id="dropped-connections"),
    pytest.param({"malformed_rate": 0.06, "seed": 6}, id="malformed-json"),
    pytest.param({"latency": 0.02}, id="slow-replies"),
]


def _faults_seen(world: World, side: str, settings: dict[str, Any]) -> int:
    if "latency" in settings or "latency_ms" in settings:
        return 1  # slow replies are not errors, so the emulators do not count them as faults
    if side == "cloze":
        return sum(world.cloze.stats_snapshot()["faults"].values())
    return world.hubspot.stats.faults_injected


def _converges_under(tmp_path: Path, side: str, settings: dict[str, Any]) -> None:
    with open_world(tmp_path, cloze={"timeout": TIMEOUT}, external={"timeout": TIMEOUT}) as world:
        pop = populate(world, seed=11, cloze_people=16, hub_people=16, overlap=4, companies=3, deals=3)
        (world.cloze if side == "cloze" else world.hubspot).set_faults(**settings)

        proc = world.syncd("reconcile")
        assert proc.returncode == 0, describe(proc)
        assert "Traceback" not in proc.stderr
        assert _faults_seen(world, side, settings) > 0, "no fault was injected: the case proves nothing"
        check_no_duplicates(world)
        check_nothing_lost(world, pop)
        check_joined(world, pop)
        assert not world.open_errors()

        world.clear_faults()
        before = world.writes()
        report = world.run("full")
        assert report.exit_code() == 0 and report.total_writes == 0, report.as_dict()
        assert world.writes() == before


@pytest.mark.parametrize("settings", CLOZE_CASES)
def test_cloze_faults_are_retried_and_the_run_converges(tmp_path: Path, settings: dict[str, Any]) -> None:
    _converges_under(tmp_path, "cloze", settings)


@pytest.mark.parametrize("settings", HUBSPOT_CASES)
def test_hubspot_faults_are_retried_and_the_run_converges(tmp_path: Path, settings: dict[str, Any]) -> None:
    _converges_under(tmp_path, "hubspot", settings)


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    """Two 429s saying "Retry-After: 1.5" delay the run by about 3 s, though the backoff alone is 0.02 s."""
    with open_world(tmp_path) as world:
        populate(world, seed=3, cloze_people=3, hub_people=0, overlap=0)
        world.cloze.set_faults(rate_limit_next=2, retry_after_s=1.5, paths=["/v1/people/update"])
        started = time.monotonic()
        report = world.run("full")
        elapsed = time.monotonic() - started
        assert report.exit_code() == 0, report.as_dict()
        assert world.cloze.stats_snapshot()["faults"] == {"rate_limit": 2}
        assert elapsed >= 3.0, f"the run did not wait for Retry-After: {elapsed:.2f}s"
