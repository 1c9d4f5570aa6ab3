"""The copy rate of ``syncd state migrate``: a SQLite state database of N links (and N/50 conflicts,
cursors and runs) copied into PostgreSQL, verified by per-table digests.

    python bench/migrate.py [--links 100000] [--url postgresql://USER@HOST:PORT/EMPTY_DB]

Without ``--url`` a throw-away server from :mod:`state.pgserver` is started (``initdb`` in a temporary directory,
fsync off, as the tests run it). Prints the rows copied, the copy alone in rows/s (reading SQLite
and ``COPY`` into PostgreSQL), and the whole migration with both sides' digests and the commit.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from state.pgserver import running_postgres
from state.store import NewLink, StateStore
from state.transfer import migrate


def build_source(path: Path, links: int) -> None:
    store = StateStore.open(path)
    with store.transaction() as s:
        for start in range(0, links, 10_000):
            StateStore.save_new_links(s, pair="bench", entity="person", app_id="bench.example", links=[
                NewLink(f"c{i}", f"e{i}", {"name": f"Person {i}", "emails": [f"p{i}@x.example"], "title": "CEO"},
                        {"name": f"PERSON {i}"}, 1_796_108_602_194 + i, 1_796_108_602_194 + i)
                for i in range(start, min(start + 10_000, links))])
        for i in range(links // 50):
            StateStore.record_conflict(s, run_id="r0", pair="bench", entity="person", link_id=i + 1,
                                       cloze_id=f"c{i}", external_id=f"e{i}", field="title", base='"CEO"',
                                       cloze_value='"CTO"', external_value='"CFO"', policy="manual",
                                       outcome="pending", status="open")
        for side in ("cloze", "external"):
            StateStore.set_cursor(s, "bench", "person", side, "2026-12-01T00:00:00Z")
    for n in range(20):
        store.start_run(f"r{n}", "bench", "incremental")
        store.finish_run(f"r{n}", "ok", {"read": n}, None)
    store.close()


@contextmanager
def target(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with running_postgres() as server:
        yield server.new_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "state.db"
        t0 = time.perf_counter()
        build_source(source, args.links)
        print(f"source: {args.links} links, {source.stat().st_size / 1e6:.1f} MB, built in "
              f"{time.perf_counter() - t0:.1f} s")
        with target(args.url) as url:
            report = migrate(source, url)
    for t in report.tables:
        print(f"  {t.table:<14} {t.rows:>9} rows")
    print(f"copied {report.rows} rows in {report.copy_seconds:.2f} s: {report.rows_per_second:,.0f} rows/s "
          f"(target >= 20,000)")
    print(f"whole migration with both sides' digests: {report.total_seconds:.2f} s "
          f"({report.rows / report.total_seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
