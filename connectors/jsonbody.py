"""Decoding a side's JSON reply: anything that cannot be decoded is a ``ValueError``.

Python's decoder raises ``RecursionError`` (not ``ValueError``) for a document
nested deeper than the interpreter's recursion limit: a hostile or broken server
sending ``[[[[...]]]]`` 100,000 levels deep would otherwise escape every
connector's "the reply is not JSON" handling and end the run as a crash.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors import jsoncodec


class UndecodableReply(ValueError):
    """The body is not JSON cloze-syncd can read."""


def loads(content: bytes | str) -> Any:
    """``json.loads``, with every way of failing raised as :class:`UndecodableReply` (a ``ValueError``)."""
    try:
        return jsoncodec.loads(content)
    except RecursionError:
        raise UndecodableReply("the reply is nested too deeply to decode") from None
    except ValueError as exc:
        raise UndecodableReply(f"the reply is not valid JSON ({exc.__class__.__name__})") from None


class _Decoded:
    """A reply's decoded body, or why it could not be decoded."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: UndecodableReply | None) -> None:
        self.value = value
        self.error = error


_DECODED = "_syncd_decoded_json"


def reply_json(response: httpx.Response) -> Any:
    """:func:`loads` of a reply's body, decoded once however often it is asked for (a connector's
    classifier reads the body to tell success from error, then the connector reads its data)."""
    decoded: _Decoded | None = response.__dict__.get(_DECODED)
    if decoded is None:
        try:
            decoded = _Decoded(loads(response.content), None)
        except UndecodableReply as exc:
            decoded = _Decoded(None, exc)
        response.__dict__[_DECODED] = decoded
    if decoded.error is not None:
        raise UndecodableReply(str(decoded.error))
    return decoded.value
