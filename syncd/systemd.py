"""The sd_notify protocol, in our own few lines (no libsystemd).

One ``AF_UNIX``/``SOCK_DGRAM`` datagram per message to ``$NOTIFY_SOCKET``; a
leading ``@`` names the abstract namespace. Without the variable every call is a
no-op, and a failed send is logged at debug level, never raised: telling systemd
how we are must not be able to stop us from syncing.
"""

from __future__ import annotations

import os
import socket
import time

import structlog

log = structlog.get_logger("syncd.systemd")


def _address() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]
    return path if path.startswith("/") else None


def notify(*lines: str) -> bool:
    """Send ``KEY=VALUE`` lines as one datagram; ``True`` if it was sent."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
        return True
    except OSError as exc:
        log.debug("sd_notify failed", error=str(exc), message=lines[0] if lines else "")
        return False


def _one_line(text: str) -> str:
    # a newline would start a new KEY=VALUE assignment
    return " ".join(text.split())


def ready(status: str | None = None) -> bool:
    """Start-up (or a reload) is complete."""
    return notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))


def status(text: str) -> bool:
    """Free-form text shown by ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}")


def monotonic_usec() -> int:
    """``CLOCK_MONOTONIC`` in microseconds, the clock systemd compares reloads against."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def reloading(status: str | None = None) -> bool:
    """A reload began. ``MONOTONIC_USEC`` lets ``Type=notify-reload`` match it to the request."""
    extra = [f"STATUS={_one_line(status)}"] if status else []
    return notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", *extra)


def stopping(status: str | None = None) -> bool:
    """Shutdown began."""
    return notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))


def extend_timeout(seconds: float) -> bool:
    """Ask for ``seconds`` more before systemd's start/stop timeout fires."""
    return notify(f"EXTEND_TIMEOUT_USEC={max(1, int(seconds * 1_000_000))}")


def watchdog() -> bool:
    """Tell the watchdog we are alive."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """How often to ping (half of ``WATCHDOG_USEC``), or ``None`` when no watchdog is set for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None
