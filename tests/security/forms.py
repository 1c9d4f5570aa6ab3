"""Every form in which a secret could leak, and a search of texts for any of them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

# Keys with the characters that change under percent-encoding, JSON escaping and base64.
TRICKY_CLOZE_KEY = "advClozeKey+k7Q/x9Rz=="
TRICKY_HUBSPOT_TOKEN = "pat-na1-Hs+4f/8e=Tok"
CLOZE_USER = "sandbox@example.com"


def encodings(secret: str, user: str = CLOZE_USER) -> set[str]:
    """Raw, percent-encoded (both ways), JSON-escaped, base64 of the secret and of ``user:secret``."""
    b64 = {base64.b64encode(v.encode()).decode().rstrip("=") for v in (secret, f"{user}:{secret}")}
    b64 |= {base64.urlsafe_b64encode(v.encode()).decode().rstrip("=") for v in (secret, f"{user}:{secret}")}
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1],
            secret.replace("/", "\\/"), *b64}


def forms(secret: str, user: str = CLOZE_USER) -> set[str]:
    """:func:`encodings`, and the secret's first and last two thirds (a partial leak, as a truncated
    message would make)."""
    third = max(6, len(secret) * 2 // 3)
    return encodings(secret, user) | {secret[:third], secret[-third:]}


def leaks(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    found = []
    wanted = {form: secret for secret in secrets for form in forms(secret)}
    for text in texts:
        for form, secret in wanted.items():
            at = text.find(form)
            if at >= 0:
                found.append(f"{form!r} (a form of {secret!r}) in: ...{text[max(0, at - 160): at + len(form) + 20]}...")
    return found
