"""Timeline activities into Cloze: throughput against the pacing ceiling, and calls per activity.

    python bench/activities.py [--people 200] [--activities 400] [--rate 4] [--unpaced 2000]

Seeds HubSpot with ``--people`` contacts and ``--activities`` engagements (notes, tasks and calls in
turn, each on one or two contacts), links the contacts with a first reconcile (activities off),
then switches activities on and times the run that backfills them:

- paced (the Cloze client at ``--rate`` requests/s, the shipped pacing being 4): activities written
  per second against that ceiling;
- unpaced (``--unpaced`` engagements, the client at its highest pacing, 1000 requests/s): Cloze calls per activity (one timeline write
  each; the target is 1.0) and HubSpot calls per activity (feed pages, association and key reads);
- a second run: what it writes (nothing) and what it reads;
- ``--propagation N``: ``syncd run`` (the daemon, ``--interval`` seconds, paced at ``--rate``) backfills
  ``--activities`` engagements while N person edits are made in HubSpot one after another; each edit's
  delay until Cloze holds it is measured against the interval.
- ``--acceptance``: the issue's acceptance run. ``--people`` linked people (2,000) and ``--activities``
  engagements (50,000) backfilled by ``syncd run`` with Cloze's pacing on at ``--rate`` on both ends (the
  emulator refuses more with 429, the client paces to it): person edits made one after another during
  the backfill and the delay until each reaches Cloze; the activities written per second while the
  activity pass runs (from the times Cloze received them) against the ceiling; Cloze calls per
  activity; and what ``syncd status --json`` and ``/metrics`` show of the backfill's progress and
  estimated end. ``--slice S`` stops after S seconds (a time slice of the backfill, reported as such).

Not part of the test suite; both emulators run in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.loader import load_config
from connectors.cloze.emulator import ClozeEmulator
from connectors.hubspot.emulator import HubSpotEmulator
from state.store import StateStore
from syncd.engine import activities as activity_pass
from syncd.engine.report import RunReport
from syncd.engine.runner import sync_pair
from syncd.logs import configure_logging
from syncd.sandbox import HUBSPOT_TOKEN, tune_config, write_config
from syncd.sandbox_files import CLOZE_KEY

PASS_SECONDS: list[float] = []
_run_pass = activity_pass.run_pass


def _timed_pass(*args: Any, **kwargs: Any) -> Any:
    """The engine's activity pass, timed (the run around it also polls records)."""
    started = time.monotonic()
    try:
        return _run_pass(*args, **kwargs)
    finally:
        PASS_SECONDS.append(time.monotonic() - started)


activity_pass.run_pass = _timed_pass
KINDS = (("notes", "hs_note_body"), ("tasks", "hs_task_subject"), ("calls", "hs_call_title"))


def cloze_calls(cloze: ClozeEmulator) -> tuple[int, int]:
    """(every Cloze API request, timeline writes) so far."""
    requests = cloze.stats.snapshot()["requests"]
    timeline = sum(n for name, n in requests.items() if "/v1/timeline/" in name)
    return cloze.stats.total_requests, timeline


def scenario(people: int, activities: int, rate: float | None, rng: random.Random) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-activities-"))
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        config = write_config(work, cloze.url, hubspot.url)
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0},
                             "pairs.sandbox.cloze": {"rate_per_second": rate if rate else 1000.0},
                             "pairs.sandbox.schedule": {"interval": "24h"}})
        with config.open("a") as out:
            out.write(f"\n[pairs.sandbox.activities]\nenabled = false\nmax_writes_per_run = {activities + 10}\n"
                      "run_share = 1.0\n")
        contacts = [hubspot.add_object("contacts", {"email": f"p{i}@bench.example", "firstname": "P",
                                                    "lastname": str(i)}) for i in range(people)]
        now = int(time.time() * 1000)
        for i in range(activities):
            type_, prop = KINDS[i % len(KINDS)]
            engagement = hubspot.add_object(type_, {"hs_timestamp": str(now - rng.randint(1, 80) * 86_400_000),
                                                    prop: f"activity {i}"})
            for contact in rng.sample(contacts, rng.choice((1, 1, 2))):
                hubspot.associate(type_, engagement, "contacts", contact)

        def run(mode: Literal["incremental", "full"] = "incremental") -> tuple[RunReport, float]:
            loaded = load_config(config)
            store = StateStore.open(loaded.state_path)
            try:
                started = time.monotonic()
                report = sync_pair(loaded, "sandbox", store=store, mode=mode)
                return report, time.monotonic() - started
            finally:
                store.close()

        linked, _ = run("full")
        assert linked.ok, linked.as_dict()
        tune_config(config, {"pairs.sandbox.activities": {"enabled": True}})
        before_cloze, before_hub = cloze_calls(cloze), hubspot.stats.requests
        backfill, seconds = run()
        pass_seconds = PASS_SECONDS[-1]
        after_cloze, after_hub = cloze_calls(cloze), hubspot.stats.requests
        written = backfill.writes["cloze.activity.put"] + backfill.writes["cloze.activity.send"]
        second, second_s = run()
        return {
            "people": people, "activities": activities, "rate": rate, "ok": backfill.ok,
            "written": written, "stored": len(cloze.timeline()), "seconds": round(seconds, 2),
            "activities_per_s": round(written / seconds, 2) if seconds else None,
            "pass_seconds": round(pass_seconds, 2),
            "pass_activities_per_s": round(written / pass_seconds, 2) if pass_seconds else None,
            "cloze_calls": after_cloze[0] - before_cloze[0], "timeline_writes": after_cloze[1] - before_cloze[1],
            "hubspot_calls": after_hub - before_hub,
            "second_run_writes": second.total_writes, "second_run_s": round(second_s, 2),
        }


