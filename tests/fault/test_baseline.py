"""Without faults: the reference the fault suites compare to. A first reconcile converges in one run.

The second case is a found bug, kept failing until it is fixed: a person whose
company is known only through a relation (a HubSpot contact associated with a
company but with no ``company`` text, or a Cloze person linked to a company
with no job title entry) needs two runs. The first run links the person to the
company on the other side; Cloze then derives the person's company name from
that relation (``connectors/cloze/mapping.py`` ``work()``), which the engine
did not write and so does not record in the link's base, and the second run
copies that derived name across (``external.person.update``).
"""

from __future__ import annotations

from pathlib import Path

from tests.fault.world import check_joined, check_no_duplicates, cloze_person, describe, open_world, populate


def test_first_reconcile_converges_and_the_second_writes_nothing(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        pop = populate(world, seed=1, cloze_people=20, hub_people=20, overlap=5, companies=4, deals=4)
        proc = world.syncd("reconcile")
        assert proc.returncode == 0, describe(proc)
        check_no_duplicates(world)
        check_joined(world, pop)
        before = world.writes()
        report = world.run("full")
        assert report.total_writes == 0 and world.writes() == before, report.as_dict()


def test_company_known_only_through_a_relation_converges_in_one_run(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        company = world.hubspot.add_object("companies", {"name": "Relation Only Ltd", "domain": "relonly.example"})
        world.hubspot.add_object("contacts", {"email": "rel@relonly.example", "firstname": "Rel", "lastname": "Only"},
                                 {"companies": [company]})
        first = world.run("full")
        assert first.exit_code() == 0, first.as_dict()
        second = world.run("full")
        assert second.total_writes == 0, f"the second reconcile wrote {dict(second.writes)}"


def test_relation_to_a_record_created_in_the_same_run_reaches_the_other_side(tmp_path: Path) -> None:
    """A found bug, kept failing until fixed: people are synced before companies, so a Cloze person's
    relation to a Cloze company that HubSpot does not have yet cannot become an association; the link's
    base then records the two sides as different (``base_external``) and no later run ever writes the
    association, so the pair never converges on ``companies`` (until ``state rebuild`` resets the base)."""
    with open_world(tmp_path) as world:
        world.cloze.add_record("company", {"name": "Acme Anvils", "domains": ["acme-anvils.example"]})
        world.cloze.add_record("person", cloze_person("Wile", "Coyote", "wile@acme-anvils.example",
                                                      companies=[{"domains": ["acme-anvils.example"]}],
                                                      workHistory=[{"organization": "Acme Anvils"}]))
        for _ in range(2):
            assert world.run("full").exit_code() == 0
        [contact] = world.hubspot.objects("contacts")
        [company] = world.hubspot.objects("companies")
        associated = world.hubspot.associations("contacts", contact["id"], "companies")
        assert associated == [company["id"]], f"contact {contact['id']} is associated with {associated}"
