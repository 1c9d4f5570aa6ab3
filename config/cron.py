"""Validating the reconcile schedule with the same code that builds the daemon's trigger.

APScheduler 3 numbers weekdays from Monday while crontab numbers them from
Sunday; :func:`syncd.scheduler.cron_trigger` translates crontab's fields (ranges,
lists, steps, ``@daily`` shortcuts) once, and both the config check and the
daemon go through it, so a schedule that passes ``syncd config check`` is exactly
the one the daemon runs, with the same daylight-saving rule: each wall-clock time of
the pair's time zone fires once (see :class:`syncd.scheduler.WallClockTrigger`).
"""

from __future__ import annotations


def validate_crontab(expr: str, timezone: str = "UTC") -> None:
    """Raise ValueError with a readable reason if ``expr`` is not a usable crontab schedule."""
    from syncd.scheduler import cron_trigger

    cron_trigger(expr, tz=timezone, jitter=0)
