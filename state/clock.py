"""The clocks the state database uses.

- :func:`wall_ms`: the wall clock (UTC epoch milliseconds), for what a person reads
  (run times, conflict times) and for leases held on another host.
- :func:`monotonic`: the host's monotonic clock (``CLOCK_MONOTONIC`` on Linux, shared by
  every process of one boot and never stepped by NTP or an operator), for durations and
  for the expiry of a lease held on this host, so a wall clock stepped forward cannot
  make a live run's lease look expired.
- :func:`boot_id`: names the boot a monotonic reading belongs to; two readings compare
  only when their boot ids are equal.
"""

from __future__ import annotations

import functools
import socket
import time
from pathlib import Path

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")

# SQL: the PostgreSQL server's clock in epoch milliseconds, which every worker's lease times come
# from. statement_timestamp(), not clock_timestamp(): one statement (a claim is one autocommit
# statement) reads one instant, so a lease's acquired_at and expires_at are exactly its TTL apart.
PG_NOW_MS = "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)"


def wall_ms() -> int:
    return int(time.time() * 1000)


def monotonic() -> float:
    return time.monotonic()


@functools.cache
def boot_id() -> str:
    """``host/boot`` for this boot, or ``""`` where the system does not say (then leases use the wall clock)."""
    try:
        boot = BOOT_ID_FILE.read_text().strip()
    except OSError:
        return ""
    return f"{socket.gethostname()}/{boot}" if boot else ""


def lease_expired_sql(alias: str, dialect: str) -> str:
    """SQL, true when the lease row ``alias`` has expired: the one definition every query of leases uses.

    On PostgreSQL by the server's clock, so workers whose clocks disagree agree on it. On SQLite by
    the monotonic clock for a lease of this boot (parameters ``:mono`` and ``:boot``), so a wall clock
    stepped forward cannot expire a live run's lease, and by the wall clock (``:now``) otherwise.
    """
    if dialect == "postgresql":
        return f"({alias}.expires_at <= {PG_NOW_MS})"
    return (f"(CASE WHEN {alias}.boot_id <> '' AND {alias}.boot_id = :boot THEN {alias}.mono_expires <= :mono "
            f"ELSE {alias}.expires_at <= :now END)")
