"""Small builders shared by the Tryton tests."""

from __future__ import annotations

from typing import Any

from connectors.model import CreateRequest, SetPatch
from connectors.tryton.rpc import RpcClient


def add(*values: str) -> SetPatch:
    return SetPatch(add=frozenset(values), result=frozenset(values))


def patch(add: tuple[str, ...] = (), remove: tuple[str, ...] = (), result: tuple[str, ...] = ()) -> SetPatch:
    return SetPatch(add=frozenset(add), remove=frozenset(remove), result=frozenset(result))


def person(key: str, first: str, last: str, email: str, **extra: Any) -> CreateRequest:
    ref = extra.pop("cloze_ref", None)
    return CreateRequest(key=key, fields={"first": first, "last": last, "emails": add(email), **extra}, cloze_ref=ref)


def party_row(admin: RpcClient, party_id: int | str) -> dict[str, Any]:
    [row] = admin.search_read("party.party", [("id", "=", int(party_id))],
                              ["name", "active", "write_date", "create_date", "_timestamp", "contact_mechanisms.type",
                               "contact_mechanisms.value", "categories.name", "identifiers.code"], active_test=False)
    return row


def category_id(admin: RpcClient, name: str) -> int:
    rows = admin.search_read("party.category", [("name", "=", name)], ["id"])
    if rows:
        return int(rows[0]["id"])
    return admin.create("party.category", [{"name": name}])[0]
