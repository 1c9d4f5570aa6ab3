"""Salesforce as the external side: an initial reconcile of N Cloze people into an empty org.

    python bench/salesforce.py [--people 10000] [--daily-limit 100000]

Reports the Salesforce calls per record written (creates are upserts of 200 records per sObject
Collections call), the share of the org's daily API allowance the run used, the calls by resource,
and the calls of a second reconcile (which writes nothing). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.cloze.emulator import ClozeEmulator
from connectors.cloze.seed import seed_emulator
from connectors.salesforce.emulator import SalesforceEmulator
from state.store import StateStore
from syncd.check import load_config
from syncd.engine.runner import sync_pair
from syncd.sandbox_files import CLOZE_KEY
from syncd.sandbox_salesforce import SALESFORCE_SESSION, write_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000, help="Cloze people (companies and deals follow)")
    parser.add_argument("--daily-limit", type=int, default=100_000, help="the emulated org's daily API allowance")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-salesforce-"))
    with ClozeEmulator(api_key=CLOZE_KEY, user="sandbox@example.com", seed=7) as cloze, \
            SalesforceEmulator(SALESFORCE_SESSION, daily_api_limit=args.daily_limit) as salesforce:
        seeded = seed_emulator(cloze, args.people, 7)
        loaded = load_config(write_config(work, cloze.url, salesforce.url))
        store = StateStore.open(loaded.state_path)
        try:
            wall, cpu = time.time(), time.process_time()
            first = sync_pair(loaded, "sandbox", store=store, mode="full")
            wall, cpu = time.time() - wall, time.process_time() - cpu
            stats = salesforce.stats
            calls, written = stats.api_calls, stats.records_created + stats.records_updated
            print(f"seeded {seeded}; initial reconcile ok={first.ok} record errors={first.record_errors}")
            print(f"Salesforce: {calls} calls for {written} records written = {calls / max(1, written):.4f} "
                  f"calls per record; {100 * calls / args.daily_limit:.2f}% of a daily allowance of "
                  f"{args.daily_limit}")
            print(f"calls by resource: {dict(sorted(stats.by_route.items()))}")
            print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (both emulators in this process), peak "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
            second = sync_pair(loaded, "sandbox", store=store, mode="full")
            print(f"second reconcile: {second.total_writes} writes, {stats.api_calls - calls} Salesforce calls")
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
