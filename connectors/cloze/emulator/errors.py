"""The business error every emulator layer raises: HTTP 200 with a non-zero ``errorcode`` (spec §3)."""

from __future__ import annotations


class Rejected(Exception):
    """A business error: the reply is HTTP 200 with this errorcode and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
