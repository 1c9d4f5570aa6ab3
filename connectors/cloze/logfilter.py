"""Keeps the Cloze API key out of third-party log lines.

With query-parameter auth the key is part of every URL, and httpx logs each
request URL at INFO ("HTTP Request: GET https://...?api_key=..."). A filter on
httpx's and httpcore's loggers rewrites any record through the process-wide
scrubber (:mod:`connectors.scrub`) before a handler sees it. It is installed once per
process and only ever scrubs: it never drops a record.
"""

from __future__ import annotations

import logging
import threading

from connectors.scrub import register, scrub

_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


class SecretFilter(logging.Filter):
    """Replaces registered secrets (in every encoding) in a record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = scrub(message)
        if clean != message:
            record.msg = clean
            record.args = None
        return True


_filter = SecretFilter()
_installed = False
_lock = threading.Lock()


def protect(secret: str) -> None:
    """Register ``secret`` and make sure the filter sits on the HTTP libraries' loggers."""
    global _installed
    register(secret)
    with _lock:
        if not _installed:
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(_filter)
            _installed = True
