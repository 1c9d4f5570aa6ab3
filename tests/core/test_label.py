"""record_label: the name an operator sees for a record in errors, conflicts and the status page."""

from __future__ import annotations

import pytest

from syncd.core.label import record_label


@pytest.mark.parametrize(("entity", "values", "label"), [
    ("person", {"first": "Ann", "last": "Lee", "emails": frozenset({"b@x.example", "ann@x.example"})},
     "Ann Lee <ann@x.example>"),  # the first e-mail in order, whatever the set's order
    ("person", {"first": "Ann", "emails": ["", "ann@x.example"]}, "Ann <ann@x.example>"),
    ("person", {"last": "Lee"}, "Lee"),
    ("person", {"first": "", "last": "", "emails": ["ann@x.example"]}, "ann@x.example"),
    ("person", {"emails": "solo@x.example"}, "solo@x.example"),
    ("person", {"emails": ""}, None),
    ("person", {"emails": [""]}, None),
    ("person", {"emails": 7}, None),  # a value of no known shape names nothing
    ("person", {"first": "Ann", "last": "Lee", "emails": []}, "Ann Lee"),
    ("company", {"name": "Acme", "domains": ["b.example", "acme.example"]}, "Acme (acme.example)"),
    ("company", {"name": "Acme"}, "Acme"),
    ("company", {"domains": ["acme.example"]}, "acme.example"),
    ("company", {"name": ""}, None),
    ("project", {"name": "Roof", "domains": ["acme.example"]}, "Roof"),
    ("project", {"summary": "no name"}, None),
    ("person", {}, None),
    ("company", None, None),
    ("deal", {"name": "Big one", "emails": ["x@x.example"]}, "Big one"),  # a kind with no label spec: its name
])
def test_record_label(entity: str, values: dict[str, object] | None, label: str | None) -> None:
    assert record_label(entity, values) == label
