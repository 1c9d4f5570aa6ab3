"""Access tokens for a Salesforce org: JWT bearer, client credentials, refresh token, or a fixed session.

None of the server flows returns an expiry: a token lives as long as the org's session timeout, and
a ``401 INVALID_SESSION_ID`` is the signal to mint another (:class:`connectors.salesforce.client`).
With Refresh Token Rotation each exchange returns a new refresh token and retires the old one, so
the new one is written (atomically, owner-only) before the new access token is used.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connectors import jsonbody
from connectors.errors import ApiError, AuthError, ConfigError, TransientApiError
from connectors.http import ApiSession, Redactor
from connectors.salesforce.settings import SalesforceSettings

GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_HINTS = {
    "jwt": "check client_id (the consumer key), username, the private key matching the uploaded certificate, "
           "and that the user is pre-authorised for the app (profile or permission set)",
    "client_credentials": "check client_id/client_secret, that the app has a run-as user, and that login_url is "
                          "the org's My Domain URL",
    "refresh_token": "the refresh token was revoked or replayed; authorise the app again and set refresh_token",
    "session": "the fixed session_id is no longer valid",
}


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str
    identity_url: str = ""

    @property
    def org_id(self) -> str:
        """The org id from the identity URL ``.../id/<orgId>/<userId>``."""
        parts = self.identity_url.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 else ""


def _classify_token_reply(response: httpx.Response) -> ApiError | None:
    status = response.status_code
    if status < 300:
        return None
    try:
        body = jsonbody.loads(response.content) if response.content else {}
    except ValueError:
        body = {}
    data: dict[str, Any] = body if isinstance(body, dict) else {}
    code = str(data.get("error") or status)
    text = f"Salesforce token endpoint HTTP {status} {code}: {data.get('error_description') or response.reason_phrase}"
    if status >= 500 or status == 429:
        return TransientApiError(text, status=status, code=code)
    return AuthError(text, status=status, code=code)


def sign_jwt(settings: SalesforceSettings, now: float | None = None) -> str:
    """An RS256 assertion for the JWT bearer flow (needs the ``salesforce`` extra: PyJWT with cryptography)."""
    try:
        import jwt  # PyJWT
    except ImportError:
        raise ConfigError("auth = 'jwt' needs PyJWT with cryptography, which is not installed", side="external",
                          field="auth", hint="pip install 'cloze-syncd[salesforce]'") from None
    assert settings.private_key_file and settings.client_id and settings.username
    try:
        key = Path(settings.private_key_file).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read private_key_file {settings.private_key_file}: {exc.strerror}",
                          side="external", field="private_key_file") from None
    issued = int(now if now is not None else time.time())
    claims = {"iss": settings.client_id, "sub": settings.username,
              "aud": settings.audience or settings.login_url, "exp": issued + 170}
    try:
        return str(jwt.encode(claims, key, algorithm="RS256"))
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError(f"private_key_file {settings.private_key_file} is not a usable RSA private key: "
                          f"{type(exc).__name__}", side="external", field="private_key_file") from None


class RefreshTokenStore:
    """The current refresh token: the rotated one in ``path`` if there is one, else the configured one."""

    def __init__(self, path: Path | None, initial: str) -> None:
        self.path = path
        self.initial = initial

    def current(self) -> str:
        if self.path is not None and self.path.is_file():
            text = self.path.read_text().strip()
            if text:
                return text
        return self.initial

    def save(self, token: str) -> None:
        """Replace the stored token atomically (write a 0600 temp file, then rename over the old one)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".refresh-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(token + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class TokenSource:
    """Mints access tokens with the configured flow."""

    def __init__(self, settings: SalesforceSettings, *, pair: str, redactor: Redactor,
                 refresh_store: RefreshTokenStore | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.pair = pair
        self.redactor = redactor
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        redactor.add(secret)
        initial_refresh = settings.refresh_token.get_secret_value() if settings.refresh_token else ""
        redactor.add(initial_refresh or None)
        self.refresh = refresh_store or RefreshTokenStore(None, initial_refresh)
        redactor.add(self.refresh.current() or None)
        self._session: ApiSession | None = None
        self._transport = transport
        self.minted = 0

    def _http(self) -> ApiSession:
        if self._session is None:
            self._session = ApiSession(
                self.settings.login_url, side="external", pair=self.pair, service="Salesforce login",
                setting="login_url", timeout=self.settings.timeout, verify=self.settings.verify_tls,
                headers={"Accept": "application/json"}, redactor=self.redactor, classifier=_classify_token_reply,
                transport=self._transport)
        return self._session

    def mint(self) -> Token:
        s = self.settings
        if s.auth == "session":
            assert s.session_id and s.instance_url
            token = s.session_id.get_secret_value()
            self.redactor.add(token)
            return Token(token, s.instance_url)
        form: dict[str, str] = {}
        if s.auth == "jwt":
            form = {"grant_type": GRANT_JWT, "assertion": sign_jwt(s)}
        elif s.auth == "client_credentials":
            assert s.client_id and s.client_secret
            form = {"grant_type": "client_credentials", "client_id": s.client_id,
                    "client_secret": s.client_secret.get_secret_value()}
        else:
            assert s.client_id and s.client_secret
            form = {"grant_type": "refresh_token", "client_id": s.client_id,
                    "client_secret": s.client_secret.get_secret_value(), "refresh_token": self.refresh.current()}
        try:
            # A token request changes nothing but the session list, so it is safe to repeat;
            # a refresh token grant is not (rotation retires the old token on first use).
            response = self._http().request("POST", "/services/oauth2/token", data=form,
                                            idempotent=s.auth != "refresh_token")
        except AuthError as exc:
            raise AuthError(exc.message, status=exc.status, code=exc.code, side="external", pair=self.pair,
                            hint=_HINTS[s.auth]) from None
        body = jsonbody.loads(response.content)
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("instance_url"):
            raise ApiError("Salesforce token reply has no access_token or instance_url", side="external",
                           pair=self.pair)
        access = str(body["access_token"])
        self.redactor.add(access)
        rotated = body.get("refresh_token")
        if s.auth == "refresh_token" and rotated:
            self.redactor.add(str(rotated))
            self.refresh.save(str(rotated))  # before the access token is used: the old one is retired now
        self.minted += 1
        return Token(access, s.instance_url or str(body["instance_url"]).rstrip("/"), str(body.get("id") or ""))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
