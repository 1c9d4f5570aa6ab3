"""How far a run has got: per phase (read, plan, write) and entity, with counts, rate and ETA.

The engine reports through :class:`Progress`: ``start(phase, total)`` when a phase
begins (``total`` None when unknown, as while a side is listed), ``advance(n)`` as
records go by, ``finish()`` at its end. Three renderings:

- :class:`NullProgress`: nothing (tests, the engine's default seam).
- :class:`LogProgress`: a ``progress`` log event at most every ``interval`` seconds
  and at each phase's end, for JSON logs off a terminal and the daemon's journal.
- :class:`TerminalProgress`: a rich progress bar per phase on the terminal's
  console (stderr), with rate and ETA; log lines pass through the same console.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import structlog

if TYPE_CHECKING:
    from rich.console import Console

log = structlog.get_logger("syncd.progress")


class Progress(Protocol):
    def start(self, phase: str, total: int | None = None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, phase: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class _Phase:
    def __init__(self, name: str, total: int | None, now: float) -> None:
        self.name, self.total, self.done, self.started = name, total, 0, now

    def figures(self, now: float) -> dict[str, Any]:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if self.total is not None and rate > 0 else None
        return {"phase": self.name, "done": self.done, "total": self.total, "elapsed_s": round(elapsed, 1),
                "rate_per_s": round(rate, 1), "eta_s": round(eta, 1) if eta is not None else None}


class LogProgress:
    """A ``progress`` event per phase at most every ``interval`` seconds, and one when such a phase ends.

    Phases shorter than ``interval`` log nothing, so the many short runs of a daemon stay quiet.
    """

    def __init__(self, pair: str, interval: float = 10.0, clock: Any = time.monotonic) -> None:
        self.pair, self.interval, self.clock = pair, interval, clock
        self.phase: _Phase | None = None
        self.last = 0.0
        self.reported = False

    def start(self, phase: str, total: int | None = None) -> None:
        self.finish()
        self.phase = _Phase(phase, total, self.clock())
        self.last, self.reported = self.phase.started, False

    def advance(self, n: int = 1) -> None:
        if self.phase is None:
            return
        self.phase.done += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last, self.reported = now, True
            log.info("progress", pair=self.pair, **self.phase.figures(now))

    def finish(self) -> None:
        if self.phase is not None and self.reported:
            log.info("progress", pair=self.pair, finished=True, **self.phase.figures(self.clock()))
        self.phase = None


class TerminalProgress:
    """rich progress bars on ``console`` (a terminal), one line per phase, kept as a record of the run."""

    def __init__(self, console: Console, pair: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.pair = pair
        self.bars = RichProgress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, redirect_stderr=True, redirect_stdout=False,
        )
        self.task: Any = None
        self.bars.start()

    def start(self, phase: str, total: int | None = None) -> None:
        self._close_task()
        self.task = self.bars.add_task(f"{self.pair}: {phase}", total=total, rate="")

    def advance(self, n: int = 1) -> None:
        if self.task is None:
            return
        self.bars.advance(self.task, n)
        speed = self.bars.tasks[-1].speed
        self.bars.update(self.task, rate=f"{speed:,.0f}/s" if speed else "")

    def _close_task(self) -> None:
        if self.task is not None:
            task = self.bars.tasks[-1]
            if task.total is None:  # a listing: its size is known now
                self.bars.update(self.task, total=task.completed)
            self.bars.update(self.task, completed=task.total or task.completed)
            self.task = None

    def finish(self) -> None:
        self._close_task()

    def stop(self) -> None:
        self._close_task()
        self.bars.stop()
