"""The one secret scrubber: every sink (logs, tracebacks, error text, the state database, exports,
``/metrics``) passes text through :func:`scrub` before it leaves the process.

A secret is registered once (:func:`register`: the config loader registers what it
resolves, each HTTP client its own credentials) and is then replaced by ``***`` in
every form it can take on its way out:

- raw, JSON-escaped (``\\/``, ``\\"``) and ``repr``-escaped;
- percent-encoded as a URL path or query would carry it (``quote`` and ``quote_plus``,
  upper- and lower-case hex: ``+`` -> ``%2B``, ``/`` -> ``%2F``, ``=`` -> ``%3D``);
- base64 (standard and URL-safe) of the secret alone and inside any longer value such
  as ``user:secret`` (HTTP Basic): the part of the encoding that depends only on the
  secret's own bytes is matched, for each of the three alignments it can have.

Credentials also have shapes that give them away even when the value was never
registered (a refreshed token, a key from another config): ``Bearer <token>``,
``Basic <blob>`` and query parameters such as ``api_key=...`` are masked too.

This module imports nothing from the project, so every layer can use it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "***"
MIN_LENGTH = 4  # shorter values would scrub ordinary words
_MIN_BASE64_CORE = 8  # a shorter run of base64 matches too much unrelated text

# A credential after its scheme: 8+ token characters, at least one not a letter (so "Basic plan" stays).
_AUTH_SCHEME = re.compile(
    r"\b(Bearer|Basic)(\s+|%20|\+)(?!\*\*\*)(?=[A-Za-z0-9\-._~+/%]*[0-9\-._~+/%])[A-Za-z0-9\-._~+/%]{8,}=*",
    re.IGNORECASE,
)
_SECRET_PARAM = re.compile(
    r"(?<![A-Za-z0-9_])((?:api_?key|access_token|refresh_token|token|password|passwd|secret|client_secret|"
    r"hapikey|rest_key)=)(?!\*\*\*)[^&\s\"'<>#]+",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _base64_cores(secret: bytes) -> set[str]:
    """Substrings every base64 encoding of a value containing ``secret`` must hold (per alignment)."""
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        first = -(-offset // 3)  # the first 3-byte group made of the secret's bytes only
        last = (offset + len(secret)) // 3  # groups after this one may hold bytes that follow it
        core = encoded[first * 4 : last * 4]
        if len(core) >= _MIN_BASE64_CORE:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))
    return out


def variants(secret: str) -> set[str]:
    """Every form of ``secret`` the scrubber replaces."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             secret.replace("/", "\\/"), repr(secret)[1:-1]}
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")):
        forms.add(encoded)
        forms.add(_PERCENT.sub(lambda m: m.group(0).lower(), encoded))
    raw = secret.encode()
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode())
    forms |= _base64_cores(raw)
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Scrubber:
    """Replaces registered secrets (in every form) and credential-shaped values in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register more secrets; values shorter than ``MIN_LENGTH`` are ignored."""
        fresh = {s for s in secrets if s and len(s) >= MIN_LENGTH} - self._secrets
        if not fresh:
            return
        with self._lock:
            self._secrets |= fresh
            forms = set().union(*(variants(s) for s in self._secrets))
            # Longest first, so a form is never left half-replaced by a shorter one inside it.
            self._pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))

    def __contains__(self, secret: str) -> bool:
        return secret in self._secrets

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{REDACTED}", text)

    def value(self, value: Any) -> Any:
        """``value`` with every string inside it (dict keys and values, list items) scrubbed."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value


_process = Scrubber()


def register(*secrets: str | None) -> None:
    """Register secrets with the process-wide scrubber that every sink uses."""
    _process.add(*secrets)


def scrub(text: str) -> str:
    """``text`` with every registered secret, in every form, and every credential-shaped value masked."""
    return _process(text)


def scrub_value(value: Any) -> Any:
    """:func:`scrub` applied to every string inside ``value`` (a dict, list, tuple or string)."""
    return _process.value(value)
