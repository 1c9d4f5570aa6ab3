"""How a run ends: the one mapping from whatever was raised to a recorded outcome and an exit code.

=========  =============================================================  ===========================
exit code  meaning                                                        run recorded as
=========  =============================================================  ===========================
0          finished, nothing left to do                                   ``ok``
1          fatal: a bug, the state database unusable (locked, full,       ``failed`` (or not at all,
           damaged), a side's fatal refusal                               when the database refuses)
2          usage (bad command line)                                       nothing
3          finished, but records failed, conflicts wait, deletes were     ``errors`` / ``stopped``;
           held back by the safety cap, or a stop request ended it        ``failed`` for a side that
           early                                                          suddenly sent no records
75         a side unavailable after retries, or the pair busy             ``failed`` / nothing
78         invalid configuration                                          nothing
130        interrupted (SIGINT, Ctrl-C)                                   ``interrupted``
=========  =============================================================  ===========================

:func:`failure_of` turns any exception into a typed :class:`~connectors.errors.SyncdError`
(its text scrubbed of secrets) with the outcome and exit code above, so a crash
is never recorded as success and never reaches the operator as a bare traceback.
Only this module and :mod:`connectors.errors` (each error's ``exit_code``) decide codes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from connectors.errors import StateError, SyncdError

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_UNFINISHED = 3  # finished, but some records failed, conflicts wait, or deletes were held back
EXIT_TEMPFAIL = 75
EXIT_CONFIG = 78
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it

FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Failure:
    """What an exception means for the run it ended."""

    status: str  # the run's recorded outcome: "failed" or "interrupted"
    exit_code: int
    error: SyncdError  # typed, with an operator's message (str() is scrubbed)
    unexpected: bool  # a bug rather than a known fault: worth a traceback in the log (never with locals)


def failure_of(exc: BaseException) -> Failure:
    """The outcome, exit code and typed error for ``exc``, whatever it is."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure(INTERRUPTED, EXIT_INTERRUPTED, SyncdError("interrupted (SIGINT)"), unexpected=False)
    typed = as_syncd_error(exc)
    return Failure(FAILED, typed.exit_code, typed, unexpected=isinstance(typed, _Unexpected))


def as_syncd_error(exc: BaseException) -> SyncdError:
    """``exc`` as a typed error; one of ours is returned as it is."""
    if isinstance(exc, SyncdError):
        return exc
    database = _sqlite_error(exc)
    if database is not None:
        return _state_error(database)
    server = _postgres_error(exc)
    if server is not None:
        first = (str(server).strip().splitlines() or [type(server).__name__])[0]
        return StateError(f"the state database (PostgreSQL) failed: {first}",
                          hint="if the server restarted or the connection dropped, the next run repeats this one")
    if isinstance(exc, RecursionError):
        return SyncdError("data nested too deeply to process", hint="a side sent a reply or record of absurd depth")
    if isinstance(exc, MemoryError):
        return SyncdError("out of memory")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return SyncdError(f"operating system error: {exc.strerror or exc}{where}")
    return _Unexpected(f"unexpected {type(exc).__name__}: {exc}",
                       hint="this is a bug in cloze-syncd; the log holds its traceback")


class _Unexpected(SyncdError):
    """An exception nobody typed: a bug, logged with its traceback (never with local variables)."""


def combined_exit(codes: Iterable[int]) -> int:
    """One exit code for several pairs: an interrupt first, then a hard failure, then 'finished with errors'."""
    codes = list(codes)
    if EXIT_INTERRUPTED in codes:
        return EXIT_INTERRUPTED
    return next((c for c in codes if c not in (EXIT_OK, EXIT_UNFINISHED)), max(codes, default=EXIT_OK))


def _sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    """The SQLite error behind ``exc`` (SQLAlchemy wraps it as ``.orig``), if there is one."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, sqlite3.Error):
            return seen
        orig = getattr(seen, "orig", None)
        if isinstance(orig, sqlite3.Error):
            return orig
        seen = seen.__cause__ or seen.__context__
    return None


def _postgres_error(exc: BaseException) -> BaseException | None:
    """The PostgreSQL driver's error behind ``exc`` (psycopg's carry a ``sqlstate``), if there is one."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        for candidate in (seen, getattr(seen, "orig", None)):
            if isinstance(candidate, BaseException) and type(candidate).__module__.startswith("psycopg") \
                    and hasattr(candidate, "sqlstate"):
                return candidate
        seen = seen.__cause__ or seen.__context__
    return None


def _state_error(error: sqlite3.Error) -> StateError:
    text = str(error.args[0]) if error.args else type(error).__name__
    lowered = text.lower()
    if "full" in lowered:
        hint = "free space on the filesystem that holds it and run again; nothing recorded so far is lost"
    elif "locked" in lowered or "busy" in lowered:
        hint = "another process holds a write lock on it; stop that process or wait for it"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "the service needs write access to the file and its directory"
    elif "malformed" in lowered or "not a database" in lowered:
        hint = "run `syncd state check`; restore a backup or `syncd state rebuild` into a new file"
    else:
        hint = None
    return StateError(f"the state database failed: {text}", hint=hint)
