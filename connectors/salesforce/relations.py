"""Relation fields: Account ids by Website domain, Contact ids by Email, and OpportunityContactRole rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from connectors.salesforce.client import SalesforceClient, soql_string
from connectors.salesforce.mapping import domain_of

_IN_CHUNK = 200  # ids or values per IN (...) list: keeps the query URL short


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(soql_string(v) for v in values) + ")"


class Relations:
    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.accounts: dict[str, str] = {}  # domain -> Account id
        self.contacts: dict[str, str] = {}  # lower-case e-mail -> Contact id

    def remember(self, entity: str, rows: Iterable[dict[str, object]]) -> None:
        """Keep the keys of records read anyway, so relation writes later in the run need no query."""
        for row in rows:
            if row.get("IsDeleted"):
                continue
            if entity == "company":
                domain = domain_of(row.get("Website"))
                if domain:
                    self.accounts.setdefault(domain, str(row["Id"]))
            elif entity == "person" and row.get("Email"):
                self.contacts.setdefault(str(row["Email"]).lower(), str(row["Id"]))

    def account_ids(self, domains: Iterable[str]) -> dict[str, str]:
        wanted = sorted({d.lower() for d in domains if d} - set(self.accounts))
        for domain in wanted:
            soql = f"SELECT Id, Website FROM Account WHERE Website LIKE {soql_string('%' + domain + '%')} ORDER BY Id"
            for page in self.client.query(soql):
                for row in page:
                    if domain_of(row.get("Website")) == domain:
                        self.accounts.setdefault(domain, str(row["Id"]))
        return {d.lower(): self.accounts[d.lower()] for d in domains if d and d.lower() in self.accounts}

    def contact_ids(self, emails: Iterable[str]) -> dict[str, str]:
        wanted = sorted({e.lower() for e in emails if e} - set(self.contacts))
        for chunk in chunks(wanted, _IN_CHUNK):
            for page in self.client.query(f"SELECT Id, Email FROM Contact WHERE Email IN {in_list(chunk)} ORDER BY Id"):
                for row in page:
                    if row.get("Email"):
                        self.contacts.setdefault(str(row["Email"]).lower(), str(row["Id"]))
        return {e.lower(): self.contacts[e.lower()] for e in emails if e and e.lower() in self.contacts}

    def project_people(self, opportunity_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Opportunity id -> {contact e-mail (lower case) -> role row id}."""
        out: dict[str, dict[str, str]] = {i: {} for i in opportunity_ids}
        for chunk in chunks(list(opportunity_ids), _IN_CHUNK):
            soql = (f"SELECT Id, OpportunityId, ContactId, Contact.Email FROM OpportunityContactRole "
                    f"WHERE OpportunityId IN {in_list(chunk)} ORDER BY Id")
            for page in self.client.query(soql):
                for row in page:
                    contact = row.get("Contact")
                    email = str(contact.get("Email") or "").lower() if isinstance(contact, dict) else ""
                    if email:
                        out.setdefault(str(row["OpportunityId"]), {})[email] = str(row["Id"])
                        self.contacts.setdefault(email, str(row["ContactId"]))
        return out

    def set_project_people(self, wanted: dict[str, list[str]]) -> dict[str, list[str]]:
        """Make each opportunity's contact roles match ``wanted`` e-mails; returns e-mails with no contact."""
        current = self.project_people(list(wanted))
        contact_of = self.contact_ids([e for emails in wanted.values() for e in emails])
        creates: list[dict[str, object]] = []
        deletes: list[str] = []
        unresolved: dict[str, list[str]] = {}
        for opp_id, emails in wanted.items():
            have = current.get(opp_id, {})
            want = {e.lower() for e in emails}
            missing = sorted(e for e in want if e not in contact_of)
            if missing:
                unresolved[opp_id] = missing
            for email in sorted(want - set(have)):
                if email in contact_of:
                    creates.append({"attributes": {"type": "OpportunityContactRole"}, "OpportunityId": opp_id,
                                    "ContactId": contact_of[email], "IsPrimary": not have and not creates_for(creates, opp_id)})
            deletes += [row for email, row in have.items() if email not in want]
        for start in range(0, len(creates), 200):
            self.client.collection("POST", "", {"allOrNone": False, "records": creates[start:start + 200]})
        for chunk in chunks(deletes, 200):
            self.client.request("DELETE", "/composite/sobjects", params={"ids": ",".join(chunk), "allOrNone": "false"})
        return unresolved


def creates_for(creates: list[dict[str, object]], opp_id: str) -> bool:
    return any(c["OpportunityId"] == opp_id for c in creates)
