"""The exception tree of cloze-syncd, split by what the operator or the daemon must do.

::

    SyncdError                       root; never carries a secret
    ├── ConfigError                  bad config file; exit 78, systemd does not restart
    ├── StateError                   state database missing, corrupt, locked or too new
    │   ├── LeaseHeldError           another process is syncing this pair; exit 75
    │   ├── LeaseLostError           this run's lease was taken over; it stopped writing; exit 75
    │   ├── StateLockedError         another process kept the database locked too long; exit 75
    │   ├── StateUnreachableError    the PostgreSQL server is down or cannot be reached; exit 75
    │   └── AccountMismatchError     the database belongs to other accounts; exit 78
    ├── ApiError                     a side's API refused or failed
    │   ├── TransientApiError        429, 5xx, timeout, dropped connection: retried with backoff
    │   │   ├── RequestDeadlineExceeded  one request (its reply included) outlasted limits.request_deadline
    │   │   └── UnreachableError     no such host, or nothing listening there: not retried, exit 75
    │   ├── NotAnApiError            the reply is a web page (HTML) or not JSON: wrong base URL
    │   ├── ReplyTooLarge            the reply is larger than limits.max_reply_mb
    │   ├── FeedLoopError            a change feed repeats a cursor or a page
    │   ├── AuthError                401/403: stop this pair, fix credentials
    │   └── RecordRejected           4xx / business error about one record: record it, go on
    ├── LimitExceeded                the run reached one of the pair's limits
    │   ├── RunDeadlineExceeded      limits.run_deadline ran out: stopped, exit 75
    │   └── TooManyRecords           more records than limits.max_records in one run
    └── SafetyStop                   the run would delete too much; nothing was deleted

Every error carries the context an operator needs (pair, side, entity, record
id, field, the side's own code and message) as attributes and in ``str()``;
``str()`` passes :mod:`connectors.scrub`, so an error's text never shows a secret,
whatever a side echoed into its message.
"""

from __future__ import annotations

from typing import Any

from connectors.scrub import scrub


class SyncdError(Exception):
    """Root of every error cloze-syncd raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        pair: str | None = None,
        side: str | None = None,
        entity: str | None = None,
        record_id: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pair = pair
        self.side = side
        self.entity = entity
        self.record_id = record_id
        self.field = field
        self.hint = hint

    def context(self) -> dict[str, Any]:
        """The error's context as log fields (no secrets are ever stored on an error)."""
        ctx = {
            "pair": self.pair,
            "side": self.side,
            "entity": self.entity,
            "record_id": self.record_id,
            "field": self.field,
        }
        return {k: v for k, v in ctx.items() if v is not None}

    def __str__(self) -> str:
        where = " ".join(f"{k}={v}" for k, v in self.context().items())
        text = f"{self.message} ({where})" if where else self.message
        return scrub(f"{text}; {self.hint}" if self.hint else text)


class ConfigError(SyncdError):
    """The configuration is invalid. ``problems`` lists every ``key.path: message``."""

    exit_code = 78  # EX_CONFIG; the systemd unit has RestartPreventExitStatus=78

    def __init__(self, message: str, problems: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return super().__str__()
        return scrub(self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems))


class StateError(SyncdError):
    """The state database cannot be used as it is."""


class LeaseHeldError(StateError):
    """Another process holds this pair's lease (the daemon, or another reconcile)."""

    exit_code = 75


class LeaseLostError(StateError):
    """This run's lease was taken over (or not renewed in time); the run stopped writing at once."""

    exit_code = 75


class StateLockedError(StateError):
    """Another process held the state database locked for longer than ``[state] lock_timeout``."""

    exit_code = 75


class StateUnreachableError(StateError):
    """The state database's server (PostgreSQL) cannot be reached, or went away mid-run: a temporary
    failure. Nothing half-written stays behind (each batch is one transaction); the next run resumes."""

    exit_code = 75


class AccountMismatchError(StateError):
    """The state database was made for other accounts than the pair's connectors reach now."""

    exit_code = 78  # a configuration problem: systemd must not restart into it


class ApiError(SyncdError):
    """A side's API failed. ``status`` is the HTTP status, ``code`` the side's own error code.

    ``url`` is the request's scheme, host and path: never its query string, which
    may carry an API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        correlation_id: str | None = None,
        url: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.status = status
        self.code = code
        self.correlation_id = correlation_id
        self.url = url

    def context(self) -> dict[str, Any]:
        ctx = super().context()
        if self.url:
            ctx["url"] = self.url
        if self.status is not None:
            ctx["status"] = self.status
        if self.code is not None:
            ctx["code"] = self.code
        if self.correlation_id:
            ctx["correlation_id"] = self.correlation_id
        return ctx


class TransientApiError(ApiError):
    """Worth retrying later: rate limited, server error, timeout, connection dropped."""

    exit_code = 75  # EX_TEMPFAIL

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RequestDeadlineExceeded(TransientApiError):
    """One request, its whole reply included, took longer than ``limits.request_deadline``."""


class UnreachableError(TransientApiError):
    """The host does not resolve, or nothing accepts connections there.

    Retrying within the run cannot help (a typo in ``base_url`` stays a typo), so
    the request fails at once; the run ends with exit 75 and the daemon tries again
    at the next run, which covers a network that was down for a while.
    """


class NotAnApiError(ApiError):
    """The side answered with something that is not its API: a web page, or not JSON at all."""


class ReplyTooLarge(ApiError):
    """The reply was larger than ``limits.max_reply_mb``; reading stopped there."""


class FeedLoopError(ApiError):
    """A change feed handed out a cursor or a page it had already handed out in this run."""


class ChangeHistoryLost(ApiError):
    """A side can no longer list every change since the cursor (its deletion log was purged, say):
    the engine reads that entity in full instead, which finds what is gone."""


class AuthError(ApiError):
    """Credentials were refused. Nothing more can be done for this pair until they are fixed."""


class RecordRejected(ApiError):
    """The side refused one record (bad value, validation, not found); the run goes on."""


class LimitExceeded(SyncdError):
    """The run reached one of the pair's limits (``pairs.NAME.limits``) and stopped."""


class RunDeadlineExceeded(LimitExceeded):
    """The run took longer than ``limits.run_deadline``. Nothing past the last applied batch is lost."""

    exit_code = 75

    def __init__(self, message: str, *, url: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.url = url

    def context(self) -> dict[str, Any]:
        ctx = super().context()
        if self.url:
            ctx["url"] = self.url
        return ctx


class TooManyRecords(LimitExceeded):
    """One side sent more records for one entity than ``limits.max_records`` in one run."""


class SafetyStop(SyncdError):
    """The run would delete more linked records than the pair's cap allows."""

    exit_code = 3
