"""A real Tryton 8.2 server on loopback, for tests and for trying the connector by hand.

Tryton is installed from PyPI into a virtual environment of its own (it is GPL-3
and never imported by cloze-syncd), once, under the cache directory
(``$SYNCD_TRYTON_CACHE``, else ``~/.cache/cloze-syncd``). Initialising a database
with the party and sale_opportunity modules takes about 45 s, so that is done
once too: a template SQLite file, with an admin user, a USD currency, a company,
an employee and a REST key, is kept beside the venv and copied for each server.
Both are rebuilt when missing or unhealthy; a file lock keeps parallel test
workers from building them twice.

Use::

    install = ensure_install()                  # raises TrytonUnavailable without PyPI
    with running_server(install, workdir) as server:
        server.settings()                        # a [pairs.X.external] table for the connector

or ``python -m connectors.tryton.testserver`` to run one until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.tryton.rpc import RpcClient
from connectors.tryton.settings import TrytonSettings

SERIES = "8.2"
REQUIREMENTS = (f"trytond=={SERIES}.*", f"trytond-party=={SERIES}.*", f"trytond-sale-opportunity=={SERIES}.*")
MODULES = ("party", "sale_opportunity")
TEMPLATE_DB = "crm"
ADMIN = "admin"
_MARKER = ".cloze-syncd-complete"


class TrytonUnavailable(RuntimeError):
    """Tryton could not be installed or started here (no PyPI access, no disk...)."""


def cache_root() -> Path:
    env = os.environ.get("SYNCD_TRYTON_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cloze-syncd"


@dataclass(frozen=True)
class Install:
    """A Tryton venv and an initialised template database."""

    venv: Path
    template: Path  # directory: <TEMPLATE_DB>.sqlite + meta.json

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @property
    def meta(self) -> dict[str, Any]:
        data = json.loads((self.template / "meta.json").read_text())
        assert isinstance(data, dict)
        return data


@dataclass
class TrytonServer:
    """A running ``trytond``; :meth:`stop` ends its whole process group."""

    url: str
    database: str
    username: str
    password: str
    rest_key: str
    company_id: int
    currency_id: int
    employee_id: int
    workdir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "trytond.log"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The connector's settings table for this server (session auth unless overridden)."""
        table: dict[str, Any] = {"url": self.url, "database": self.database, "username": self.username,
                                 "password": self.password}
        table.update(overrides)
        return table

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


# -- installing ------------------------------------------------------------------------------

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TrytonUnavailable(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise TrytonUnavailable(f"{what} failed (exit {proc.returncode}):\n{tail}")


def venv_healthy(venv: Path) -> bool:
    if not (venv / _MARKER).exists():
        return False
    probe = ("import trytond, trytond.modules.party, trytond.modules.sale_opportunity; "
             "print(trytond.__version__)")
    try:
        out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip().startswith(SERIES + ".")


def build_venv(venv: Path, *, python: str = sys.executable, log: Log = _quiet) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    log(f"creating the Tryton {SERIES} venv at {venv}")
    _run([python, "-m", "venv", str(venv)], timeout=300, what="python -m venv")
    _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
         timeout=900, what=f"pip install {' '.join(REQUIREMENTS)}")
    (venv / _MARKER).write_text(" ".join(REQUIREMENTS) + "\n")


