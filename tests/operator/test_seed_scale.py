"""The seed generators produce any number of records, each person with their own e-mail address."""

from __future__ import annotations

import pytest

from connectors.cloze.seed import generate
from connectors.hubspot.seed import build_dataset


@pytest.mark.timeout(60)
def test_hubspot_seed_scales_past_its_name_pool() -> None:
    # 24 first x 20 last names = 480 combinations; the sandbox asks for people // 3 contacts.
    data = build_dataset(7, companies=16, contacts=6667, deals=2000)
    assert len(data.contacts) == 6667
    emails = [c.properties["email"] for c in data.contacts]
    assert len(set(emails)) == len(emails)
    # While the pool lasts names stay unique, so small seeds are unchanged.
    names = [(c.properties["firstname"], c.properties["lastname"]) for c in data.contacts[:480]]
    assert len(set(names)) == 480
    assert build_dataset(7, companies=16, contacts=6667, deals=2000) == data


@pytest.mark.timeout(60)
def test_cloze_seed_of_twenty_thousand_people_is_quick_and_unique() -> None:
    data = generate(20_000, 7)
    assert len(data.people) == 20_000
    emails = [p["emails"][0]["value"] for p in data.people]
    assert len(set(emails)) == len(emails)
    assert all(p.get("clientcompanies") for p in data.projects)
