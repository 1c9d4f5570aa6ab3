"""Records found by their Cloze identity in batches: one batch read per ``batch_size`` identities."""

from __future__ import annotations

from connectors.hubspot import HubSpotConnector
from connectors.hubspot.emulator import HubSpotEmulator
from connectors.model import UpdateRequest
from tests.hubspot.conftest import ConnectorFactory


def test_find_linked_many_reads_one_batch_per_batch_size(make_connector: ConnectorFactory,
                                                         emulator: HubSpotEmulator) -> None:
    connector: HubSpotConnector = make_connector(batch_size=100)
    ids = [emulator.add_object("contacts", {"email": f"p{i}@acme.example"}) for i in range(250)]
    marked = connector.update("person", [UpdateRequest(rid, {}, cloze_ref=f"cz-{i}") for i, rid in enumerate(ids)])
    assert all(r.ok for r in marked)
    wanted = [f"cz-{i}" for i in range(250)] + ["cz-nobody"]
    before = emulator.stats.snapshot()["by_route"]

    found = connector.find_linked_many("person", wanted)

    after = emulator.stats.snapshot()["by_route"]
    calls = {route: n - before.get(route, 0) for route, n in after.items() if n != before.get(route, 0)}
    assert {ref: record.id for ref, record in found.items()} == {f"cz-{i}": rid for i, rid in enumerate(ids)}
    # 251 identities: three batch reads, and the associations of what they found (it was one of each per identity)
    assert calls == {"objects.batch.read": 3, "associations.batch.read": 3}
    assert connector.find_linked("person", "cz-7").id == ids[7]  # type: ignore[union-attr]
    assert connector.find_linked("person", "cz-nobody") is None
