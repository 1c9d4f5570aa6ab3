"""Field mapping: which canonical fields a pair syncs, and how each side names them.

Pure functions. :func:`build_entity_mapping` turns an entity's config table into
:class:`FieldRule` objects; :func:`to_canonical` reads a side's record into
canonical values (translating enumerated values and collecting per-field
problems instead of failing the record); :func:`to_side` turns canonical values
to write back into the side's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from config.models import Direction, EntityConfig, FieldMapping, Policy
from connectors.entities import ENTITY_KINDS, MATCH_FIELDS, MatchRule
from connectors.model import (
    Entity,
    FieldKind,
    FieldSpec,
    Record,
    SetPatch,
    Side,
    custom_key,
)
from connectors.values import BadValue, Value, normalize
from syncd.core.refs import IdLookup, read_references, write_references
from syncd.core.sides import view

CUSTOM_CANONICAL_PREFIX = "custom."


@dataclass(frozen=True)
class FieldRule:
    """One mapped field: its canonical name and kind, the key on each side, direction and policy."""

    name: str
    kind: FieldKind
    direction: Direction
    policy: Policy
    cloze_key: str
    external_key: str
    # Value maps, looked up without case; the value found is used exactly as configured,
    # since a side such as HubSpot refuses a dropdown option spelt in another case.
    values: Mapping[str, str] = field(default_factory=dict)  # lower-cased Cloze value -> external value
    read_values: Mapping[str, str] = field(default_factory=dict)  # lower-cased external value -> Cloze value
    target: Entity | None = None  # the kind a reference field points at

    def from_external(self, value: str) -> str | None:
        return self.read_values.get(value.lower())

    def to_external(self, value: str) -> str | None:
        return self.values.get(value.lower())

    def key(self, side: Side) -> str:
        return {"cloze": self.cloze_key, "external": self.external_key}[side]

    def flows_to(self, side: Side) -> bool:
        """Whether a change may be written to ``side``."""
        return self.direction in ("both", f"to_{side}")


@dataclass(frozen=True)
class EntityMapping:
    entity: Entity
    rules: tuple[FieldRule, ...]
    match_on: tuple[MatchRule, ...]
    create_in_cloze: bool
    create_in_external: bool
    filter_segments: frozenset[str]
    filter_stages: frozenset[str]
    filter_tags: frozenset[str]
    # How the external side writes its own ids, applied to the App Links read from Cloze: a
    # user may have imported a link in another form of the same id (Salesforce: 15 characters
    # for 18). ``None``: as they are.
    canonical_link: Callable[[tuple[str, str]], tuple[str, str]] | None = None
    # Translates reference fields between each side's ids and the canonical (hub) ids through
    # the link table; ``None``: references pass as they were read (pure tests of the core).
    references: IdLookup | None = None

    @cached_property
    def reference_targets(self) -> dict[str, Entity]:
        """The mapped reference fields and the kind each points at."""
        return {rule.name: rule.target for rule in self.rules if rule.target is not None}

    def rule(self, name: str) -> FieldRule | None:
        for rule in self.rules:
            if rule.name == name:
                return rule
        return None

    def custom_ids(self, side: Side) -> list[str]:
        """Native custom-field ids this side must read for this entity."""
        out = []
        for rule in self.rules:
            key = rule.key(side)
            if key.startswith("custom:"):
                out.append(key[len("custom:") :])
        return out


def build_entity_mapping(
    entity: Entity,
    cfg: EntityConfig,
    cloze_fields: Mapping[str, FieldSpec],
    external_fields: Mapping[str, FieldSpec],
    *,
    path: str = "",
) -> tuple[EntityMapping, list[str]]:
    """The entity's field rules, and a list of ``key.path: problem`` strings (empty when valid)."""
    problems: list[str] = []
    canonical = ENTITY_KINDS.fields(entity)
    configured: Mapping[str, FieldMapping]
    if cfg.fields is None:
        # Enumerated fields (stage, segment) use each system's own vocabulary, so they
        # sync only once a value map says how one system's values read in the other; a
        # field one side limits to a fixed list (HubSpot's industry) needs a choice too.
        configured = {
            name: FieldMapping()
            for name, spec in canonical.items()
            if name in cloze_fields and name in external_fields and spec.kind is not FieldKind.ENUM
            and not (cloze_fields[name].fixed_values or external_fields[name].fixed_values)
        }
    else:
        configured = cfg.fields
    rules: list[FieldRule] = []
    for name, fm in configured.items():
        where = f"{path}.fields.{name}" if path else f"fields.{name}"
        if fm.direction == "none":
            continue
        policy = fm.policy or cfg.policy
        if name.startswith(CUSTOM_CANONICAL_PREFIX):
            if not fm.cloze or not fm.external:
                problems.append(f"{where}: a custom field needs both 'cloze' (field id) and 'external' (property name)")
                continue
            kind = FieldKind(fm.kind or "text")
            rules.append(
                FieldRule(name, kind, fm.direction, policy, custom_key(fm.cloze), custom_key(fm.external),
                          _write_values(fm), _read_values(fm))
            )
            continue
        if name not in canonical:
            known = ", ".join(canonical)
            problems.append(f"{where}: unknown field for {entity}; known: {known}; custom fields start with 'custom.'")
            continue
        if fm.cloze or fm.external or fm.kind:
            problems.append(f"{where}: 'cloze', 'external' and 'kind' are only for custom fields")
            continue
        missing = [side for side, fields in (("cloze", cloze_fields), ("external", external_fields)) if name not in fields]
        if missing:
            problems.append(f"{where}: the {' and '.join(missing)} connector cannot sync this {entity} field")
            continue
        kind = canonical[name].kind
        if (fm.values or fm.more_external_values) and kind not in _MAPPABLE:
            problems.append(f"{where}: 'values' maps enumerated and text fields only (this one is {kind.value})")
            continue
        rules.append(FieldRule(name, kind, fm.direction, policy, name, name, _write_values(fm), _read_values(fm),
                               target=canonical[name].target))
    match_on = tuple(cfg.match_on) if cfg.match_on is not None else ENTITY_KINDS[entity].match_on
    mapping = EntityMapping(
        entity=entity,
        rules=tuple(rules),
        match_on=match_on,
        create_in_cloze=cfg.create_in_cloze,
        create_in_external=cfg.create_in_external,
        filter_segments=frozenset(s.lower() for s in cfg.filters.segment),
        filter_stages=frozenset(s.lower() for s in cfg.filters.stage),
        filter_tags=frozenset(cfg.filters.tags),
    )
    return mapping, problems


