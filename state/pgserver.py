"""A local, throw-away PostgreSQL server for tests and benchmarks, never for a deployment.

``initdb`` in a temporary directory, a free port on 127.0.0.1, ``fsync`` off, ``pg_ctl start``;
on leaving :func:`running_postgres` the server is stopped and its files removed. Run as root,
the server runs as an unprivileged user (``postgres``, else ``nobody``), because ``initdb``
refuses root. :meth:`PostgresServer.restart` stops and starts the same server on the same port
(a database restart in the middle of a run).

The binaries come from PATH or Debian's ``/usr/lib/postgresql/<version>/bin`` (package
``postgresql``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here (not installed, or it failed to start)."""


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str = "postgres"
    data: Path | None = None  # the data directory, when this process started the server
    pg_ctl: str = "pg_ctl"
    options: str = ""
    run_as: str | None = None  # the system user the server runs as (None: this process's)

    def stop(self) -> None:
        """Stop the server at once: every connection is cut, as in a crash of the database host."""
        if self.data is None:
            raise PostgresUnavailable("only a server started by running_postgres() can be stopped")
        _run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"], self.run_as)

    def restart(self, *, down_for: float = 0.0) -> None:
        """:meth:`stop`, wait ``down_for`` seconds, :meth:`start` again on the same port."""
        self.stop()
        if down_for > 0:
            time.sleep(down_for)
        self.start()

    def start(self) -> None:
        if self.data is None:
            raise PostgresUnavailable("only a server started by running_postgres() can be started")
        _run([self.pg_ctl, "-D", str(self.data), "-o", self.options, "-l", str(self.data.parent / "server.log"),
              "-w", "-t", "60", "start"], self.run_as, timeout=90)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE / DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"{name} not found on PATH or in /usr/lib/postgresql/*/bin "
                              "(Debian package: postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and there is no postgres or nobody user to run the server as")


def _run(cmd: list[str], user: str | None, timeout: float = 60) -> None:
    done = subprocess.run(cmd, check=False, user=user, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})
    if done.returncode != 0:
        raise PostgresUnavailable(f"{Path(cmd[0]).name} failed ({done.returncode}): "
                                  f"{(done.stderr or done.stdout).strip()[-800:]}")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the duration of the block; its files are removed afterwards."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
    data = root / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    started = False
    try:
        _run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
              "--no-instructions"], user)
        port = _free_port()
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        server = PostgresServer(port=port, data=data, pg_ctl=pg_ctl, options=options, run_as=user)
        server.start()
        started = True
        yield server
    except PostgresUnavailable:
        log = root / "server.log"
        if log.exists():
            raise PostgresUnavailable(log.read_text(errors="replace")[-800:]) from None
        raise
    finally:
        if started:
            subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], check=False, user=user,
                           capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
