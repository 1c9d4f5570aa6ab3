"""Access tokens and the OAuth 2.0 token endpoint (JWT bearer, client credentials, refresh token).

A JWT assertion is verified (RS256) with the configured public key through PyJWT, which ships in
the ``test`` extra. Without PyJWT the emulator refuses JWT grants and says why, rather than
accepting an unverified assertion.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from connectors.salesforce.emulator.clock import Clock
from connectors.salesforce.emulator.errors import oauth_error
from connectors.salesforce.emulator.settings import EmulatorSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class Session:
    token: str
    issued_at: float
    expires: bool


class Sessions:
    """Valid access tokens; fixed ones never expire, minted ones after the session timeout."""

    def __init__(self, clock: Clock, fixed: set[str]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sessions = {t: Session(t, clock.now(), False) for t in fixed}

    def mint(self, org_id: str) -> Session:
        token = f"{org_id[:15]}!{secrets.token_urlsafe(48)}"
        session = Session(token, self._clock.now(), True)
        with self._lock:
            self._sessions[token] = session
        return session

    def valid(self, token: str | None, timeout_seconds: int) -> bool:
        if not token:
            return False
        with self._lock:
            session = self._sessions.get(token)
        if session is None:
            return False
        return not session.expires or self._clock.now() - session.issued_at < timeout_seconds

    def revoke(self, token: str | None = None) -> int:
        """Forget one token, or every minted one; returns how many went."""
        with self._lock:
            doomed = [t for t, s in self._sessions.items() if (token is None and s.expires) or t == token]
            for t in doomed:
                del self._sessions[t]
            return len(doomed)


class RefreshTokens:
    """Refresh tokens, as an interactive OAuth flow would have issued them, grouped in rotation chains.

    With rotation each use returns a new token and retires the old one; using a retired token
    revokes its whole chain (Salesforce's Refresh Token Rotation).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, int] = {}  # live token -> chain
        self._retired: dict[str, int] = {}
        self._chains = 0

    def issue(self) -> str:
        with self._lock:
            self._chains += 1
            token = f"5Aep861{secrets.token_urlsafe(40)}"
            self._current[token] = self._chains
            return token

    def use(self, token: str, *, rotate: bool) -> str | None:
        """The token to hand back (a new one when rotating, else ``None``); SalesforceError if it is not valid."""
        with self._lock:
            chain = self._current.get(token)
            if chain is None:
                reused = self._retired.get(token)
                if reused is not None:  # a replayed token: the whole chain goes
                    for live, live_chain in list(self._current.items()):
                        if live_chain == reused:
                            del self._current[live]
                raise oauth_error("invalid_grant", "expired access/refresh token")
            if not rotate:
                return None
            del self._current[token]
            self._retired[token] = chain
            fresh = f"5Aep861{secrets.token_urlsafe(40)}"
            self._current[fresh] = chain
            return fresh


def token_reply(settings: EmulatorSettings, session: Session, instance_url: str) -> dict[str, Any]:
    issued = str(int(session.issued_at * 1000))
    identity = f"{instance_url}/id/{settings.org_id}/{settings.user_id}"
    signature = base64.b64encode(hmac.new(settings.consumer_secret.encode(), (identity + issued).encode(),
                                          hashlib.sha256).digest()).decode()
    return {"access_token": session.token, "instance_url": instance_url, "id": identity, "token_type": "Bearer",
            "issued_at": issued, "signature": signature, "scope": "api"}


def grant(settings: EmulatorSettings, sessions: Sessions, refresh: RefreshTokens, raw_body: bytes,
          headers: Mapping[str, str], instance_url: str) -> dict[str, Any]:
    """Answer ``POST /services/oauth2/token``; SalesforceError with ``{error, error_description}`` otherwise."""
    form = {k: v[-1] for k, v in parse_qs(raw_body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    grant_type = form.get("grant_type", "")
    if grant_type == "refresh_token":
        _check_client(settings, *_client(form, headers))
        rotated = refresh.use(form.get("refresh_token", ""), rotate=settings.refresh_token_rotation)
        reply = token_reply(settings, sessions.mint(settings.org_id), instance_url)
        if rotated is not None:
            reply["refresh_token"] = rotated
        return reply
    if grant_type == JWT_GRANT:
        _check_jwt(settings, form.get("assertion", ""), instance_url)
    elif grant_type == "client_credentials":
        _check_client(settings, *_client(form, headers))
    else:
        raise oauth_error("unsupported_grant_type", "grant type not supported")
    return token_reply(settings, sessions.mint(settings.org_id), instance_url)


def _check_client(settings: EmulatorSettings, client_id: str, secret: str) -> None:
    if client_id != settings.consumer_key:
        raise oauth_error("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(secret, settings.consumer_secret):
        raise oauth_error("invalid_client", "invalid client credentials")


def _client(form: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, str]:
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
        except ValueError:
            raise oauth_error("invalid_client", "invalid client credentials") from None
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _check_jwt(settings: EmulatorSettings, assertion: str, instance_url: str) -> None:
    try:
        import jwt
    except ImportError:
        raise oauth_error("invalid_grant", "this emulator verifies JWT assertions with PyJWT, which is not "
                          "installed (pip install 'cloze-syncd[test]')") from None
    if settings.jwt_public_key is None:
        raise oauth_error("invalid_grant", "no certificate is uploaded for this app (emulator setting jwt_public_key)")
    try:
        claims = jwt.decode(assertion, settings.jwt_public_key, algorithms=["RS256"],
                            options={"verify_aud": False, "require": ["iss", "sub", "aud", "exp"]})
    except jwt.ExpiredSignatureError:
        raise oauth_error("invalid_grant", "expired access/refresh token") from None
    except jwt.InvalidSignatureError:
        raise oauth_error("invalid_grant", "invalid assertion") from None
    except jwt.PyJWTError as exc:
        raise oauth_error("invalid_grant", f"invalid assertion: {exc}") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not any(a in (*AUDIENCES, instance_url) for a in audiences):
        raise oauth_error("invalid_grant", "audience is invalid")
    if claims.get("iss") != settings.consumer_key:
        raise oauth_error("invalid_client_id", "client identifier invalid")
    if claims.get("sub") != settings.username:
        raise oauth_error("invalid_grant", "user hasn't approved this consumer")


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


__all__ = ["AUDIENCES", "JWT_GRANT", "RefreshTokens", "Sessions", "bearer", "grant", "token_reply"]
