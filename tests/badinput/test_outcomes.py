"""Every run ends as one documented outcome, with its exit code, and the state database records that
same outcome: replies too deeply nested to decode, HubSpot records of a shape cloze-syncd cannot read,
a change-feed row without its modification time, a full disk under the state database, and Ctrl-C.

Each case is a real ``syncd`` subprocess against the emulators over loopback; the odd replies come from
a rewriting proxy between ``syncd`` and an emulator (:mod:`tests.badinput.tamper`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from state.store import StateStore
from syncd.sandbox import tune_config
from tests.badinput.tamper import TamperProxy, nested, rewrite_results
from tests.fault.seeding import populate
from tests.fault.world import PAIR, REPO, SYNCD, World, describe, open_world

DEPTH = 100_000


def _runs(world: World) -> list[dict[str, Any]]:
    return sorted(world.export()["runs"], key=lambda r: r["started_at"])


def _status(world: World) -> dict[str, Any]:
    [row] = json.loads(world.syncd("status", "--json", check=0).stdout)
    assert isinstance(row, dict)
    return row


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, describe(proc)


def test_a_cloze_reply_nested_too_deeply_is_a_typed_cloze_error(tmp_path: Path) -> None:
    with open_world(tmp_path, cloze={"retry_attempts": 2}) as world:
        populate(world, seed=61, cloze_people=3, hub_people=3, overlap=1)
        with TamperProxy(world.cloze.url, lambda m, p, b: nested(DEPTH) if p.endswith("/feed") else None) as proxy:
            tune_config(world.config, {f"pairs.{PAIR}.cloze": {"base_url": proxy.url}})
            proc = world.syncd("reconcile")
            assert proxy.rewritten > 0
        _no_traceback(proc)
        assert proc.returncode == 75, describe(proc)
        assert "side=cloze" in proc.stderr and "nested" in proc.stderr, describe(proc)
        [run] = _runs(world)
        assert run["status"] == "failed" and "side=cloze" in run["error"]
        assert _status(world)["last_success"] is None


def test_a_hubspot_reply_nested_too_deeply_is_a_typed_hubspot_error(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        populate(world, seed=62, cloze_people=3, hub_people=3, overlap=1)
        with TamperProxy(world.hubspot.url,
                         lambda m, p, b: nested(DEPTH) if p.startswith("/crm/v3/objects/contacts") else None) as proxy:
            tune_config(world.config, {f"pairs.{PAIR}.external": {"base_url": proxy.url}})
            proc = world.syncd("reconcile")
            assert proxy.rewritten > 0
        _no_traceback(proc)
        assert proc.returncode == 75, describe(proc)
        assert "side=external" in proc.stderr, describe(proc)
        [run] = _runs(world)
        assert run["status"] == "failed" and "side=external" in run["error"]


def test_hubspot_records_of_the_wrong_shape_are_record_errors_and_the_rest_syncs(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        pop = populate(world, seed=63, cloze_people=4, hub_people=6, overlap=0)
        hub_ids = sorted(pop.hubspot_ids["person"].values(), key=int)
        as_list, as_string = hub_ids[0], hub_ids[1]

        def change(row: dict[str, Any]) -> None:
            if row.get("id") == as_list:
                row["properties"] = [["email", "x@example.com"]]
            elif row.get("id") == as_string:
                row["properties"] = "email=x@example.com"

        def rewrite(method: str, path: str, body: bytes) -> bytes | None:
            return rewrite_results(body, change) if path.startswith("/crm/v3/objects/contacts") else None

        with TamperProxy(world.hubspot.url, rewrite) as proxy:
            tune_config(world.config, {f"pairs.{PAIR}.external": {"base_url": proxy.url}})
            proc = world.syncd("reconcile")
            assert proxy.rewritten > 0
        _no_traceback(proc)
        assert proc.returncode == 3, describe(proc)
        errors = {(e["source_side"], e["record_id"]): e for e in world.open_errors()}
        for bad in (as_list, as_string):
            assert ("external", bad) in errors, errors
            assert "properties" in errors[("external", bad)]["message"]
        # The four good HubSpot contacts reached Cloze; the two unreadable ones did not.
        assert len(world.cloze.records("person")) == 4 + 4
        [run] = _runs(world)
        assert run["status"] == "errors"


def test_a_feed_row_without_its_modification_time_is_a_record_error(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        pop = populate(world, seed=64, cloze_people=2, hub_people=4, overlap=0)
        world.syncd("reconcile", check=0)
        hub_ids = sorted(pop.hubspot_ids["person"].values(), key=int)
        stamped, unstamped = hub_ids[0], hub_ids[1]
        time.sleep(1.2)  # past the feed's look-back, so only the edited records come back
        world.hubspot.update_object("contacts", stamped, {"jobtitle": "Broker"})
        world.hubspot.update_object("contacts", unstamped, {"jobtitle": "Agent"})

        def change(row: dict[str, Any]) -> None:
            if row.get("id") == unstamped:
                row.pop("updatedAt", None)
                if isinstance(row.get("properties"), dict):
                    row["properties"].pop("lastmodifieddate", None)

        def rewrite(method: str, path: str, body: bytes) -> bytes | None:
            return rewrite_results(body, change) if path == "/crm/v3/objects/contacts/search" else None

        with TamperProxy(world.hubspot.url, rewrite) as proxy:
            tune_config(world.config, {f"pairs.{PAIR}.external": {"base_url": proxy.url}})
            proc = world.syncd("sync")
            assert proxy.rewritten > 0
        _no_traceback(proc)
        assert proc.returncode == 3, describe(proc)
        errors = {(e["source_side"], e["record_id"]) for e in world.open_errors()}
        assert ("external", unstamped) in errors
        titles = {job.get("title") for p in world.cloze.records("person") for job in p.get("jobs") or []}
        titles |= {p.get("jobtitle") for p in world.cloze.records("person")}
        assert "Broker" in titles, world.cloze.records("person")  # the readable change went through
        assert _runs(world)[-1]["status"] == "errors"


# -- a full disk under the state database -------------------------------------------------


@contextmanager
def _small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``path`` (needs root; the test is skipped otherwise)."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path, leave: int) -> Path:
    """Fill the filesystem holding ``directory`` until only ``leave`` bytes are free."""
    filler = directory / "filler"
    free = shutil.disk_usage(directory).free
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_under_the_state_database_is_a_typed_failure_never_ok(tmp_path: Path) -> None:
    with _small_filesystem(tmp_path / "small", "4m") as small, open_world(tmp_path / "world") as world:
        tune_config(world.config, {"state": {"path": str(small / "state.db")}})
        populate(world, seed=65, cloze_people=150, hub_people=150, overlap=10)
        StateStore.open(small / "state.db").close()  # created (schema and all) while there is room
        filler = _fill(small, leave=256 * 1024)
        proc = world.syncd("reconcile")
        _no_traceback(proc)
        assert proc.returncode == 1, describe(proc)
        assert "disk is full" in proc.stderr and "state database" in proc.stderr, describe(proc)
        filler.unlink()
        runs = _runs_at(small / "state.db")
        assert runs and all(status != "ok" for status in runs), runs
        assert _status(world)["last_success"] is None
        # With room again, the next run converges: nothing lost, nothing created twice.
        world.syncd("reconcile", check=0)
        emails = [e["value"] for p in world.cloze.records("person") for e in p.get("emails", [])]
        assert len(emails) == len(set(emails)) == 150 + 150 - 10


def _runs_at(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT status FROM runs ORDER BY started_at")]


# -- Ctrl-C ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_during_a_reconcile_exits_130_and_is_recorded_as_interrupted(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        populate(world, seed=66, cloze_people=40, hub_people=40, overlap=5)
        world.syncd("reconcile", check=0)
        first_success = _status(world)["last_success"]
        assert first_success is not None
        populate(world, seed=66, cloze_people=40, hub_people=0, overlap=0, tag="later")
        world.cloze.set_faults(latency_ms=150)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env["PYTHONPATH"] = str(REPO)
        proc = subprocess.Popen([*SYNCD, "reconcile", "--config", str(world.config)], cwd=world.directory, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(_runs_at(world.state_path)) < 2:
                assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
                time.sleep(0.05)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        world.cloze.reset_faults()
        assert proc.returncode == 130, f"exit {proc.returncode}\n{out}\n{err}"
        assert "Traceback" not in out + err
        assert _runs_at(world.state_path)[-1] == "interrupted"
        status = _status(world)
        assert status["last_status"] == "interrupted"
        assert status["last_success"] == first_success
        # The next run finishes what the interrupted one left.
        world.syncd("reconcile", check=0)
        emails = [e["value"] for p in world.cloze.records("person") for e in p.get("emails", [])]
        assert len(emails) == len(set(emails))
