"""The entity kinds a pair can sync, each declared once.

An :class:`EntitySpec` names a kind, its canonical fields (the keys connectors use in
``Record.fields``), the kinds its relation fields refer to, and the rules that match
existing records on a first sync. :data:`ENTITY_KINDS` holds every declared kind;
the config, the core mapping, the engine, the webhooks and the CLI read it and
never list kinds themselves. The sync order is derived from the relations: a kind
syncs after the kinds it refers to, so a relation can name a record created
earlier in the same run.

A new kind is one :meth:`EntityRegistry.register` call here (or in a plug-in)
plus support in the connectors that can hold it (``Connector.entities()``).
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from connectors.model import Entity, FieldKind, FieldSpec

MatchRule = Literal["email", "phone", "domain", "name"]

MATCH_FIELDS: Mapping[MatchRule, tuple[str, FieldKind]] = {
    "email": ("emails", FieldKind.EMAILS),
    "phone": ("phones", FieldKind.PHONES),
    "domain": ("domains", FieldKind.DOMAINS),
    "name": ("name", FieldKind.TEXT),
}
"""The canonical field (and its kind) each match rule compares."""


class UnknownEntityKind(KeyError):
    """A kind no :class:`EntitySpec` declares; ``str()`` names the known ones."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = tuple(known)

    def __str__(self) -> str:
        return f"unknown entity kind {self.name!r}; known: {', '.join(self.known)}"


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One kind of record: its canonical fields, its relations and its default match rules.

    ``relations`` maps a relation field (one of ``fields``) to the kind it refers to.
    ``match_on`` is used when a pair's config gives no ``match_on`` of its own. An operator
    sees a record named by its ``label_name`` fields and the first value of ``label_key``
    (``Ann Lee <ann@acme.example>``, ``Acme (acme.example)``).
    """

    name: Entity
    fields: Mapping[str, FieldSpec]
    relations: Mapping[str, Entity] = field(default_factory=dict)
    match_on: tuple[MatchRule, ...] = ()
    description: str = ""
    label_name: tuple[str, ...] = ("name",)
    label_key: str | None = None

    def __post_init__(self) -> None:
        stray = sorted(set(self.relations) - set(self.fields))
        if stray:
            raise ValueError(f"entity {self.name!r}: relations name fields it does not have: {', '.join(stray)}")
        not_refs = sorted(n for n in self.relations if self.fields[n].kind not in (FieldKind.REF, FieldKind.REFS))
        if not_refs:
            raise ValueError(f"entity {self.name!r}: relation fields must be of kind REF or REFS: {', '.join(not_refs)}")
        # Each relation field knows the kind it points at, so the engine can translate its ids.
        object.__setattr__(self, "fields", {
            n: replace(f, target=self.relations[n]) if n in self.relations else f for n, f in self.fields.items()})
        if self.label_key is not None and self.label_key not in self.fields:
            raise ValueError(f"entity {self.name!r}: label_key names a field it does not have: {self.label_key}")
        unmatched = [rule for rule in self.match_on if MATCH_FIELDS[rule][0] not in self.fields]
        if unmatched:
            raise ValueError(f"entity {self.name!r}: match rules on fields it does not have: {', '.join(unmatched)}")


class EntityRegistry:
    """Every declared kind, in the order declared."""

    def __init__(self) -> None:
        self._specs: dict[Entity, EntitySpec] = {}

    def register(self, spec: EntitySpec) -> EntitySpec:
        if spec.name in self._specs:
            raise ValueError(f"entity kind {spec.name!r} is declared twice")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: Entity) -> None:
        """Forget a kind (a kind declared by a test, say)."""
        self._specs.pop(name, None)

    def __getitem__(self, name: Entity) -> EntitySpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownEntityKind(name, self._specs) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: Entity) -> EntitySpec | None:
        """The kind ``name``, or None if none is declared."""
        return self._specs.get(name)

    def __iter__(self) -> Iterator[Entity]:
        return iter(tuple(self._specs))

    def names(self) -> tuple[Entity, ...]:
        return tuple(self._specs)

    def fields(self, name: Entity) -> Mapping[str, FieldSpec]:
        """The canonical fields of kind ``name``."""
        return self[name].fields

    def sync_order(self) -> tuple[Entity, ...]:
        """Every kind, each after the kinds its relations refer to (ties in declaration order)."""
        sorter: graphlib.TopologicalSorter[Entity] = graphlib.TopologicalSorter()
        for spec in self._specs.values():
            missing = sorted(set(spec.relations.values()) - set(self._specs))
            if missing:
                raise ValueError(f"entity {spec.name!r} refers to undeclared kinds: {', '.join(missing)}")
            sorter.add(spec.name, *spec.relations.values())
        try:
            return tuple(sorter.static_order())
        except graphlib.CycleError as exc:
            raise ValueError(f"entity relations form a cycle: {' -> '.join(exc.args[1])}") from None


def _specs(*items: tuple[str, FieldKind, str]) -> dict[str, FieldSpec]:
    return {name: FieldSpec(name, kind, desc) for name, kind, desc in items}


ENTITY_KINDS = EntityRegistry()
"""The kinds this installation syncs."""

ENTITY_KINDS.register(EntitySpec(
    name="person",
    description="a person (a Cloze person, a HubSpot contact, a Tryton party)",
    fields=_specs(
        ("first", FieldKind.TEXT, "given name"),
        ("last", FieldKind.TEXT, "family name"),
        ("title", FieldKind.TEXT, "job title"),
        ("company", FieldKind.TEXT, "name of the organisation the person works for"),
        ("emails", FieldKind.EMAILS, "all e-mail addresses"),
        ("phones", FieldKind.PHONES, "all phone numbers"),
        ("addresses", FieldKind.SET, "postal addresses, one formatted line each"),
        ("tags", FieldKind.TAGS, "Cloze keywords / tags"),
        ("stage", FieldKind.ENUM, "Cloze stage key (lead, future, current, past, out)"),
        ("segment", FieldKind.ENUM, "Cloze segment key (customer, partner, ...)"),
        ("notes", FieldKind.LONGTEXT, "free-text notes"),
        ("companies", FieldKind.REFS, "relation: the companies the person belongs to"),
    ),
    relations={"companies": "company"},
    match_on=("email",),
    label_name=("first", "last"),
    label_key="emails",
))

ENTITY_KINDS.register(EntitySpec(
    name="company",
    description="an organisation (a Cloze company, a HubSpot company, a Tryton party)",
    fields=_specs(
        ("name", FieldKind.TEXT, "company name"),
        ("domains", FieldKind.DOMAINS, "web domains"),
        ("emails", FieldKind.EMAILS, "e-mail addresses"),
        ("phones", FieldKind.PHONES, "phone numbers"),
        ("addresses", FieldKind.SET, "postal addresses, one formatted line each"),
        ("industry", FieldKind.TEXT, "industry"),
        ("description", FieldKind.LONGTEXT, "description"),
        ("tags", FieldKind.TAGS, "Cloze keywords / tags"),
        ("stage", FieldKind.ENUM, "Cloze stage key"),
        ("segment", FieldKind.ENUM, "Cloze segment key"),
    ),
    match_on=("domain",),
    label_key="domains",
))

ENTITY_KINDS.register(EntitySpec(
    name="project",
    description="a project or deal (a Cloze project, a HubSpot deal, a Tryton opportunity)",
    fields=_specs(
        ("name", FieldKind.TEXT, "project / deal name"),
        ("summary", FieldKind.LONGTEXT, "description"),
        ("stage", FieldKind.ENUM, "project stage key (future, current, pending, won, lost)"),
        ("segment", FieldKind.ENUM, "project segment key (project, project1, ...)"),
        ("value", FieldKind.NUMBER, "deal value / amount"),
        ("close_date", FieldKind.DATE, "expected or actual close date"),
        ("tags", FieldKind.TAGS, "Cloze keywords / tags"),
        ("people", FieldKind.REFS, "relation: the client people"),
        ("companies", FieldKind.REFS, "relation: the client companies"),
    ),
    relations={"people": "person", "companies": "company"},
))
