"""Run ``syncd run`` as a real subprocess with a test NOTIFY_SOCKET, and read what it says."""

from __future__ import annotations

import itertools
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_serial = itertools.count()


class NotifyListener:
    """A datagram socket standing in for systemd's notify socket; collects every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self._cond:
                self.messages.append((time.monotonic(), fields))
                self._cond.notify_all()

    def wait_for(
        self, key: str, value: str | None = None, *, after: int = 0, timeout: float = 20.0, contains: str = ""
    ) -> dict[str, str]:
        """The first message (index >= ``after``) holding ``key`` (= ``value``, or containing
        ``contains``); fails on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, msg in self.messages[after:]:
                    if key in msg and (value is None or msg[key] == value) and contains in msg[key]:
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {key}={value} within {timeout}s; got {[m for _, m in self.messages]}")
                self._cond.wait(left)

    def count(self, key: str) -> int:
        with self._cond:
            return sum(1 for _, m in self.messages if key in m)

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=2)
        self.sock.close()
        self.path.unlink(missing_ok=True)


class Daemon:
    """``python -m syncd.cli run --config FILE`` with stdout (JSON log lines) in a file."""

    def __init__(self, config: Path, workdir: Path, env: Mapping[str, str] | None = None, *,
                 max_open_files: int | None = None) -> None:
        self.config = config
        self.workdir = workdir
        n = next(_serial)  # several daemons may run one after another in one test
        self.notify = NotifyListener(workdir / f"notify-{n}.sock")
        self.stdout_path = workdir / f"daemon-{n}.out"
        self.stderr_path = workdir / f"daemon-{n}.err"
        full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        full_env.update({"NOTIFY_SOCKET": str(self.notify.path), "PYTHONPATH": str(REPO)})
        full_env.update(env or {})
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd.cli", "run", "--config", str(config)],
            cwd=workdir, env=full_env, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
        )
        if max_open_files:
            # Set on the running child (not in preexec_fn, unsafe with this process's threads); it
            # is in force long before the test floods the listener.
            resource.prlimit(self.proc.pid, resource.RLIMIT_NOFILE, (max_open_files, max_open_files))
        self.port: int | None = None

    # -- observing -------------------------------------------------------------------

    def wait_ready(self, timeout: float = 30.0) -> dict[str, str]:
        msg = self.notify.wait_for("READY", "1", timeout=timeout)
        match = re.search(r"listening on [\d.]+:(\d+)", msg.get("STATUS", ""))
        if match:
            self.port = int(match.group(1))
        return msg

    @property
    def url(self) -> str:
        assert self.port is not None, "wait_ready() first"
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout_path.read_text(errors="replace").splitlines():
            line = re.sub(r"^<\d>", "", line)
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def wait_log(self, predicate: Callable[[dict[str, Any]], bool], *, after: int = 0, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None  # read before the logs: a line written just before exit counts
            for entry in self.logs()[after:]:
                if predicate(entry):
                    return entry
            if exited:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) first:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching log line within {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def wait_event(self, event: str, *, after: int = 0, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        return self.wait_log(
            lambda e: e.get("event") == event and all(e.get(k) == v for k, v in fields.items()),
            after=after, timeout=timeout,
        )

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace")[-6000:] + self.stderr_path.read_text(errors="replace")[-4000:]

    # -- controlling -----------------------------------------------------------------

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running after {timeout}s:\n{self.output()}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()
        self._err.close()
        self.notify.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
