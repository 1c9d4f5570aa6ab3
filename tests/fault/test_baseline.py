"""Without faults: the reference the fault suites compare to. A first reconcile converges in one run.

The other two cases guard relations to records created in the same run (both
found by this suite): a person whose company is known only through a relation
once needed a second run (Cloze derives the person's company name from the
relation, a side effect the first run did not record), and a person's relation
to a company created later in the same run never became an association (the
link's base recorded the sides as different, so no later run wrote it).
Syncing companies before people fixed both.
"""

from __future__ import annotations

from pathlib import Path

from tests.fault.checks import check_joined, check_no_duplicates
from tests.fault.seeding import cloze_person, populate
from tests.fault.world import describe, open_world


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
    """The association is made in the first run, not left out and recorded as a difference."""
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
