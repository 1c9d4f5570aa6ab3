"""What one run of one pair did: counts, outcome, exit code (codes and outcomes: :mod:`syncd.outcome`)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncd.outcome import EXIT_FATAL, EXIT_OK, EXIT_TEMPFAIL, EXIT_UNFINISHED, INTERRUPTED, Failure

EXIT_RECORD_ERRORS = EXIT_UNFINISHED
__all__ = ["EXIT_FATAL", "EXIT_OK", "EXIT_RECORD_ERRORS", "EXIT_TEMPFAIL", "RunReport"]


@dataclass
class RunReport:
    run_id: str
    pair: str
    mode: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    ok: bool = True
    interrupted: bool = False
    stopped: bool = False
    dry_run: bool = False
    reads: Counter[str] = field(default_factory=Counter)  # "side.entity"
    writes: Counter[str] = field(default_factory=Counter)  # "side.entity.op"
    conflicts: int = 0
    pending_conflicts: int = 0
    record_errors: int = 0
    deletes_held: int = 0
    error: str | None = None
    error_exit: int = EXIT_FATAL
    lease_lost: bool = False  # another process took the pair over; this run stopped writing
    notes: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)

    # Durations come from the monotonic clock: a wall clock stepped mid-run must not change them.
    started_mono: float = field(default_factory=time.monotonic, repr=False)
    finished_mono: float | None = field(default=None, repr=False)

    def finish(self) -> None:
        self.finished_at = datetime.now(UTC)
        self.finished_mono = time.monotonic()

    @property
    def duration_s(self) -> float:
        end = self.finished_mono if self.finished_mono is not None else time.monotonic()
        return end - self.started_mono

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    def fail(self, failure: Failure) -> None:
        """Record how the run ended early; the first failure is the one reported."""
        if not self.ok:
            return
        self.ok, self.error, self.error_exit = False, str(failure.error), failure.exit_code
        self.interrupted = failure.status == INTERRUPTED

    def exit_code(self) -> int:
        if not self.ok:
            return self.error_exit
        if self.record_errors or self.pending_conflicts or self.deletes_held or self.stopped:
            return EXIT_RECORD_ERRORS
        return EXIT_OK

    @property
    def status(self) -> str:
        if self.lease_lost:
            return "lease_lost"
        if not self.ok:
            return INTERRUPTED if self.interrupted else "failed"
        if self.stopped:
            return "stopped"
        if self.exit_code() != EXIT_OK:
            return "errors"
        return "ok"

    def counts(self) -> dict[str, Any]:
        return {
            "reads": dict(self.reads),
            "writes": dict(self.writes),
            "conflicts": self.conflicts,
            "pending_conflicts": self.pending_conflicts,
            "record_errors": self.record_errors,
            "deletes_held": self.deletes_held,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pair": self.pair,
            "mode": self.mode,
            "status": self.status,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code(),
            "error": self.error,
            "notes": self.notes,
            **self.counts(),
        }
