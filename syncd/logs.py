"""structlog set-up: readable lines on a terminal, JSON lines otherwise (journald keeps them).

Every event passes a redaction step that replaces known secret values, so a
token that slips into a message or a field is never written out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from connectors.http import Redactor

_redactor = Redactor()

# syslog priorities for journald's line prefix (only used when stdout is the journal)
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2, "exception": 3}


def add_secrets(secrets: Iterable[str]) -> None:
    """Register more secret values to scrub from every log event."""
    for secret in secrets:
        _redactor.add(secret)


def redact(text: str) -> str:
    """Scrub registered secrets from ``text``."""
    return _redactor(text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _redactor(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


def _redact_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = _scrub(value)
    return event


class _JournalPrefix:
    """Prefix JSON lines with ``<N>`` so ``journalctl -p warning`` works (only under systemd)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        level = str(event.get("level", method))
        rendered = self.inner(logger, method, event)
        return f"<{_PRIORITY.get(level, 6)}>{rendered}"


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of each write.

    A rich progress display swaps ``sys.stderr`` for a proxy that prints above the bars;
    writing through this keeps log lines on lines of their own instead of glued to a bar.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def _json_line(obj: Any, **kwargs: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, **kwargs)


def configure_logging(
    level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), *, to_stderr: bool = False
) -> None:
    """Configure structlog (and the stdlib root logger).

    The daemon logs to stdout (journald keeps it); one-shot commands pass
    ``to_stderr=True`` so their results on stdout (tables, ``--json``) stay clean.
    """
    add_secrets(secrets)
    numeric = getattr(logging, level.upper(), logging.INFO)
    stream: Any
    if to_stderr:
        stream = _CurrentStderr()
    else:
        stream = sys.stderr if fmt != "json" and sys.stderr.isatty() else sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    renderer: Any
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        shared.append(structlog.processors.dict_tracebacks)
        # Names as written ("Tomás", not "Tom\u00e1s"): journald and log shippers read UTF-8.
        renderer = structlog.processors.JSONRenderer(serializer=_json_line, sort_keys=False)
        if os.environ.get("JOURNAL_STREAM"):
            renderer = _JournalPrefix(renderer)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream, format="%(name)s: %(message)s")