# A text field may map too: a free-text field on one side can be a dropdown on the other
# (Cloze's company industry and HubSpot's ``industry``).
_MAPPABLE = (FieldKind.ENUM, FieldKind.TEXT)


def _write_values(fm: FieldMapping) -> dict[str, str]:
    return {k.lower(): v for k, v in fm.values.items()}


def _read_values(fm: FieldMapping) -> dict[str, str]:
    out = {v.lower(): k for k, v in fm.values.items()}
    out.update({k.lower(): v for k, v in fm.more_external_values.items()})
    return out


@dataclass(frozen=True, slots=True)
class Canon:
    """A record in canonical form: mapped values, and the fields that could not be read."""

    id: str
    values: Mapping[str, Value]
    problems: Mapping[str, str]
    modified_at: int | None
    app_links: frozenset[tuple[str, str]] = frozenset()
    cloze_ref: str | None = None
    match_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    scope: Mapping[str, Value] = field(default_factory=dict)  # segment/stage/tags for filters, mapped or not


def match_field(rule: MatchRule) -> str:
    """The canonical field a match rule compares."""
    return MATCH_FIELDS[rule][0]


def _match_keys(record: Record, match_on: Sequence[MatchRule]) -> dict[str, frozenset[str]]:
    keys: dict[str, frozenset[str]] = {}
    for rule in match_on:
        fname, kind = MATCH_FIELDS[rule]
        try:
            value = normalize(kind, record.fields.get(fname))
        except BadValue:
            continue
        if isinstance(value, frozenset):
            keys[rule] = value
        elif value:
            keys[rule] = frozenset({value.lower()})
    return keys


