"""TLS verification: on unless a connector's own ``verify_tls = false`` turns it off, which is logged.

Both emulators sit behind a TLS front with a self-signed certificate, as a
man in the middle would. With default settings the run refuses the server and
writes nothing; with verification off for one connector only that connector
accepts it (and a warning names that side); with it off for both the run works.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import LogCapture

from config.loader import load_config
from connectors.transport import SocketTransport
from syncd.engine.runner import build_connectors
from tests.fault.checks import check_joined
from tests.fault.seeding import populate
from tests.fault.world import PAIR, World, describe, open_world, tune_config
from tests.security.tlsproxy import TlsProxy


@contextmanager
def behind_tls(tmp_path: Path, *, cloze: dict[str, Any], external: dict[str, Any]) -> Iterator[World]:
    with open_world(tmp_path) as world, TlsProxy(world.cloze.port) as c, TlsProxy(world.hubspot.port) as h:
        tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": c.url, **cloze},
                                   f"pairs.{PAIR}.external": {"base_url": h.url, **external}})
        yield world


def test_a_self_signed_server_is_refused_by_default(tmp_path: Path) -> None:
    with behind_tls(tmp_path, cloze={"retry_attempts": 1}, external={}) as world:
        populate(world, seed=31, cloze_people=3, hub_people=3, overlap=0)
        proc = world.syncd("reconcile")
        assert proc.returncode == 75, describe(proc)
        assert "CERTIFICATE_VERIFY_FAILED" in proc.stdout + proc.stderr, describe(proc)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert world.writes() == (0, 0)
        assert world.cloze.stats.total_requests == 0  # no request got past the handshake


def _verify_mode(conn: Any) -> ssl.VerifyMode:
    transport = conn.client.session.client._transport  # the connector's httpx client's transport
    assert isinstance(transport, SocketTransport)
    return transport.ssl_context.verify_mode


def test_only_the_connector_whose_own_setting_says_so_skips_verification(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze={"verify_tls": False}) as world:
        loaded = load_config(world.config)
        capture, saved = LogCapture(), structlog.get_config()
        structlog.configure(processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        try:
            conns = build_connectors(loaded, PAIR)
        finally:
            structlog.configure(**saved)
        logs = capture.entries
        try:
            assert _verify_mode(conns["cloze"]) == ssl.CERT_NONE
            assert _verify_mode(conns["external"]) == ssl.CERT_REQUIRED
        finally:
            for conn in conns.values():
                conn.close()
        warned = [e for e in logs if e["event"] == "tls_verification_disabled"]
        assert [(e["log_level"], e["side"]) for e in warned] == [("warning", "cloze")]


def test_turning_verification_off_on_both_sides_works_and_is_logged_for_each(tmp_path: Path) -> None:
    with behind_tls(tmp_path, cloze={"verify_tls": False}, external={"verify_tls": False}) as world:
        pop = populate(world, seed=32, cloze_people=4, hub_people=4, overlap=1)
        tune_config(world.config, {"logging": {"level": "warning", "format": "json"}})
        proc = world.syncd("reconcile")
        assert proc.returncode == 0, describe(proc)
        check_joined(world, pop)
        lines = (proc.stdout + proc.stderr).splitlines()
        warnings = [json.loads(line) for line in lines if line.startswith("{") and "tls_verification_disabled" in line]
        assert {(w["side"], w["level"]) for w in warnings} == {("cloze", "warning"), ("external", "warning")}, \
            describe(proc)


def test_the_warning_leaves_json_output_machine_readable(tmp_path: Path) -> None:
    """``load_config`` builds the connectors (to check the field mapping) before logging is configured;
    their warning must not land on stdout in front of ``--json`` output (it once did)."""
    with behind_tls(tmp_path, cloze={"verify_tls": False}, external={"verify_tls": False}) as world:
        proc = world.syncd("reconcile", "--json")
        assert proc.returncode == 0, describe(proc)
        [report] = json.loads(proc.stdout)
        assert report["status"] == "ok"