def propagation(people: int, activities: int, rate: float, interval: float, samples: int,
                rng: random.Random) -> dict[str, Any]:
    """Person edits made during a daemon's backfill: the delay until each reaches Cloze."""
    work = Path(tempfile.mkdtemp(prefix="bench-activities-daemon-"))
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        config = write_config(work, cloze.url, hubspot.url)
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0},
                             "pairs.sandbox.cloze": {"rate_per_second": rate},
                             "pairs.sandbox.schedule": {"interval": interval, "jitter": 0},
                             "logging": {"level": "info", "format": "json"}})
        with config.open("a") as out:
            out.write("\n[pairs.sandbox.activities]\nenabled = false\n")
        contacts = [hubspot.add_object("contacts", {"email": f"p{i}@bench.example", "firstname": "P",
                                                    "lastname": str(i)}) for i in range(people)]
        now = int(time.time() * 1000)
        for i in range(activities):
            type_, prop = KINDS[i % len(KINDS)]
            engagement = hubspot.add_object(type_, {"hs_timestamp": str(now - rng.randint(1, 80) * 86_400_000),
                                                    prop: f"activity {i}"})
            hubspot.associate(type_, engagement, "contacts", rng.choice(contacts))
        loaded = load_config(config)
        store = StateStore.open(loaded.state_path)
        try:
            assert sync_pair(loaded, "sandbox", store=store, mode="full").ok
        finally:
            store.close()
        tune_config(config, {"pairs.sandbox.activities": {"enabled": True}})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "NOTIFY_SOCKET"))}
        log = (work / "daemon.log").open("w")
        daemon = subprocess.Popen([sys.executable, "-m", "syncd.cli", "run", "--config", str(config)],
                                  cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        delays: list[float] = []
        try:
            started = time.monotonic()
            for n in range(samples):
                time.sleep(rng.uniform(0, interval))
                contact = rng.choice(contacts)
                last = f"edit{n}"
                hubspot.update_object("contacts", contact, {"lastname": last})
                edited = time.monotonic()
                while not any(p.get("last") == last for p in cloze.records("person")):
                    if time.monotonic() - edited > 20 * interval:
                        raise RuntimeError(f"edit {n} never reached Cloze")
                    time.sleep(0.05)
                delays.append(time.monotonic() - edited)
            backfilled = len(cloze.timeline())
            elapsed = time.monotonic() - started
        finally:
            daemon.terminate()
            daemon.wait(60)
            log.close()
        return {"interval_s": interval, "samples": len(delays), "max_delay_s": round(max(delays), 2),
                "median_delay_s": round(sorted(delays)[len(delays) // 2], 2), "activities_written": backfilled,
                "activities": activities, "elapsed_s": round(elapsed, 1),
                "all_s": [round(d, 2) for d in delays]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pass_rates(received: list[int], gap_ms: int = 1000) -> tuple[int, float]:
    """(write intervals, seconds) inside the activity passes: Cloze's receive times, split where they pause
    for longer than ``gap_ms`` (between passes the daemon syncs records or waits for its next run)."""
    stamps = sorted(received)
    writes, span, first = 0, 0.0, 0
    for i in range(1, len(stamps) + 1):
        if i == len(stamps) or stamps[i] - stamps[i - 1] > gap_ms:
            burst = stamps[first:i]
            if len(burst) > 1:
                writes, span = writes + len(burst) - 1, span + (burst[-1] - burst[0]) / 1000
            first = i
    return writes, span


def backfill_view(config: Path, metrics_url: str) -> dict[str, Any]:
    """What an operator sees of the backfill: ``syncd status --json`` and the /metrics gauges."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "NOTIFY_SOCKET"))}
    status = subprocess.run([sys.executable, "-m", "syncd.cli", "status", "--json", "--config", str(config)],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    rows = json.loads(status.stdout) if status.returncode == 0 and status.stdout.strip() else []
    backfill: list[Any] = next((r["activities"]["backfill"] for r in rows if r.get("activities")), [])
    with httpx.Client(timeout=10) as http:
        text = http.get(metrics_url).text
    gauges = [line for line in text.splitlines() if line.startswith("syncd_activity_backfill")]
    return {"status": backfill, "metrics": gauges}


def acceptance(people: int, activities: int, rate: float, interval: float, slice_s: float,
               rng: random.Random) -> dict[str, Any]:
    """The issue's acceptance run: a daemon's backfill with Cloze's pacing on at ``rate`` on both ends."""
    work = Path(tempfile.mkdtemp(prefix="bench-activities-acceptance-"))
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com") as cloze, \
            HubSpotEmulator(token=HUBSPOT_TOKEN, rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        config = write_config(work, cloze.url, hubspot.url)
        port = free_port()
        tune_config(config, {"pairs.sandbox.external": {"change_overlap_seconds": 0},
                             "pairs.sandbox.cloze": {"rate_per_second": 1000.0},
                             "pairs.sandbox.schedule": {"interval": interval, "jitter": 0},
                             "daemon.http": {"port": port},
                             "logging": {"level": "warning", "format": "json"}})
        with config.open("a") as out:
            out.write("\n[pairs.sandbox.activities]\nenabled = false\n")
        seeded = time.monotonic()
        contacts = [hubspot.add_object("contacts", {"email": f"p{i}@bench.example", "firstname": "P",
                                                    "lastname": str(i)}) for i in range(people)]
        now = int(time.time() * 1000)
        for i in range(activities):
            type_, prop = KINDS[i % len(KINDS)]
            engagement = hubspot.add_object(type_, {"hs_timestamp": str(now - rng.randint(1, 80) * 86_400_000),
                                                    prop: f"activity {i}"})
            hubspot.associate(type_, engagement, "contacts", rng.choice(contacts))
        seed_s = time.monotonic() - seeded
        loaded = load_config(config)
        store = StateStore.open(loaded.state_path)
        try:
            assert sync_pair(loaded, "sandbox", store=store, mode="full").ok  # link the people, unpaced
        finally:
            store.close()
        direct = {e["value"]: p["direct"] for p in cloze.records("person") for e in p.get("emails", [])}
        email_of = {c: f"p{i}@bench.example" for i, c in enumerate(contacts)}
        # Cloze's pacing on: the emulator refuses more than `rate` requests/s, the client paces to it.
        cloze.set_faults(rate_limit_per_second=rate, rate_limit_burst=max(1, int(rate)))
        tune_config(config, {"pairs.sandbox.activities": {"enabled": True},
                             "pairs.sandbox.cloze": {"rate_per_second": rate}})
        before_cloze, before_hub = cloze.stats.total_requests, hubspot.stats.requests
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "NOTIFY_SOCKET"))}
        log = (work / "daemon.log").open("w")
        daemon = subprocess.Popen([sys.executable, "-m", "syncd.cli", "run", "--config", str(config)],
                                  cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        delays: list[float] = []
        views: list[dict[str, Any]] = []
        started = time.monotonic()
        try:
            n = 0
            while len(cloze.timeline()) < activities and (not slice_s or time.monotonic() - started < slice_s):
                time.sleep(rng.uniform(0, interval))
                contact = rng.choice(contacts)
                last = f"edit{n}"
                hubspot.update_object("contacts", contact, {"lastname": last})
                edited = time.monotonic()
                while (cloze.get_record("person", direct[email_of[contact]]) or {}).get("last") != last:
                    if time.monotonic() - edited > 20 * interval:
                        raise RuntimeError(f"edit {n} never reached Cloze")
                    time.sleep(0.1)
                delays.append(time.monotonic() - edited)
                if n % 10 == 0:
                    views.append({"at_s": round(time.monotonic() - started), **backfill_view(
                        config, f"http://127.0.0.1:{port}/metrics")})
                n += 1
            elapsed = time.monotonic() - started
            views.append({"at_s": round(elapsed), **backfill_view(config, f"http://127.0.0.1:{port}/metrics")})
        finally:
            daemon.terminate()
            daemon.wait(60)
            log.close()
        items = cloze.timeline()
        in_pass, pass_s = pass_rates([int(t["received"]) for t in items])
        cloze_calls = cloze.stats.total_requests - before_cloze
        refused = sum(n for k, n in cloze.stats.snapshot()["responses"].items() if k.startswith("429"))
        return {"people": people, "activities": activities, "rate": rate, "interval_s": interval,
                "seed_s": round(seed_s, 1), "elapsed_s": round(elapsed, 1), "written": len(items),
                "overall_per_s": round(len(items) / elapsed, 2), "pass_writes": in_pass,
                "pass_s": round(pass_s, 1), "pass_per_s": round(in_pass / pass_s, 2) if pass_s else None,
                "cloze_calls": cloze_calls, "cloze_429": refused, "hubspot_calls": hubspot.stats.requests - before_hub,
                "samples": len(delays), "max_delay_s": round(max(delays), 2) if delays else None,
                "median_delay_s": round(sorted(delays)[len(delays) // 2], 2) if delays else None,
                "over_interval": sum(1 for d in delays if d > interval), "views": views}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--activities", type=int, default=400, help="engagements for the paced run")
    parser.add_argument("--rate", type=float, default=4.0, help="the Cloze client's pacing, requests/s")
    parser.add_argument("--unpaced", type=int, default=2000, help="engagements for the unpaced run (0: skip)")
    parser.add_argument("--propagation", type=int, default=0, help="person edits during a daemon's backfill")
    parser.add_argument("--interval", type=float, default=10.0, help="the daemon's schedule interval, seconds")
    parser.add_argument("--acceptance", action="store_true", help="the acceptance run (see above)")
    parser.add_argument("--slice", type=float, default=0.0, help="with --acceptance: stop after this many seconds")
    args = parser.parse_args(argv)
    configure_logging("warning", to_stderr=True)
    rng = random.Random(7)
    if args.acceptance:
        found = acceptance(args.people, args.activities, args.rate, args.interval, args.slice, rng)
        what = f"a {found['elapsed_s']} s slice of" if args.slice else f"all {found['elapsed_s']} s of"
        print(f"acceptance, {found['people']} linked people, {found['activities']} activities, Cloze paced at "
              f"{args.rate:g} req/s on both ends, daemon interval {args.interval:g} s; {what} the backfill "
              f"(seeding took {found['seed_s']} s):")
        print(f"  written {found['written']}: {found['overall_per_s']} activities/s overall "
              f"({100 * found['overall_per_s'] / args.rate:.1f} % of the ceiling; the pass may take half of each "
              f"interval); inside the activity passes {found['pass_writes']} in {found['pass_s']} s = "
              f"{found['pass_per_s']} activities/s "
              f"({100 * (found['pass_per_s'] or 0) / args.rate:.1f} % of the ceiling)")
        print(f"  Cloze calls {found['cloze_calls']} = {found['cloze_calls'] / max(1, found['written']):.3f} per "
              f"activity (429 refusals {found['cloze_429']}); HubSpot calls "
              f"{found['hubspot_calls'] / max(1, found['written']):.3f} per activity")
        print(f"  {found['samples']} person edits during the backfill: delay median {found['median_delay_s']} s, "
              f"max {found['max_delay_s']} s, {found['over_interval']} over one interval")
        for view in found["views"][:1] + found["views"][-1:]:
            print(f"  at {view['at_s']} s: syncd status {view['status']}; /metrics {view['metrics']}")
        return 0
    if args.propagation:
        found = propagation(args.people, args.activities, args.rate, args.interval, args.propagation, rng)
        print(f"daemon, interval {found['interval_s']:g} s, paced at {args.rate:g} req/s: {found['samples']} person "
              f"edits during the backfill ({found['activities_written']} of {found['activities']} activities "
              f"written in {found['elapsed_s']} s): delay median {found['median_delay_s']} s, max "
              f"{found['max_delay_s']} s; all {found['all_s']}")
        return 0
    paced = scenario(args.people, args.activities, args.rate, rng)
    ceiling = args.rate
    # The run also makes the record poll's few Cloze calls, which share the same pacing.
    print(f"paced at {ceiling:g} req/s: {paced['written']} activities; the run {paced['seconds']} s = "
          f"{paced['activities_per_s']} activities/s ({100 * paced['activities_per_s'] / ceiling:.1f} % of the "
          f"ceiling, record poll included); the activity pass {paced['pass_seconds']} s = "
          f"{paced['pass_activities_per_s']} activities/s ({100 * paced['pass_activities_per_s'] / ceiling:.1f} %); "
          f"Cloze calls {paced['cloze_calls']} ({paced['timeline_writes']} timeline writes); "
          f"second run writes {paced['second_run_writes']}")
    if args.unpaced:
        free = scenario(args.people, args.unpaced, None, rng)
        written = max(1, free["written"])
        print(f"unpaced: {free['written']} activities in {free['seconds']} s = {free['activities_per_s']} "
              f"activities/s; Cloze calls per activity {free['cloze_calls'] / written:.3f} "
              f"(timeline writes per activity {free['timeline_writes'] / written:.3f}); HubSpot calls per "
              f"activity {free['hubspot_calls'] / written:.3f}; second run writes {free['second_run_writes']} "
              f"in {free['second_run_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
