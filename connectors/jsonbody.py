"""Decoding a side's JSON reply: anything that cannot be decoded is a ``ValueError``.

Python's decoder raises ``RecursionError`` (not ``ValueError``) for a document
nested deeper than the interpreter's recursion limit: a hostile or broken server
sending ``[[[[...]]]]`` 100,000 levels deep would otherwise escape every
connector's "the reply is not JSON" handling and end the run as a crash.
"""

from __future__ import annotations

import json
from typing import Any


class UndecodableReply(ValueError):
    """The body is not JSON cloze-syncd can read."""


def loads(content: bytes | str) -> Any:
    """``json.loads``, with every way of failing raised as :class:`UndecodableReply` (a ``ValueError``)."""
    try:
        return json.loads(content)
    except RecursionError:
        raise UndecodableReply("the reply is nested too deeply to decode") from None
    except ValueError as exc:
        raise UndecodableReply(f"the reply is not valid JSON ({exc.__class__.__name__})") from None
