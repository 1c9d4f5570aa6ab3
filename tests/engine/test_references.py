"""Reference fields (a person's companies, a project's people and companies) cross the engine as ids.

Each side reads and writes its own record ids; the engine translates them through the link
table. So a relation needs no e-mail or domain, and a reference to a record not linked yet
waits for the link (a field problem retried next run) instead of carrying a wrong value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.engine.harness import World


def _counterpart(world: World, entity: str, *, cloze_id: str | None = None, external_id: str | None = None) -> str:
    for link in world.links(entity):
        if cloze_id is not None and link.cloze_id == cloze_id:
            return str(link.external_id)
        if external_id is not None and link.external_id == external_id:
            return str(link.cloze_id)
    raise AssertionError(f"no {entity} link for {cloze_id or external_id}")


def _find(backend: Any, entity: str, **wanted: str) -> tuple[str, Mapping[str, Any]]:
    found = [(rid, item.fields) for rid, item in backend.items[entity].items()
             if all(item.fields.get(k) == v for k, v in wanted.items())]
    assert len(found) == 1, found
    return found[0]


def test_a_person_without_email_relates_to_a_company_without_domain_both_ways() -> None:
    world = World()
    try:
        gamma = world.cloze.put("company", {"name": "Gamma", "phones": ["+1 555 0100"]})
        dee = world.cloze.put("person", {"first": "Dee", "phones": ["+1 555 0101"], "companies": [gamma]})
        delta = world.ext.put("company", {"name": "Delta"})
        eve = world.ext.put("person", {"first": "Eve", "phones": ["+1 555 0102"], "companies": [delta]})
        world.ext.put("project", {"name": "Deal", "people": [eve], "companies": [delta]})

        report = world.run("full")

        assert report.ok and report.record_errors == 0, world.store.open_errors("p")
        ext_dee = _counterpart(world, "person", cloze_id=dee)
        assert world.ext.items["person"][ext_dee].fields["companies"] == [_counterpart(world, "company", cloze_id=gamma)]
        cloze_eve = _counterpart(world, "person", external_id=eve)
        cloze_delta = _counterpart(world, "company", external_id=delta)
        assert world.cloze.items["person"][cloze_eve].fields["companies"] == [cloze_delta]
        _, deal = _find(world.cloze, "project", name="Deal")
        assert deal["people"] == [cloze_eve] and deal["companies"] == [cloze_delta]

        # Both sides agree: a second run writes nothing.
        writes = world.writes()
        assert world.run("full").ok and world.writes() == writes

        # A relation changed on one side follows on the other, by id.
        world.ext.edit("person", eve, companies=[])
        world.cloze.edit("person", dee, companies=[gamma, cloze_delta])
        assert world.run("incremental").ok
        assert world.cloze.items["person"][cloze_eve].fields["companies"] == []
        assert sorted(world.ext.items["person"][ext_dee].fields["companies"]) == sorted(
            [_counterpart(world, "company", cloze_id=gamma), delta])
    finally:
        world.close()


def test_a_reference_to_a_record_not_linked_yet_waits_and_resolves_next_run() -> None:
    world = World()
    try:
        delta = world.ext.put("company", {"name": "Delta"})
        eve = world.ext.put("person", {"first": "Eve", "phones": ["+1 555 0102"], "companies": [delta]})
        world.cloze.reject = lambda op, entity, fields: "company refused" if entity == "company" else None

        report = world.run("full")

        # Eve is created without her company (never with a wrong one) and the reference is a recorded
        # problem of that field, retried next run.
        cloze_eve = _counterpart(world, "person", external_id=eve)
        assert world.cloze.items["person"][cloze_eve].fields.get("companies") in (None, [])
        waiting = [e for e in world.store.open_errors("p") if e.entity == "person"]
        assert [(e.record_id, e.field, e.code) for e in waiting] == [(eve, "companies", "unresolved_reference")]
        assert report.record_errors == 2  # the refused company, and the reference waiting for it

        world.cloze.reject = None
        assert world.run("incremental").ok
        cloze_delta = _counterpart(world, "company", external_id=delta)
        assert world.cloze.items["person"][cloze_eve].fields["companies"] == [cloze_delta]
        assert world.store.open_errors("p") == []
        writes = world.writes()
        assert world.run("incremental").ok and world.writes() == writes
    finally:
        world.close()


def test_a_reference_the_other_side_cannot_resolve_is_never_written_as_a_raw_id() -> None:
    """A Cloze person whose company is out of the sync's scope: the external side never receives a Cloze id."""
    world = World(entities={"company": {"filters": {"tags": ["synced"]}}})
    try:
        private = world.cloze.put("company", {"name": "Private", "phones": ["+1 555 0103"], "tags": ["private"]})
        dee = world.cloze.put("person", {"first": "Dee", "phones": ["+1 555 0101"], "companies": [private]})

        world.run("full")

        ext_dee = _counterpart(world, "person", cloze_id=dee)
        assert world.ext.items["person"][ext_dee].fields.get("companies") in (None, [])
        [waiting] = [e for e in world.store.open_errors("p") if e.entity == "person"]
        assert (waiting.record_id, waiting.field, waiting.code) == (dee, "companies", "unresolved_reference")
    finally:
        world.close()


