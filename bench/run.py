"""cloze-syncd benchmark: sync throughput, API calls, memory and propagation delay against the emulators.

    python bench/run.py [--sizes 1000,10000,100000] [--limited-sizes 200] [--daemon-samples 5]
                        [--json bench/results/run.json] [--profile]

For each size N (people; half in each system, 5% in both, plus N/10 companies
and N/10 deals split between the systems):

1. initial two-way ``syncd reconcile``: wall time, records/s, API calls per
   side (counted by the emulators), peak memory and own CPU seconds of the ``syncd``
   process (and its CPU per record written);
2. ``syncd sync`` right after it: it reads the reconcile's own writes back as echoes (none is written);
3. ``syncd sync`` after 1% of the people were edited on each side; ``syncd sync`` with nothing
   changed (twice: the first still reads the previous run's own writes back as echoes); and 1%
   edited again (the steady state of a polling daemon).

The same runs are repeated with 50 ms of latency on every request and
the services' limits on (HubSpot's Free/Starter 100 requests per 10 s and 5
searches per second; the connectors at their shipped pacing, Cloze 4
requests/s) for the smaller ``--limited-sizes``, reported against the ceiling
those limits set. Last, the daemon's change-propagation delay by poll and by
webhook. Results: one table on stdout, all figures as JSON (``--json``,
default ``bench/results/<timestamp>.json``). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.daemon import measure as measure_daemon
from bench.measure import RunResult, run_syncd
from bench.world import CLOZE_USER, Scenario, Seeded, World, open_world, seed
from syncd.sandbox_files import CLOZE_KEY

RESULTS = Path(__file__).resolve().parent / "results"
HUBSPOT_REQUESTS_PER_S = 10.0  # HubSpot Free/Starter: 100 requests per rolling 10 s
CLOZE_REQUESTS_PER_S = 4.0  # the Cloze connector's shipped pacing (Cloze documents no limit)


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1), "python": platform.python_version(),
            "platform": platform.platform(), "cpu": platform.processor() or platform.machine()}


def edit_one_percent(world: World, seeded: Seeded, rng: random.Random) -> int:
    """Edit 1% of the people in each system (last name in Cloze through its API, job title in HubSpot)."""
    import httpx

    count = max(1, len(seeded.cloze_people) // 100)
    with httpx.Client(base_url=world.cloze.url, params={"api_key": CLOZE_KEY, "user": CLOZE_USER}, timeout=60) as http:
        for n, direct in enumerate(rng.sample(seeded.cloze_people, count)):
            http.post("/v1/people/update", json={"direct": direct, "last": f"Renamed{n}"}).raise_for_status()
    for n, hub_id in enumerate(rng.sample(seeded.hub_people, count)):
        world.hubspot.update_object("contacts", hub_id, {"jobtitle": f"Retitled{n}"})
    return 2 * count


def runs_for(world: World, seeded: Seeded, size: int, scenario: Scenario, profile_dir: Path | None,
             time_limit: float | None) -> list[RunResult]:
    rng = random.Random(size)
    profile = profile_dir / f"initial-{scenario.name}-{size}.prof" if profile_dir else None
    initial = run_syncd(world, f"{scenario.name} N={size}: initial reconcile", "reconcile",
                        records=seeded.records, profile=profile, time_limit=time_limit)
    if initial.report.get("stopped_at_time_limit_s"):
        return [initial]
    # The first incremental run after a reconcile reads the reconcile's own writes back (its cursors were
    # taken before it started) and recognises them as echoes; later runs start from there.
    echo_profile = profile_dir / f"echoes-{scenario.name}-{size}.prof" if profile_dir else None
    echoes = run_syncd(world, f"{scenario.name} N={size}: sync after it (echoes)", "sync", profile=echo_profile)
    changed = edit_one_percent(world, seeded, rng)
    first = run_syncd(world, f"{scenario.name} N={size}: sync, 1% changed", "sync", records=changed)
    time.sleep(1.5)  # past the HubSpot poll's look-back (change_overlap_seconds = 1 s here)
    # It reads the previous run's writes back as echoes; the second one has nothing at all to read.
    quiet = run_syncd(world, f"{scenario.name} N={size}: sync, no change", "sync")
    time.sleep(1.5)
    idle = run_syncd(world, f"{scenario.name} N={size}: sync, no change again", "sync")
    changed = edit_one_percent(world, seeded, rng)
    again = run_syncd(world, f"{scenario.name} N={size}: sync, 1% changed again", "sync", records=changed)
    return [initial, echoes, first, quiet, idle, again]


def ceiling_share(result: RunResult) -> dict[str, float]:
    """Requests per second each side got, as a share of what its limit allows."""
    if result.wall_s <= 0:
        return {}
    return {"hubspot_share": round(result.hubspot_calls / result.wall_s / HUBSPOT_REQUESTS_PER_S, 3),
            "cloze_share": round(result.cloze_calls / result.wall_s / CLOZE_REQUESTS_PER_S, 3)}


def table(rows: list[dict[str, Any]]) -> str:
    cols = [("run", 44), ("exit", 4), ("wall s", 8), ("CPU s", 8), ("CPU ms/write", 12), ("rec/s", 8),
            ("Cloze calls", 11), ("HubSpot calls", 13), ("writes C/H", 13), ("peak MB", 8), ("limit share H/C", 15)]
    lines = [" ".join(name.ljust(width) for name, width in cols), " ".join("-" * width for _, width in cols)]
    for r in rows:
        share = f"{r['hubspot_share']:.0%}/{r['cloze_share']:.0%}" if "hubspot_share" in r else ""
        values = [r["label"], str(r["exit_code"]), f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}",
                  f"{r['cpu_ms_per_write']:.2f}" if r["cloze_writes"] + r["hubspot_writes"] else "",
                  f"{r['records_per_s']:.0f}" if r["records"] else "", str(r["cloze_calls"]), str(r["hubspot_calls"]),
                  f"{r['cloze_writes']}/{r['hubspot_writes']}", f"{r['peak_rss_mb']:.0f}", share]
        lines.append(" ".join(v[:w].ljust(w) for v, (_, w) in zip(values, cols)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="people per run on loopback (comma-separated)")
    parser.add_argument("--limited-sizes", default="200", help="people per run with 50 ms latency and limits on")
    parser.add_argument("--daemon-samples", type=int, default=5, help="edits timed per daemon mode (0: skip)")
    parser.add_argument("--daemon-people", type=int, default=1000, help="people in the daemon world")
    parser.add_argument("--people-only", action="store_true", help="no companies or deals")
    parser.add_argument("--json", type=Path, help="where to write the figures (default bench/results/<time>.json)")
    parser.add_argument("--profile", action="store_true", help="cProfile each initial reconcile and the echo sync after it (CPU time); print hot spots")
    parser.add_argument("--keep", action="store_true", help="keep the working directories")
    parser.add_argument("--time-limit", type=float, help="stop an initial reconcile after this many seconds "
                                                          "(SIGINT; its profile and progress are still reported)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    profile_dir = work / "profiles" if args.profile else None
    if profile_dir:
        profile_dir.mkdir()
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "people_only": args.people_only, "runs": [], "daemon": []}
    rows: list[dict[str, Any]] = []
    plans = [(Scenario("loopback"), int(s)) for s in args.sizes.split(",") if s]
    plans += [(Scenario("50ms+limits", latency_s=0.05, limits=True), int(s))
              for s in args.limited_sizes.split(",") if s]
    try:
        for scenario, size in plans:
            with open_world(work / f"{scenario.name}-{size}", scenario) as world:
                t0 = time.perf_counter()
                seeded = seed(world, size, with_companies=not args.people_only)
                print(f"# {scenario.name} N={size}: seeded {seeded.records} records in "
                      f"{time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
                for result in runs_for(world, seeded, size, scenario, profile_dir, args.time_limit):
                    row = {"scenario": scenario.name, "size": size, **result.as_dict()}
                    if scenario.limits:
                        row.update(ceiling_share(result))
                    rows.append(row)
                    results["runs"].append(row)
                    print(f"# {result.label}: exit {result.exit_code}, {result.wall_s:.1f}s, "
                          f"calls C/H {result.cloze_calls}/{result.hubspot_calls}", file=sys.stderr, flush=True)
        if args.daemon_samples:
            with open_world(work / "daemon", Scenario("loopback")) as world:
                seeded = seed(world, args.daemon_people, with_companies=False)
                run_syncd(world, "daemon world: initial reconcile", "reconcile", records=seeded.records)
                rng = random.Random(7)
                for mode in ("poll", "webhook"):
                    for delays in measure_daemon(world, mode, args.daemon_samples, 5.0, rng):
                        results["daemon"].append(delays.as_dict())
    finally:
        results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        out = args.json or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str))
        print(table(rows))
        for d in results["daemon"]:
            print(f"daemon {d['mode']:8} {d['direction']:16} median {d['median_s']}s  p90 {d['p90_s']}s  "
                  f"max {d['max_s']}s  ({d['samples']} edits; poll interval 5 s, webhook debounce 2 s)")
        for row in rows:
            if "initial" in row["label"]:
                spent = row["report"].get("emulator_time_by_route", [])
                total = sum(r["seconds"] for r in spent)
                print(f"emulators' answering time in '{row['label']}' (top routes, {total:.1f}s): " + "; ".join(
                    f"{r['route']} {r['seconds']}s/{r['calls']} calls" for r in spent[:4]))
                if row["report"].get("stopped_at_time_limit_s"):
                    print(f"  stopped at the time limit; progress (s, Cloze writes, HubSpot writes): "
                          f"{row['report']['progress_s_cloze_writes_hubspot_writes']}")
        m = results["machine"]
        print(f"machine: {m['nproc']} CPUs, {m['memory_gb']} GB, Python {m['python']}, {m['platform']}")
        print(f"figures written to {out}")
        if profile_dir:
            for prof in sorted(profile_dir.glob("*.prof")):
                print(f"\n--- hot spots of {prof.stem} (internal time) ---")
                pstats.Stats(str(prof)).sort_stats("tottime").print_stats(15)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
