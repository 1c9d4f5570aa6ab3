"""``party.party`` as people and companies: classification, reads, and write values.

People and companies are both parties. A party in the top-level category named by
``company_category`` is a company; any other party is a person (or, with
``person_category`` set, only a party in that category is). The marker categories
are not reported as tags. The parties of the Tryton companies themselves and of
their employees are left out (``skip_internal_parties``).

Field map:

- person ``first``/``last`` <-> ``name`` (see :mod:`connectors.tryton.values`);
  company ``name`` <-> ``name``;
- ``emails`` <-> contact mechanisms of type ``email``; ``phones`` <-> ``phone`` and
  ``mobile`` (new numbers are written as ``phone``); company ``domains`` <->
  ``website`` (written as the bare domain);
- ``addresses`` <-> ``party.address`` (one line each);
- ``tags`` <-> ``party.category`` (full name, ``Parent / Child``; a missing
  category is created at the top level; a tag named like a marker category is
  not written, since it would change the party's kind);
- the Cloze identity <-> a ``party.identifier`` whose code is
  ``cloze_ref_prefix + ref`` (type ``cloze_ref_identifier_type``, none by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.entities import ENTITY_KINDS
from connectors.model import Entity, FieldSpec, Record, SetPatch
from connectors.tryton.client import Domain, TrytonClient, TrytonRejected
from connectors.tryton.cursor import change_time
from connectors.tryton.encoding import epoch_ms
from connectors.tryton.plain import PlainFields
from connectors.tryton.settings import TrytonSettings
from connectors.tryton.values import address_line, elements, join_name, set_change, split_name
from connectors.values import norm_domain, norm_email, norm_phone, norm_text

MODEL = "party.party"
CHILDREN = (("party.contact_mechanism", "party"), ("party.address", "party"))

PERSON_FIELDS = ("first", "last", "emails", "phones", "addresses", "tags")
COMPANY_FIELDS = ("name", "domains", "emails", "phones", "addresses", "tags")

_STAMPS = ("write_date", "create_date")
READ_FIELDS = (
    "name", "active", "_timestamp", *_STAMPS, "categories.rec_name",
    "contact_mechanisms.type", "contact_mechanisms.value", "contact_mechanisms.active",
    *(f"contact_mechanisms.{s}" for s in _STAMPS),
    "addresses.full_address", "addresses.active", *(f"addresses.{s}" for s in _STAMPS),
    "identifiers.code", "identifiers.type",
)

# canonical set field -> (contact mechanism types read, type written, normaliser)
CONTACTS = {
    "emails": (("email",), "email", norm_email),
    "phones": (("phone", "mobile"), "phone", norm_phone),
    "domains": (("website",), "website", norm_domain),
}


def _tag_norm(value: str) -> str:
    return norm_text(value) or ""


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Categories:
    """Party categories by full name, created on demand (tags and the marker categories)."""

    MODEL = "party.category"

    def __init__(self, client: TrytonClient) -> None:
        self.client = client
        self._ids: dict[str, int | None] = {}

    def find(self, name: str) -> int | None:
        if name not in self._ids:
            domain: Domain = ([("rec_name", "=", name)] if " / " in name
                              else [("name", "=", name), ("parent", "=", None)])
            rows = self.client.search_read(self.MODEL, domain, ["id"], limit=1, order=[("id", "ASC")])
            self._ids[name] = int(rows[0]["id"]) if rows else None
        return self._ids[name]

    def forget_missing(self) -> None:
        """Look again for categories that did not exist (someone may have created them since)."""
        self._ids = {k: v for k, v in self._ids.items() if v is not None}

    def ensure(self, name: str) -> int:
        found = self.find(name)
        if found is not None:
            return found
        [new_id] = self.client.create(self.MODEL, [{"name": name}])
        self._ids[name] = new_id
        return new_id


class Parties:
    """Reads and write values of ``party.party`` for the person and company entities."""

    def __init__(self, client: TrytonClient, settings: TrytonSettings,
                 custom_fields: Mapping[Entity, Sequence[str]]) -> None:
        self.client = client
        self.settings = settings
        self.categories = Categories(client)
        self.plain = {e: PlainFields(client, MODEL, custom_fields.get(e, ())) for e in ("person", "company")}
        self._internal: frozenset[int] | None = None

    # -- description ------------------------------------------------------------------------

    def fields(self, entity: Entity) -> dict[str, FieldSpec]:
        names = PERSON_FIELDS if entity == "person" else COMPANY_FIELDS
        return {n: ENTITY_KINDS.fields(entity)[n] for n in names}

    def read_fields(self) -> list[str]:
        custom = {n for plain in self.plain.values() for n in plain.names}
        return [*READ_FIELDS, *sorted(custom)]

    # -- classification ---------------------------------------------------------------------

    def internal(self) -> frozenset[int]:
        """Parties of the Tryton companies and their employees (absent when the company module is not)."""
        if self._internal is None:
            ids: set[int] = set()
            if self.settings.skip_internal_parties:
                for model in ("company.company", "company.employee"):
                    try:
                        rows = self.client.search_read(model, [], ["party"], active_test=False)
                    except TrytonRejected:
                        continue  # module not activated
                    ids.update(int(r["party"]) for r in rows if r.get("party"))
            self._internal = frozenset(ids)
        return self._internal

    def kind(self, row: Mapping[str, Any]) -> Entity | None:
        if int(row["id"]) in self.internal():
            return None
        # Nested reads give category rows; a plain "categories" read gives ids.
        cats = {int(c["id"]) if isinstance(c, dict) else int(c) for c in row.get("categories") or ()}
        company = self.categories.find(self.settings.company_category)
        if company is not None and company in cats:
            return "company"
        if self.settings.person_category is not None:
            person = self.categories.find(self.settings.person_category)
            return "person" if person is not None and person in cats else None
        return "person"

    def domain(self, entity: Entity) -> Domain | None:
        """Server-side filter for live parties of ``entity``; None when there can be none."""
        out: Domain = []
        internal = self.internal()
        if internal:
            out.append(("id", "not in", sorted(internal)))
        company = self.categories.find(self.settings.company_category)
        if entity == "company":
            if company is None:
                return None
            out.append(("categories", "=", company))
            return out
        if company is not None:
            out.append(("categories", "not where", [("id", "=", company)]))
        if self.settings.person_category is not None:
            person = self.categories.find(self.settings.person_category)
            if person is None:
                return None
            out.append(("categories", "=", person))
        return out

    def markers(self) -> set[int]:
        names = [self.settings.company_category, self.settings.person_category]
        return {cid for cid in (self.categories.find(n) for n in names if n) if cid is not None}

    # -- reads ------------------------------------------------------------------------------

    def read(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return self.client.search_read(MODEL, [("id", "in", list(ids))], self.read_fields(), active_test=False)

    def cloze_ref(self, row: Mapping[str, Any]) -> str | None:
        prefix, wanted = self.settings.cloze_ref_prefix, self.settings.cloze_ref_identifier_type
        for ident in sorted(row.get("identifiers") or (), key=lambda i: int(i["id"])):
            code = ident.get("code") or ""
            if code.startswith(prefix) and (ident.get("type") or None) == wanted and len(code) > len(prefix):
                return str(code[len(prefix):])
        return None

    def ref_domain(self, refs: Sequence[str]) -> Domain:
        codes = [self.settings.cloze_ref_prefix + ref for ref in refs]
        return [("identifiers", "where", [("code", "in", codes),
                                          ("type", "=", self.settings.cloze_ref_identifier_type)])]

    def lookup_domain(self, entity: Entity, field_name: str, value: str) -> Domain | None:
        if field_name in CONTACTS and field_name in self.fields(entity):
            types, _, norm = CONTACTS[field_name]
            wanted = norm(value)
            if not wanted:
                return None
            if field_name == "domains":
                pattern = f"%{_escape_like(wanted)}%"  # websites are stored as URLs too
            elif field_name == "phones":
                # Numbers are stored as typed ("+1 (555) 010-0100"): match the digits in order,
                # then matches() compares the normalised numbers exactly.
                pattern = "%" + "%".join(ch for ch in wanted if ch.isdigit()) + "%"
            else:
                pattern = _escape_like(value.strip())
            return [("contact_mechanisms", "where", [("type", "in", list(types)), ("active", "=", True),
                                                     ("value", "ilike", pattern)])]
        if field_name == "name":
            return [("name", "ilike", _escape_like(" ".join(value.split())))]
        return None

    def matches(self, record: Record, field_name: str, value: str) -> bool:
        """Whether a looked-up record really holds ``value`` (search is by pattern, this is exact)."""
        if field_name == "name":
            name = record.fields.get("name") or join_name(record.fields.get("first"), record.fields.get("last"))
            return (norm_text(str(name)) or "").casefold() == (norm_text(value) or "").casefold()
        norm = CONTACTS[field_name][2]
        return norm(value) in {norm(v) for v in record.fields.get(field_name) or ()}

    def to_record(self, entity: Entity, row: Mapping[str, Any]) -> Record:
        contacts = [c for c in row.get("contact_mechanisms") or () if c.get("active", True)]
        fields: dict[str, Any] = {}
        if entity == "person":
            fields["first"], fields["last"] = split_name(row.get("name"), self.settings.name_split)
        else:
            fields["name"] = row.get("name")
        for name in self.fields(entity):
            if name in CONTACTS:
                types, _, _ = CONTACTS[name]
                fields[name] = [v for _, v in elements(contacts, types=types)]
        fields["addresses"] = sorted({line for a in row.get("addresses") or () if a.get("active", True)
                                      for line in [address_line(a)] if line})
        markers = self.markers()
        fields["tags"] = sorted(str(c["rec_name"]) for c in row.get("categories") or ()
                                if int(c["id"]) not in markers and c.get("rec_name"))
        fields.update(self.plain[entity].read(row))
        stamps = [change_time(row)]
        for child in ("contact_mechanisms", "addresses"):
            stamps += [change_time(c) for c in row.get(child) or () if c.get("create_date")]
        return Record(id=str(row["id"]), fields=fields, modified_at=epoch_ms(max(stamps), self.settings.server_timezone),
                      cloze_ref=self.cloze_ref(row), archived=not row.get("active", True))

    # -- writes -----------------------------------------------------------------------------

    def create_values(self, entity: Entity, fields: Mapping[str, str | SetPatch | None],
                      cloze_ref: str | None) -> dict[str, Any]:
        """The ``create`` values of a new party; raises ``ValueError`` for what cannot be written."""
        empty: dict[str, Any] = {"name": None, "active": True, "contact_mechanisms": [], "addresses": [], "categories": [],
                 "identifiers": []}
        values = self._changes(entity, empty, fields, cloze_ref=cloze_ref, clear_ref=False)
        marker = self.settings.company_category if entity == "company" else self.settings.person_category
        cats = [c for cmd in values.pop("categories", []) for c in cmd[1]]
        if marker:
            cats.append(self.categories.ensure(marker))
        values["categories"] = [("add", sorted(set(cats)))] if cats else []
        # On create the one2many commands must be "create" only.
        for key in ("contact_mechanisms", "addresses", "identifiers"):
            values[key] = [cmd for cmd in values.get(key, []) if cmd[0] == "create"]
        values.setdefault("name", None)
        return values

    def update_values(self, entity: Entity, row: Mapping[str, Any], fields: Mapping[str, str | SetPatch | None], *,
                      cloze_ref: str | None, clear_ref: bool) -> dict[str, Any]:
        """The ``write`` values that apply ``fields`` to the current ``row`` (only what differs)."""
        return self._changes(entity, row, fields, cloze_ref=cloze_ref, clear_ref=clear_ref)

    def _changes(self, entity: Entity, row: Mapping[str, Any], fields: Mapping[str, str | SetPatch | None], *,
                 cloze_ref: str | None, clear_ref: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        allowed = self.fields(entity)
        contacts = list(row.get("contact_mechanisms") or ())
        mech_create: list[dict[str, Any]] = []
        mech_delete: list[int] = []
        for key, value in fields.items():
            if key.startswith("custom:"):
                name, wire = self.plain[entity].write(key, value if not isinstance(value, SetPatch) else None)
                if row.get(name) != wire:
                    values[name] = wire
                continue
            if key not in allowed:
                raise ValueError(f"{entity} field {key!r} is not synced with Tryton")
            if key in CONTACTS:
                types, new_type, norm = CONTACTS[key]
                change = set_change(elements(contacts, types=types), _patch(value), norm)
                mech_delete += change.remove_ids
                mech_create += [{"type": new_type, "value": norm_domain(v) if key == "domains" else v}
                                for v in change.add_values]
            elif key == "addresses":
                current = [(int(a["id"]), line) for a in row.get("addresses") or () if a.get("active", True)
                           for line in [address_line(a)] if line]
                change = set_change(current, _patch(value), _tag_norm)
                cmds: list[Any] = []
                if change.remove_ids:
                    cmds.append(("delete", list(change.remove_ids)))
                if change.add_values:
                    cmds.append(("create", [{"street": v} for v in change.add_values]))
                if cmds:
                    values["addresses"] = cmds
            elif key == "tags":
                markers = self.markers()
                current = [(int(c["id"]), str(c["rec_name"])) for c in row.get("categories") or ()
                           if int(c["id"]) not in markers]
                change = set_change(current, _patch(value), _tag_norm)
                cmds = []
                if change.remove_ids:
                    cmds.append(("remove", list(change.remove_ids)))
                # A tag named like a marker category would turn the party into the other kind.
                adds = [v for v in change.add_values
                        if v not in (self.settings.company_category, self.settings.person_category)]
                if adds:
                    cmds.append(("add", [self.categories.ensure(v) for v in adds]))
                if cmds:
                    values["categories"] = cmds
        changed, new_name = self._name(entity, row, fields)
        if changed:
            values["name"] = new_name
        if mech_delete or mech_create:
            values["contact_mechanisms"] = ([("delete", mech_delete)] if mech_delete else []) + (
                [("create", mech_create)] if mech_create else [])
        idents = self._identity(row, cloze_ref, clear_ref)
        if idents:
            values["identifiers"] = idents
        return values

    def _name(self, entity: Entity, row: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Whether the party name changes, and to what."""
        current = row.get("name") or None
        wanted: str | None
        if entity == "company":
            if "name" not in fields:
                return False, None
            wanted = fields["name"] if isinstance(fields["name"], str) else None
        else:
            if "first" not in fields and "last" not in fields:
                return False, None
            first, last = split_name(current, self.settings.name_split)
            first = fields.get("first", first)
            last = fields.get("last", last)
            wanted = join_name(first if isinstance(first, str) else None, last if isinstance(last, str) else None)
        wanted = wanted or None
        return wanted != current, wanted

    def _identity(self, row: Mapping[str, Any], cloze_ref: str | None, clear_ref: bool) -> list[Any]:
        if cloze_ref is None and not clear_ref:
            return []
        prefix, ttype = self.settings.cloze_ref_prefix, self.settings.cloze_ref_identifier_type
        own = [int(i["id"]) for i in row.get("identifiers") or ()
               if (i.get("code") or "").startswith(prefix) and (i.get("type") or None) == ttype]
        if cloze_ref is not None and self.cloze_ref(row) == cloze_ref and len(own) == 1:
            return []
        cmds: list[Any] = [("delete", own)] if own else []
        if cloze_ref is not None:
            cmds.append(("create", [{"code": prefix + cloze_ref, "type": ttype}]))
        return cmds


def _patch(value: str | SetPatch | None) -> SetPatch:
    if isinstance(value, SetPatch):
        return value
    if value is None:
        return SetPatch()
    return SetPatch(add=frozenset({value}), result=frozenset({value}))
