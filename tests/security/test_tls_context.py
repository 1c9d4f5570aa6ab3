"""Opening API sessions loads the CA bundle once per process, not once per session (tens of ms of CPU
each: a daemon with many pairs, and every short ``syncd`` command, open several)."""

from __future__ import annotations

import ssl

import pytest

from connectors.http import ApiSession


def test_sessions_share_one_verifying_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args or kwargs)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    sessions = [ApiSession(f"https://api{i}.example", side="external") for i in range(4)]
    try:
        assert len(loads) <= 1
        contexts = {id(s.tls_context) for s in sessions}
        assert len(contexts) == 1
        context = sessions[0].tls_context
        assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
    finally:
        for session in sessions:
            session.close()


def test_a_session_without_verification_does_not_verify() -> None:
    session = ApiSession("https://self-signed.example", side="external", verify=False)
    try:
        context = session.tls_context
        assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_NONE
    finally:
        session.close()
