"""HubSpot's error messages as one readable line.

HubSpot embeds a JSON list in validation messages (``Property values were not
valid: [{"isValid":false,"message":"Property \\"x\\" does not exist",...}]``),
sometimes pretty-printed over many lines. A log line, a record error and
``syncd errors list`` need the gist: which property, what is wrong, HubSpot's code.
"""

from __future__ import annotations

import json
import re
from typing import Any

_EMBEDDED = re.compile(r"^(?P<lead>[^\[]*?)\s*:\s*(?P<items>\[.*\])\s*$", re.DOTALL)


def _item(item: dict[str, Any]) -> str:
    text = str(item.get("message") or item.get("localizedErrorMessage") or "invalid value")
    name, code = item.get("name"), item.get("error") or item.get("code")
    if name and str(name) not in text:
        text = f"{name}: {text}"
    return f"{text} ({code})" if code else text


def one_line(message: str) -> str:
    """``message`` on one line, with an embedded list of property problems summarised."""
    found = _EMBEDDED.match(message)
    if found:
        try:
            items = json.loads(found["items"])
        except ValueError:
            items = None
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            message = f"{found['lead']}: " + "; ".join(_item(i) for i in items)
    return " ".join(message.split())