def to_canonical(record: Record, mapping: EntityMapping, side: Side) -> Canon:
    """Read ``record`` (from ``side``) into canonical values of the mapped fields."""
    translated = not view(side).speaks_pair_vocabulary  # its enumerated values go through the value maps
    values: dict[str, Value] = {}
    problems: dict[str, str] = {}
    for rule in mapping.rules:
        key = rule.key(side)
        raw: Any = record.fields.get(key)
        try:
            value = normalize(rule.kind, raw)
        except BadValue as exc:
            problems[rule.name] = f"cannot read {key!r}: {exc}"
            continue
        if translated and rule.read_values and isinstance(value, str):
            mapped = rule.from_external(value)
            if mapped is None:
                problems[rule.name] = f"value {value!r} of {key!r} has no entry in the value map"
                continue
            value = normalize(rule.kind, mapped)  # the Cloze value in canonical form (enum keys lower-cased)
        values[rule.name] = value
    if mapping.references is not None:
        values = read_references(values, mapping.reference_targets, side, mapping.references)
    canonical_link = mapping.canonical_link
    links = frozenset(canonical_link(link.key) if canonical_link else link.key for link in record.app_links)
    scope: dict[str, Value] = {}
    for name, kind in (("segment", FieldKind.ENUM), ("stage", FieldKind.ENUM), ("tags", FieldKind.TAGS)):
        if name in values:
            scope[name] = values[name]
        elif name in record.fields and not translated:
            # An unmapped field is in this side's own words: only the pair's vocabulary can be judged.
            try:
                scope[name] = normalize(kind, record.fields.get(name))
            except BadValue:
                pass
    return Canon(
        id=record.id,
        values=values,
        problems=problems,
        modified_at=record.modified_at,
        app_links=links,
        cloze_ref=record.cloze_ref,
        match_keys=_match_keys(record, mapping.match_on),
        scope=scope,
    )


def reference_values(record: Record, mapping: EntityMapping, side: Side) -> dict[str, Value]:
    """The reference fields of ``record`` (from ``side``) as :func:`to_canonical` reads them, before
    translation: what its reference look-ups will ask for. Unreadable values are left out."""
    values: dict[str, Value] = {}
    for rule in mapping.rules:
        if rule.name in mapping.reference_targets:
            try:
                values[rule.name] = normalize(rule.kind, record.fields.get(rule.key(side)))
            except BadValue:
                continue
    return values


def to_side(
    changes: Mapping[str, Value | SetPatch], mapping: EntityMapping, side: Side
) -> tuple[dict[str, str | SetPatch | None], dict[str, str]]:
    """Canonical changes to write on ``side``, under that side's keys; and per-field problems."""
    out: dict[str, str | SetPatch | None] = {}
    problems: dict[str, str] = {}
    translated = not view(side).speaks_pair_vocabulary
    if mapping.references is not None:
        changes, problems = write_references(changes, mapping.reference_targets, side, mapping.references)
    for name, value in changes.items():
        rule = mapping.rule(name)
        if rule is None:
            continue
        if isinstance(value, frozenset):
            value = SetPatch(result=value, add=value)
        if translated and rule.values and isinstance(value, str):
            mapped = rule.to_external(value)
            if mapped is None:
                problems[name] = f"Cloze value {value!r} has no entry in the value map"
                continue
            value = mapped
        out[rule.key(side)] = value
    return out, problems


def passes_filters(canon: Canon, mapping: EntityMapping) -> bool:
    """Whether a record is in scope for creating a counterpart (filters use Cloze's vocabulary).

    Filters on a field the pair does not map can only be judged on the side that speaks
    the pair's vocabulary (:mod:`syncd.core.sides`); a record of the other side is then in scope.
    """
    values = canon.scope
    if mapping.filter_segments and "segment" in values and values.get("segment") not in mapping.filter_segments:
        return False
    if mapping.filter_stages and "stage" in values and values.get("stage") not in mapping.filter_stages:
        return False
    if mapping.filter_tags and "tags" in values:
        tags = values.get("tags")
        if not isinstance(tags, frozenset) or not (tags & mapping.filter_tags):
            return False
    return True
