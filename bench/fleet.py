"""The fleet on PostgreSQL and procrastinate: coordination rate, webhook-to-run latency, fair
scheduling, and a quiet run's CPU against the pair's size.

    python bench/fleet.py [--threads 8] [--processes 1] [--cycles 4000] [--pairs 60] [--workers 3] [--concurrency 4]
                          [--interval 5] [--seconds 30] [--webhooks 40] [--sizes 100,1000]

A throwaway PostgreSQL server is started (``initdb`` in a temporary directory, fsync off, as the
tests run it). Four measurements:

1. **claim cycles/s**: ``--processes`` processes of ``--threads`` threads claim, renew and release pair leases
   (``StateStore.claim_lease`` / ``renew_lease`` / ``release_lease``: the statements every run
   makes) over ``--cycles`` distinct pairs; target at least 1,000 cycles/s.
2. **fair scheduling**: ``--pairs`` small pairs (each its own Cloze emulator, two people) over
   ``--workers`` real ``syncd worker`` processes for ``--seconds``, from when the first round (each
   pair's initial sync) is worked off: runs per pair, Jain's index (target at least 0.95), the
   schedule lag (p50/p99, sampled every half second; target p99 < 10 s), and the CPU per run of the
   workers, of the PostgreSQL server and of this process (the emulators). Linux (``/proc``).
3. **webhook-to-run**: ``--webhooks`` webhook runs queued one after another (as a delivery does, with
   the default ``webhook_debounce``; the workers poll at the default ``poll``) on that fleet; the time from queueing to the run's start in the ``runs`` table (target p99 < 2 s).
4. **quiet-run CPU**: in this process, the CPU time of a quiet incremental run (nothing changed)
   on the thread that runs it, and the SQL statements it sends to the state database, for pairs
   of each of ``--sizes`` people, after their initial sync and the run that reads its echoes.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event

from config.loader import load_config
from config.models import FleetConfig
from state import schedule
from state.store import StateStore
from syncd.engine.runner import sync_pair
from syncd.fleet.app import enqueue, new_app
from tests.fleet.rig import Fleet, jain
from tests.pgserver import PostgresServer, running_postgres


def claim_cycles(server: PostgresServer, url: str, threads: int, cycles: int,
                 processes: int = 1) -> tuple[float, float, float]:
    """Cycles per second over ``processes`` processes of ``threads`` threads each (a fleet's workers are
    processes: one process's threads share one interpreter lock), and the CPU ms per cycle of the
    clients and of the server: what the rate would be on an idle machine does not depend on the load."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    done = ctx.Queue()
    per_process = cycles // processes
    procs = [ctx.Process(target=_claim_process, args=(url, p, threads, per_process, start, done))
             for p in range(processes)]
    for proc in procs:
        proc.start()
    start.wait()
    server_cpu = server_cpu_seconds(server)
    started = time.perf_counter()
    finished = [done.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - started
    server_cpu = server_cpu_seconds(server) - server_cpu
    for proc in procs:
        proc.join()
    count = sum(n for n, _ in finished)
    return count / elapsed, sum(cpu for _, cpu in finished) / count * 1000, server_cpu / count * 1000


def server_cpu_seconds(server: PostgresServer) -> float:
    """User + system CPU of the server's processes so far (the postmaster's children, from /proc)."""
    assert server.data is not None
    postmaster = (server.data / "postmaster.pid").read_text().split()[0]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if fields[1] == postmaster:
            total += int(fields[11]) + int(fields[12])  # utime, stime
        elif stat.parent.name == postmaster:
            total += sum(int(f) for f in fields[11:15])  # and its ended children's (cutime, cstime)
    return total / tick


def _claim_process(url: str, p: int, threads: int, cycles: int, start: Any, done: Any) -> None:
    store = StateStore.open(url, connections=threads)
    per_thread = cycles // threads
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            pair, owner = f"bench-{p}-{t}-{i}", f"bench:{p}:{t}:{i}"
            epoch = store.claim_lease(pair, owner, 60)
            assert epoch is not None
            assert store.renew_lease(pair, owner, epoch, 60)
            store.release_lease(pair, owner, epoch)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    start.wait()
    cpu = time.process_time()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    cpu = time.process_time() - cpu
    store.close()
    done.put((per_thread * threads, cpu))


_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (with its waited-for children's), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / _TICKS


def _fleet_cpu(fleet: Fleet) -> dict[str, float]:
    """CPU seconds so far of the workers, of the PostgreSQL server's processes (its backends that
    ended are counted in the postmaster's children) and of this process (the emulators)."""
    postgres = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                postgres += _process_cpu(int(entry.name), children=True)
        except OSError:
            pass  # a backend that ended meanwhile
    return {"workers": sum(_process_cpu(w.pid) for w in fleet.workers), "postgres": postgres,
            "emulators": time.process_time()}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def fleet_figures(tmp: Path, url: str, args: argparse.Namespace) -> None:
    fleet = Fleet(tmp, url)
    try:
        pairs = fleet.add_pairs(args.pairs, seed_people=2)
        config = fleet.write_config(interval=args.interval, concurrency=args.concurrency)
        # The worker's own defaults for how often it polls and how long a delivery's run waits.
        defaults = FleetConfig()
        config.write_text(config.read_text().replace('poll = "0.5s"', f'poll = "{defaults.poll}s"')
                          .replace('webhook_debounce = "0.2s"', f'webhook_debounce = "{defaults.webhook_debounce}s"'))
        for _ in range(args.workers):
            fleet.start_worker()
        fleet.wait_until(lambda: {r["pair"] for r in fleet.runs()} >= set(pairs), 120, "every pair ran once")
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

        def lag() -> float:
            with engine.connect() as conn:
                return schedule.lag_ms(conn, schedule.db_now_ms(conn)) / 1000
        # the steady state: after the first round (each pair's initial sync) is worked off
        fleet.wait_until(lambda: lag() < 1.0, 2 * args.interval + 60, "the first round's backlog worked off")
        cpu_before = _fleet_cpu(fleet)
        start_ms, lags = int(time.time() * 1000), []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            lags.append(lag())
            time.sleep(0.5)
        end_ms = int(time.time() * 1000)
        cpu = {k: v - cpu_before[k] for k, v in _fleet_cpu(fleet).items()}
        window = Counter(r["pair"] for r in fleet.runs() if start_ms <= r["started_at"] < end_ms)
        counts = [window.get(p, 0) for p in pairs]
        runs = max(1, sum(counts))
        print(f"fair scheduling: {args.pairs} pairs, {args.workers} workers x {args.concurrency}, interval "
              f"{args.interval:g} s, {args.seconds:g} s: runs per pair min {min(counts)} / max {max(counts)}, "
              f"Jain {jain(counts):.3f}; schedule lag p50 {pct(lags, 0.5):.2f} s, p99 {pct(lags, 0.99):.2f} s")
        print(f"CPU per run in that window ({runs} runs): workers {cpu['workers'] / runs * 1000:.1f} ms, "
              f"PostgreSQL {cpu['postgres'] / runs * 1000:.1f} ms, the emulators' process "
              f"{cpu['emulators'] / runs * 1000:.1f} ms")

        app = new_app(url)
        latencies = []
        with app.open():
            for i in range(args.webhooks):
                pair = pairs[i % len(pairs)]
                seen = {r["id"] for r in fleet.runs(pair)}
                queued_ms = int(time.time() * 1000)
                enqueue(app, pair, "webhook", delay=defaults.webhook_debounce)  # what a delivery does
                def new_run(pair: str = pair, seen: set[str] = seen, queued_ms: int = queued_ms) -> list[Any]:
                    return [r for r in fleet.runs(pair) if r["id"] not in seen and r["started_at"] >= queued_ms]

                started = fleet.wait_until(new_run, 30, "the webhook's run started")
                latencies.append((started[0]["started_at"] - queued_ms) / 1000)
        print(f"webhook-to-run (poll {defaults.poll:g} s, debounce {defaults.webhook_debounce:g} s): "
              f"{len(latencies)} runs, p50 {pct(latencies, 0.5):.3f} s, "
              f"p99 {pct(latencies, 0.99):.3f} s, max {max(latencies):.3f} s")
        engine.dispose()
    finally:
        fleet.close()


def quiet_run_cpu(tmp: Path, url_for: Callable[[], str], sizes: list[int]) -> None:
    for size in sizes:
        fleet = Fleet(tmp / f"quiet-{size}", url_for())
        (tmp / f"quiet-{size}").mkdir()
        try:
            [pair] = fleet.add_pairs(1, seed_people=size, prefix=f"quiet{size}x")  # a memory backend of its own
            loaded = load_config(fleet.write_config())
            store = StateStore.open(fleet.db_url)
            first = sync_pair(loaded, pair, store=store)
            assert first.ok, first.error
            sync_pair(loaded, pair, store=store)  # reads the first run's writes back (its echoes)
            cpu, statements = [], []
            sent: list[str] = []
            event.listen(store.engine, "before_cursor_execute", lambda *args, sent=sent: sent.append(args[2]))
            for _ in range(5):
                sent.clear()
                before = time.thread_time()
                report = sync_pair(loaded, pair, store=store)
                cpu.append(time.thread_time() - before)
                statements.append(len(sent))
                assert report.ok and not any(report.writes.values()), report.writes
            links = store.link_count(pair)
            store.close()
            print(f"quiet run, {links} links: CPU median {statistics.median(cpu) * 1000:.0f} ms "
                  f"(min {min(cpu) * 1000:.0f} ms), {statistics.median(statements):.0f} SQL statements")
        finally:
            fleet.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--webhooks", type=int, default=40)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--only", choices=["claims", "fleet", "quiet"], default=None)
    args = parser.parse_args()

    os.environ.setdefault("SYNCD_TEST_CLOZE_KEY", "")
    from tests.fleet.rig import ENV

    os.environ.update(ENV)
    with running_postgres() as server, tempfile.TemporaryDirectory(prefix="syncd-fleet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "claims"):
            rate, client_ms, server_ms = claim_cycles(server, server.new_database(), args.threads, args.cycles,
                                                      args.processes)
            print(f"claim cycles: {args.cycles} over {args.processes} process(es) x {args.threads} threads, "
                  f"{rate:,.0f} cycles/s; CPU per cycle: clients {client_ms:.2f} ms, server {server_ms:.2f} ms")
        if args.only in (None, "fleet"):
            (tmp / "fleet").mkdir()
            fleet_figures(tmp / "fleet", server.new_database(), args)
        if args.only in (None, "quiet"):
            quiet_run_cpu(tmp, server.new_database, [int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
