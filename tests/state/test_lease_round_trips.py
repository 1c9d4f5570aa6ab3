"""What a lease claim cycle costs the PostgreSQL server, as the server sees it: claim, renew and
release are one statement each (no ``BEGIN``/``COMMIT`` around them, no liveness ping per pooled
connection), and a pooled connection the server closed is replaced without a failed call."""

from __future__ import annotations

import re
import time
from collections import Counter

from state.store import StateStore
from tests.pgserver import PostgresServer

CYCLES = 10


def _statements(server: PostgresServer, since: int) -> Counter[str]:
    """The first word of each statement the server logged after byte ``since`` of its log."""
    assert server.data is not None
    text = (server.data.parent / "server.log").read_text(errors="replace")[since:]
    found = re.findall(r"LOG:  (?:statement|execute [^:]*): (\S+)", text)
    return Counter(word.upper().rstrip(";") or ";" for word in found)


def test_a_claim_renew_release_cycle_is_three_statements(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    store = StateStore.open(url)
    try:
        postgres.admin(f"ALTER DATABASE \"{url.rsplit('/', 1)[1]}\" SET log_statement = 'all'")
        store.engine.dispose()  # the setting applies to new connections
        assert postgres.data is not None
        log = postgres.data.parent / "server.log"
        since = log.stat().st_size
        for i in range(CYCLES):
            epoch = store.claim_lease(f"p{i}", "worker-a", 60)
            assert epoch is not None
            assert store.renew_lease(f"p{i}", "worker-a", epoch, 60)
            store.release_lease(f"p{i}", "worker-a", epoch)
        deadline = time.monotonic() + 10
        while sum(_statements(postgres, since).values()) < 3 * CYCLES and time.monotonic() < deadline:
            time.sleep(0.05)  # the log is written by the server's own process
        seen = _statements(postgres, since)
        assert seen == Counter({"INSERT": CYCLES, "UPDATE": 2 * CYCLES}), seen
    finally:
        store.close()


def test_a_pooled_connection_the_server_closed_is_replaced_unnoticed(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    store = StateStore.open(url)
    try:
        epoch = store.claim_lease("p", "worker-a", 60)
        assert epoch is not None
        # The server ends every connection of this database (as a restart or an idle timeout does).
        postgres.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{url.rsplit('/', 1)[1]}' AND pid <> pg_backend_pid()")
        time.sleep(0.2)
        assert store.renew_lease("p", "worker-a", epoch, 60)  # on a new connection, not an error
        store.release_lease("p", "worker-a", epoch)
        assert store.lease_holder("p") is None
    finally:
        store.close()