def test_a_reference_field_named_in_the_config_to_a_kind_the_pair_does_not_sync_is_left_out_with_a_note() -> None:
    world = World(entities={"company": {"enabled": False},
                            "person": {"fields": {"first": {}, "phones": {}, "companies": {}}}})
    try:
        world.cloze.put("person", {"first": "Dee", "phones": ["+1 555 0101"], "companies": ["c-unsynced"]})
        report = world.run("full")
        assert report.ok and report.record_errors == 0
        assert any("entities.person.fields.companies is not synced: it refers to company records" in note
                   for note in report.notes), report.notes
        [person] = world.ext.items["person"].values()
        assert "companies" not in person.fields
    finally:
        world.close()


def test_by_default_a_reference_to_a_kind_the_pair_does_not_sync_is_left_out() -> None:
    world = World(entities={"company": {"enabled": False}})
    try:
        world.cloze.put("person", {"first": "Dee", "phones": ["+1 555 0101"], "companies": ["c-unsynced"]})
        report = world.run("full")
        assert report.ok and report.record_errors == 0
        [person] = world.ext.items["person"].values()
        assert "companies" not in person.fields
    finally:
        world.close()


def test_a_reference_added_to_a_linked_record_waits_for_its_target_and_is_then_written() -> None:
    """Both bases keep the field's old value while it waits, so the next run sees the change again."""
    world = World(entities={"company": {"filters": {"tags": ["synced"]}}})
    try:
        dee = world.cloze.put("person", {"first": "Dee", "phones": ["+1 555 0101"]})
        world.run("full")
        ext_dee = _counterpart(world, "person", cloze_id=dee)
        later = world.cloze.put("company", {"name": "Later", "phones": ["+1 555 0103"], "tags": ["private"]})
        world.cloze.edit("person", dee, companies=[later])

        world.run("incremental")
        assert world.ext.items["person"][ext_dee].fields.get("companies") in (None, [])
        [waiting] = world.store.open_errors("p")
        assert (waiting.record_id, waiting.field, waiting.code) == (dee, "companies", "unresolved_reference")

        world.cloze.edit("company", later, tags=["synced"])  # now in scope: created and linked next run
        assert world.run("incremental").ok
        assert world.ext.items["person"][ext_dee].fields["companies"] == [_counterpart(world, "company", cloze_id=later)]
        assert world.store.open_errors("p") == []
    finally:
        world.close()


def test_a_page_of_people_naming_companies_costs_a_few_link_queries_not_one_per_person() -> None:
    """Reading the people's company ids back through the link table is asked per page, not per record."""
    world = World()
    try:
        firms = [world.ext.put("company", {"name": f"Firm {i}"}) for i in range(40)]
        people = [world.ext.put("person", {"first": f"P{i}", "phones": [f"+1 555 01{i:02d}"], "companies": [firm]})
                  for i, firm in enumerate(firms)]
        assert world.run("full").ok
        for i, person in enumerate(people):
            world.ext.edit("person", person, first=f"Q{i}")
        queries: list[int] = []
        counterparts = world.store.counterparts

        def counted(pair: str, entity: str, side: Any, record_ids: list[str]) -> dict[str, str | None]:
            queries.append(len(record_ids))
            return counterparts(pair, entity, side, record_ids)

        world.store.counterparts = counted  # type: ignore[method-assign]
        report = world.run("incremental")
        assert report.ok and report.record_errors == 0
        assert all(f"Q{i}" == world.cloze.items["person"][_counterpart(world, "person", external_id=p)].fields["first"]
                   for i, p in enumerate(people))
        assert 0 < len(queries) <= 4, queries  # 40 people, each naming a company
    finally:
        world.close()
