"""Crontab expressions for the reconcile schedule, translated for APScheduler 3.

APScheduler 3 numbers weekdays from Monday (0 = Monday) while crontab numbers
them from Sunday (0 and 7 = Sunday), and ``CronTrigger.from_crontab`` passes the
number through unchanged, so ``0 3 * * 0`` would fire on Mondays. Numeric
weekdays are therefore rewritten to names here, once, before any trigger is built.
"""

from __future__ import annotations

import re

_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def _weekday(token: str) -> str:
    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ValueError(f"weekday {number} is out of range 0-7")
        return _DAY_NAMES[number]

    # Steps (*/2, 1-5/2) keep their step number; only day numbers are names.
    parts = token.split("/")
    parts[0] = re.sub(r"\d+", name, parts[0])
    return "/".join(parts)


def crontab_fields(expr: str) -> dict[str, str]:
    """Split a five-field crontab expression into APScheduler ``CronTrigger`` keyword arguments."""
    tokens = expr.split()
    if len(tokens) != 5:
        raise ValueError(f"expected five fields (minute hour day month weekday), got {len(tokens)}")
    fields = dict(zip(FIELDS, tokens))
    fields["day_of_week"] = ",".join(_weekday(t) for t in fields["day_of_week"].split(","))
    return fields


def validate_crontab(expr: str, timezone: str = "UTC") -> None:
    """Raise ValueError with a readable reason if APScheduler cannot use ``expr``."""
    from apscheduler.triggers.cron import CronTrigger

    CronTrigger(timezone=timezone, **crontab_fields(expr))
