"""What every sandbox story shares: the local Cloze emulator's made-up key and owner-only files.

Used by the HubSpot story (:mod:`syncd.sandbox`) and the Salesforce one
(:mod:`syncd.sandbox_salesforce`), neither of which imports the other for it.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOZE_KEY = "sandbox-cloze-api-key"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (it may hold an emulator's key)."""
    path.write_text(text)
    os.chmod(path, 0o600)
