"""``syncd doctor``: each configured pair's sides tested against the live services, each problem with its fix.

Every connector's :meth:`~connectors.base.Connector.check` reads its account
(credentials, scopes, the properties it writes, the custom fields the pair maps)
and returns what is wrong; what it raises (refused credentials, a side that cannot
be reached) is one problem too. Nothing is written to either side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from config.loader import LoadedConfig
from connectors.base import Connector, Problem
from connectors.errors import AuthError, SyncdError, UnreachableError
from connectors.model import Side
from connectors.scrub import scrub
from syncd.engine.runner import build_connectors
from syncd.outcome import EXIT_CONFIG, EXIT_OK, combined_exit, failure_of


@dataclass(frozen=True)
class Finding:
    """One problem of one side of one pair, and the exit code it stands for."""

    pair: str
    side: Side
    problem: Problem
    exit_code: int

    def line(self) -> str:
        where = f"pairs.{self.pair}.{self.side}" + (f" ({self.problem.where})" if self.problem.where else "")
        return scrub(f"{where}: {self.problem.what} -- fix: {self.problem.fix}")


def _raised(exc: BaseException, pair: str, side: Side) -> tuple[Problem, int]:
    """What a check that raised means, as a problem: the error's text without its hint, and the hint as the fix."""
    failure = failure_of(exc)
    error = failure.error
    where = " ".join(f"{k}={v}" for k, v in error.context().items() if k not in ("pair", "side"))
    what = f"{error.message} ({where})" if where else error.message
    if error.hint:
        fix = error.hint
    elif isinstance(error, AuthError):
        fix = f"check the credentials in pairs.{pair}.{side} (a new key or token, with the scopes the sync needs)"
    elif isinstance(error, UnreachableError):
        fix = f"check pairs.{pair}.{side}.base_url and that the service is reachable from here"
    else:
        fix = f"check pairs.{pair}.{side} and the service's status"
    return Problem(what, fix), failure.exit_code


def check_side(pair: str, side: Side, connector: Connector[Any]) -> list[Finding]:
    try:
        problems = connector.check()
    except Exception as exc:  # noqa: BLE001 - every failure of a check is reported as a problem, typed
        problem, code = _raised(exc, pair, side)
        return [Finding(pair, side, problem, code)]
    return [Finding(pair, side, p, EXIT_CONFIG) for p in problems]


def diagnose(loaded: LoadedConfig, pairs: Iterable[str]) -> Iterator[tuple[str, Side, list[Finding]]]:
    """For each pair and side, the findings (empty: all is well)."""
    for pair in pairs:
        try:
            connectors = build_connectors(loaded, pair)
        except SyncdError as exc:
            problem, code = _raised(exc, pair, "external")
            yield pair, "external", [Finding(pair, "external", problem, code)]
            continue
        try:
            for side, connector in connectors.items():
                yield pair, side, check_side(pair, side, connector)
        finally:
            for connector in connectors.values():
                connector.close()


def describe(loaded: LoadedConfig, pairs: Iterable[str]) -> Iterator[tuple[str, Side, dict[str, Any]]]:
    """What each side tells about its account (stages, versions...), for ``--facts``; a failure is told as such."""
    for pair in pairs:
        connectors = build_connectors(loaded, pair)
        try:
            for side, connector in connectors.items():
                try:
                    yield pair, side, connector.describe()
                except Exception as exc:  # noqa: BLE001 - already reported by the checks above
                    yield pair, side, {"error": str(failure_of(exc).error)}
        finally:
            for connector in connectors.values():
                connector.close()


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing was found; otherwise the most pressing code (75 unreachable, 1 refused, 78 to fix)."""
    return combined_exit([f.exit_code for f in findings] or [EXIT_OK])
