"""Relation fields that are rows of their own: a project's people as OpportunityContactRole rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from connectors.salesforce import ids
from connectors.salesforce.client import SalesforceClient, soql_string

_IN_CHUNK = 200  # ids or values per IN (...) list: keeps the query URL short


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(soql_string(v) for v in values) + ")"


class Relations:
    """A project's ``people``: its OpportunityContactRole rows, by Contact id."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def project_people(self, opportunity_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Opportunity id -> {Contact id (18 characters) -> role row id}."""
        out: dict[str, dict[str, str]] = {i: {} for i in opportunity_ids}
        for chunk in chunks(list(opportunity_ids), _IN_CHUNK):
            soql = (f"SELECT Id, OpportunityId, ContactId FROM OpportunityContactRole "
                    f"WHERE OpportunityId IN {in_list(chunk)} ORDER BY Id")
            for page in self.client.query(soql):
                for row in page:
                    contact = ids.normalize(str(row.get("ContactId") or ""))
                    if contact:
                        opportunity = ids.normalize(str(row["OpportunityId"])) or str(row["OpportunityId"])
                        out.setdefault(opportunity, {})[contact] = str(row["Id"])
        return out

    def set_project_people(self, wanted: dict[str, list[str]]) -> None:
        """Make each opportunity's contact roles match the ``wanted`` Contact ids."""
        current = self.project_people(list(wanted))
        creates: list[dict[str, object]] = []
        deletes: list[str] = []
        for opp_id, contacts in wanted.items():
            have = current.get(opp_id, {})
            want = {ids.normalize(c) or c for c in contacts}
            for contact in sorted(want - set(have)):
                creates.append({"attributes": {"type": "OpportunityContactRole"}, "OpportunityId": opp_id,
                                "ContactId": contact, "IsPrimary": not have and not creates_for(creates, opp_id)})
            deletes += [row for contact, row in have.items() if contact not in want]
        for start in range(0, len(creates), 200):
            self.client.collection("POST", "", {"allOrNone": False, "records": creates[start:start + 200]})
        for chunk in chunks(deletes, 200):
            self.client.request("DELETE", "/composite/sobjects", params={"ids": ",".join(chunk), "allOrNone": "false"})


def creates_for(creates: list[dict[str, object]], opp_id: str) -> bool:
    return any(c["OpportunityId"] == opp_id for c in creates)
