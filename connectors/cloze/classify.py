"""Turns a Cloze HTTP response into success or the typed error it means.

Cloze answers business errors with HTTP 200 and a non-zero ``errorcode``
(spec §3); those are about the request itself, so retrying cannot help and they
become :class:`RecordRejected`. Only what a later attempt could change (429,
5xx, 408, a body that is not JSON) is :class:`TransientApiError`.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors import jsonbody
from connectors.errors import ApiError, AuthError, RecordRejected, TransientApiError
from connectors.http import Classifier, parse_retry_after

# Endpoints documented to answer without the errorcode envelope (spec §3).
_UNWRAPPED_PREFIXES = ("/v1/messages/opens", "/v1/analytics/", "/v1/user/views")


def body_of(response: httpx.Response) -> Any:
    """The decoded JSON body, or ``None`` when it is not JSON (or nested too deeply to decode)."""
    try:
        return jsonbody.reply_json(response)
    except ValueError:
        return None


def _undecodable(response: httpx.Response) -> str:
    try:
        jsonbody.reply_json(response)
    except ValueError as exc:
        return str(exc)
    return "the reply is not valid JSON"


def message_of(body: Any, default: str) -> str:
    if isinstance(body, dict):
        msg = body.get("message")
        if isinstance(msg, str) and msg:
            return msg
    return default


def make_classifier(auth_errorcodes: tuple[int, ...] = (1,)) -> Classifier:
    """A classifier for :class:`connectors.http.ApiSession` that knows Cloze's envelope."""

    def classify(response: httpx.Response) -> ApiError | None:
        status = response.status_code
        body = body_of(response)
        if status in (401, 403):
            return AuthError(
                f"Cloze refused the credentials: {message_of(body, f'HTTP {status}')}",
                status=status,
                code=_errorcode(body),
                hint="check api_key (and user) in the pair's cloze settings",
            )
        if status == 429 or status == 408 or status >= 500:
            return TransientApiError(
                f"Cloze HTTP {status}: {message_of(body, 'temporarily unavailable')}",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 400:
            return RecordRejected(
                f"Cloze HTTP {status}: {message_of(body, 'request refused')}",
                status=status,
                code=_errorcode(body),
            )
        if body is None:
            # A 200 whose body is cut off or garbled: the reply was damaged in transit.
            return TransientApiError(f"Cloze HTTP {status}: malformed JSON body: {_undecodable(response)}",
                                     status=status)
        if not isinstance(body, dict):
            if isinstance(body, list) and response.url.path.startswith(_UNWRAPPED_PREFIXES):
                return None
            return TransientApiError(f"Cloze HTTP {status}: unexpected JSON body", status=status)
        code = _errorcode(body)
        if code is None:
            if response.url.path.startswith(_UNWRAPPED_PREFIXES):
                return None
            return TransientApiError(f"Cloze HTTP {status}: reply without errorcode", status=status)
        if code == 0:
            return None
        message = message_of(body, f"errorcode {code}")
        if code in auth_errorcodes:
            return AuthError(f"Cloze refused the credentials: {message}", status=status, code=code)
        return RecordRejected(message, status=status, code=code)

    return classify


def _errorcode(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    code = body.get("errorcode")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        return int(code)
    return None
