"""structlog set-up: readable lines on a terminal, JSON lines otherwise (journald keeps them).

Two rules hold in every format:

- a traceback never shows local variables (they hold the loaded config, request
  parameters, tokens): the JSON and console exception renderers, Rich's included,
  are built with ``show_locals=False``;
- everything written passes :mod:`connectors.scrub`: each event's fields, and then the
  rendered line itself, so a secret inside a rendered traceback or exception
  message is masked too. Records of the standard library's loggers and uncaught
  exceptions (``sys.excepthook``, ``threading.excepthook``) go through it as well.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterable, MutableMapping
from types import TracebackType
from typing import Any

import structlog

from connectors.scrub import register, scrub, scrub_value

# syslog priorities for journald's line prefix (only used when stdout is the journal)
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2, "exception": 3}


def _scrub_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = scrub_value(value)
    return event


class _Scrubbed:
    """Wraps the final renderer: the rendered line (a traceback included) is scrubbed once more."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        return scrub(str(self.inner(logger, method, event)))


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


class _ScrubbingFormatter(logging.Formatter):
    """For the standard library's loggers: the formatted record, traceback included, is scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, exc, tb))))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    name = args.thread.name if args.thread is not None else "?"
    sys.stderr.write(scrub(f"Exception in thread {name}:\n{text}"))


def _console_exceptions() -> Any:
    try:
        import rich  # noqa: F401 - only to know whether Rich tracebacks are available
    except ImportError:
        return structlog.dev.plain_traceback
    # Without colour: highlighting would put escape codes inside a secret's text and hide it from the scrubber.
    return structlog.dev.RichTracebackFormatter(show_locals=False, color_system=None)


def configure_logging(
    level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), *, to_stderr: bool = False
) -> None:
    """Configure structlog (and the stdlib root logger).

    The daemon logs to stdout (journald keeps it); one-shot commands pass
    ``to_stderr=True`` so their results on stdout (tables, ``--json``) stay clean.
    """
    register(*secrets)
    numeric = getattr(logging, level.upper(), logging.INFO)
    stream: Any
    if to_stderr:
        stream = _CurrentStderr()
    else:
        stream = sys.stderr if fmt != "json" and sys.stderr.isatty() else sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if use_console:
        processors.append(_scrub_event)
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty(), exception_formatter=_console_exceptions())
    else:
        processors.append(structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)))
        processors.append(_scrub_event)
        # Names as written ("Tomás", not "Tom\u00e1s"): journald and log shippers read UTF-8.
        renderer = structlog.processors.JSONRenderer(serializer=_json_line, sort_keys=False)
    renderer = _Scrubbed(renderer)
    if not use_console and os.environ.get("JOURNAL_STREAM"):
        renderer = _JournalPrefix(renderer)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream, format="%(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, _ScrubbingFormatter):
            handler.setFormatter(_ScrubbingFormatter("%(name)s: %(message)s"))
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
