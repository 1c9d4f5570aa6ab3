"""Value types of a create/update body, as the Swagger schemas (PersonRef, CompanyRef, ProjectRef) give them.

The schemas type every field; Cloze's reaction to a value of the wrong type is
not documented. With ``value_validation = "reject"`` (the default) the
emulator answers such a body like its other bad values: errorcode 26 "An
invalid value was provided for the <field>: <value>", nothing written.
``"store"`` keeps whatever is sent (the schemaless reading). Unknown keys are
never checked: the API ignores them (EMULATOR_CHOICES.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.cloze.emulator.errors import Rejected
from connectors.model import Entity

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_STRINGS = frozenset(
    (
        "name", "first", "middle", "last", "headline", "household", "picture", "gender", "formality",
        "birthday", "locale", "country", "location", "stage", "segment", "step", "atAGlanceNotes", "notes",
        "campaignId", "bucket", "visibility", "description", "industry", "businessSize", "employees",
        "summary", "node", "createdDate", "startDate", "pendingDate", "endDate", "assignTo",
        "defaultStage", "defaultSegment", "defaultStep", "defaultAssignTo", "defaultNode",
        "replaceIdentity", "splitAt", "dateFormat", "shareTo", "account",
    )
)  # fmt: skip
_FLAGS = frozenset(
    ("private", "archived", "dryrun", "skipImport", "skipWithoutIds", "forceCreate", "allpictures",
     "stripAliases", "shareTimeline", "recycleStage", "recycleSegment")
)  # fmt: skip
_ELEMENT_STRINGS = frozenset(
    ("value", "type", "street", "suite", "pobox", "city", "region", "country", "postcode", "mlsid",
     "formatted", "name", "address", "organization", "title", "source", "uniqueid", "label", "url")
)  # fmt: skip
_ELEMENT_FLAGS = frozenset(("work", "home", "mobile", "preferred", "archived"))
_ELEMENT_ARRAYS = ("emails", "phones", "faxes", "addresses", "socials", "urls", "workHistory", "appLinks")
_STRING_LISTS = ("keywords", "domains", "projectTeam", "pictures")
_NUMERIC_TYPES = frozenset(("number", "decimal", "currency"))


def check_types(entity: Entity, body: Mapping[str, Any]) -> None:
    """Raise errorcode 26 for the first value whose type the schema does not allow."""
    for name, value in body.items():
        if value is None:
            continue
        if name in _STRINGS:
            _expect(isinstance(value, str), name, value)
        elif name in _FLAGS:
            _expect(isinstance(value, bool), name, value)
        elif name in _ELEMENT_ARRAYS:
            for element in value if isinstance(value, list) else [value]:
                _element(name, element)
        elif name in _STRING_LISTS:
            _expect(isinstance(value, list), name, value)
            for item in value:
                # a domain element may be {value, archived} to remove it (EMULATOR_CHOICES.md)
                _expect(isinstance(item, str) or (name == "domains" and isinstance(item, Mapping)), name, item)
        elif name == "customFields":
            _expect(isinstance(value, list), name, value)
            for item in value:
                _custom_field(item)


def _element(array: str, element: Any) -> None:
    _expect(isinstance(element, Mapping) or (isinstance(element, str) and array != "appLinks"), array, element)
    item: Mapping[str, Any] = element if isinstance(element, Mapping) else {"value": element}
    for key, value in item.items():
        if value is None:
            continue
        if key in _ELEMENT_FLAGS:
            _expect(isinstance(value, bool), key, value)
        elif key in _ELEMENT_STRINGS:
            _expect(isinstance(value, str), _singular(array) if key == "value" else key, value)
        elif key in ("latitude", "longitude"):
            _expect(isinstance(value, (int, float)) and not isinstance(value, bool), key, value)
    if array == "emails" and not item.get("archived"):
        _expect(bool(_EMAIL.fullmatch(str(item.get("value") or "").strip())), "email", item.get("value"))


def _custom_field(item: Any) -> None:
    _expect(isinstance(item, Mapping), "customFields", item)
    fid = str(item.get("id") or "customFields")
    ftype = str(item.get("type") or "")
    for key in ("value", "min", "max"):
        value = item.get(key)
        if value is None or value == "":
            continue
        scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        _expect(scalar, fid, value)
        if ftype in _NUMERIC_TYPES or key != "value":
            _expect(_is_number(value), fid, value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _singular(array: str) -> str:
    return {"emails": "email", "phones": "phone", "faxes": "fax", "addresses": "address"}.get(array, array)


def _expect(condition: bool, field: str, value: Any) -> None:
    if not condition:
        raise Rejected(26, f"An invalid value was provided for the {field}: {value!r}")