def template_healthy(template: Path) -> bool:
    try:
        meta = json.loads((template / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("series") == SERIES and (template / f"{TEMPLATE_DB}.sqlite").stat().st_size > 0


def build_template(venv: Path, template: Path, *, log: Log = _quiet) -> None:
    """Initialise a database (modules, admin) and the records tests need; keep it as a template."""
    install = Install(venv, template)
    work = Path(tempfile.mkdtemp(prefix="tryton-template-", dir=template.parent))
    try:
        db_dir = work / "db"
        db_dir.mkdir()
        (db_dir / f"{TEMPLATE_DB}.sqlite").touch()  # a SQLite database is <name>.sqlite in the path
        password = secrets.token_urlsafe(18)
        passfile = work / "admin.pass"
        passfile.write_text(password + "\n")
        conf = _write_conf(work, db_dir, 0)
        log("initialising the Tryton template database (about 45 s)")
        env = {**os.environ, "TRYTONPASSFILE": str(passfile), "TZ": "UTC"}
        _run([str(install.bin("trytond-admin")), "-c", str(conf), "-d", TEMPLATE_DB, "-u", *MODULES,
              "--activate-dependencies", "--email", "admin@example.com"], timeout=900, env=env,
             what="trytond-admin")
        passfile.unlink()
        server = _start(install, work, db_dir, TEMPLATE_DB)
        try:
            meta = _seed(server.url, TEMPLATE_DB, password)
        finally:
            server.stop()
        _checkpoint(db_dir / f"{TEMPLATE_DB}.sqlite")
        (db_dir / f"{TEMPLATE_DB}.sqlite").replace(work / f"{TEMPLATE_DB}.sqlite")
        (work / "meta.json").write_text(json.dumps({"series": SERIES, "database": TEMPLATE_DB,
                                                    "username": ADMIN, "password": password, **meta}, indent=2))
        shutil.rmtree(db_dir)
        for stray in ("trytond.conf", "trytond.log"):
            (work / stray).unlink(missing_ok=True)
        shutil.rmtree(template, ignore_errors=True)
        work.rename(template)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _checkpoint(db: Path) -> None:
    """Fold Tryton's SQLite write-ahead log into the file, so copying the file alone copies everything."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not conn.execute("SELECT count(*) FROM company_company").fetchone()[0]:
            raise TrytonUnavailable(f"the template database {db} lost its seeded records")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def _seed(url: str, database: str, password: str) -> dict[str, Any]:
    """Currency, company, employee, the admin's company/employee preferences, and a REST key."""
    client = RpcClient(TrytonSettings(url=url, database=database, username=ADMIN, password=SecretStr(password)))
    try:
        def call(method: str, *params: Any) -> Any:
            return client.call(method, [*params, {}])

        [currency] = call("model.currency.currency.create", [{"name": "US Dollar", "code": "USD", "symbol": "$"}])
        [company_party] = call("model.party.party.create", [{"name": "Sandbox Realty LLC"}])
        [company] = call("model.company.company.create", [{"party": company_party, "currency": currency}])
        [agent_party] = call("model.party.party.create", [{"name": "Sync Agent"}])
        [employee] = call("model.company.employee.create", [{"party": agent_party, "company": company}])
        [user] = [r["id"] for r in call("model.res.user.search_read", [("login", "=", ADMIN)], 0, 1, None, ["id"])]
        call("model.res.user.write", [user], {"companies": [("add", [company])], "company": company,
                                              "employees": [("add", [employee])], "employee": employee})
        [key_id] = call("model.res.user.application.create", [{"user": user, "application": "rest"}])
        [key_row] = call("model.res.user.application.read", [key_id], ["key", "state"])
        if key_row.get("state") != "validated":
            call("model.res.user.application.validate_", [key_id])
        return {"rest_key": key_row["key"], "company_id": company, "currency_id": currency, "employee_id": employee}
    finally:
        client.close()


def ensure_install(cache: Path | None = None, *, python: str = sys.executable, log: Log = _quiet) -> Install:
    """The cached venv and template, built first if missing or unhealthy."""
    root = cache or cache_root()
    venv, template = root / f"tryton-{SERIES}-venv", root / f"tryton-{SERIES}-template"
    with _locked(root / f".tryton-{SERIES}.lock"):
        if not venv_healthy(venv):
            build_venv(venv, python=python, log=log)
            shutil.rmtree(template, ignore_errors=True)  # a new venv may have new module versions
        if not template_healthy(template):
            build_template(venv, template, log=log)
    return Install(venv, template)


# -- running ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_conf(workdir: Path, db_dir: Path, port: int) -> Path:
    conf = workdir / "trytond.conf"
    conf.write_text(f"[database]\nuri = sqlite://\npath = {db_dir}\n\n[web]\nlisten = 127.0.0.1:{port}\n")
    return conf


def _ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    body = {"id": 0, "method": "common.server.version", "params": []}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            # common.* calls go to /rpc/ (no database); /<db>/rpc/ wants a session.
            if httpx.post(f"{url}/rpc/", json=body, timeout=2).status_code == 200:
                return True
        time.sleep(0.1)
    return False


def _start(install: Install, workdir: Path, db_dir: Path, database: str, *, timeout: float = 60.0) -> TrytonServer:
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        meta = install.meta
    last_log = ""
    for _attempt in range(3):  # the free port can be taken between choosing and binding it
        port = _free_port()
        conf = _write_conf(workdir, db_dir, port)
        log_path = workdir / "trytond.log"
        with open(log_path, "wb") as log_file:
            # -d loads the database's pool at start (without it the first login fails in 8.2);
            # a session of its own so stop() can end trytond and anything it started.
            process = subprocess.Popen(
                [str(install.bin("trytond")), "-c", str(conf), "-d", database],
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "TZ": "UTC"})
        url = f"http://127.0.0.1:{port}"
        server = TrytonServer(url=url, database=database, username=str(meta.get("username", ADMIN)),
                              password=str(meta.get("password", "")), rest_key=str(meta.get("rest_key", "")),
                              company_id=int(meta.get("company_id", 0)), currency_id=int(meta.get("currency_id", 0)),
                              employee_id=int(meta.get("employee_id", 0)), workdir=workdir, process=process)
        if _ready(url, process, timeout):
            return server
        server.stop()
        last_log = log_path.read_text(errors="replace")[-3000:]
    raise TrytonUnavailable(f"trytond did not start; its log ends with:\n{last_log}")


def start_server(install: Install, workdir: Path, *, database: str = "crm") -> TrytonServer:
    """A server on a copy of the template database, listening on a free loopback port."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_dir = workdir / "db"
    db_dir.mkdir(exist_ok=True)
    target = db_dir / f"{database}.sqlite"
    for suffix in ("-wal", "-shm"):  # a log left by an earlier server would not match the fresh copy
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(install.template / f"{TEMPLATE_DB}.sqlite", target)
    return _start(install, workdir, db_dir, database)


@contextlib.contextmanager
def running_server(install: Install, workdir: Path, *, database: str = "crm") -> Iterator[TrytonServer]:
    server = start_server(install, workdir, database=database)
    try:
        yield server
    finally:
        server.stop()


def main() -> int:
    """Run a server until interrupted, printing the connector settings for it."""
    install = ensure_install(log=lambda m: print(m, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="tryton-") as tmp, running_server(install, Path(tmp)) as server:
        print(json.dumps({**server.settings(), "rest_key": server.rest_key}, indent=2))
        with contextlib.suppress(KeyboardInterrupt):
            server.process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
