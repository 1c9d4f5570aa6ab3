"""Three-way, field-by-field merge of one linked pair against its base. Pure.

The base is kept *per side*: what each side held right after the last sync
(``base_cloze``, ``base_external``). Normally the two are equal (the agreed
record); they differ only where a side cannot hold a value exactly (a CRM with
room for two phone numbers, say), and keeping both means such a side is never
mistaken for one that deleted something, so nothing ping-pongs and nothing is lost.

For each mapped field, with Cloze value ``c`` and external value ``e``, a side has
*changed* when its value differs from its own base:

- neither changed: nothing to write;
- one changed: its value goes to the other side;
- both changed, to the same value: nothing to write; to different values: a
  **conflict**, settled by the field's policy (``cloze_wins``, ``external_wins``,
  ``newest_wins``) or left pending (``manual``: neither side written, bases kept).
- Multi-valued fields merge as sets: what either side added is added to the other,
  what either side removed is removed from the other; they never conflict.
- One-way fields (``to_cloze`` / ``to_external``) copy the source side's value.
- With no base (records matched on first sync), an empty side takes the other
  side's value and sets are united; two different values are a conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal

from config.models import Policy
from connectors.model import SetPatch, Side
from connectors.values import Value
from syncd.core.mapping import FieldRule
from syncd.core.sides import OTHER


class _Missing(Enum):
    MISSING = "missing"


_MISSING: Final = _Missing.MISSING

Outcome = Literal["cloze", "external", "pending"]
"""What became of a conflict: the side whose value won, or ``pending`` (an operator decides)."""

_WINNER: Mapping[Policy, Side] = {"cloze_wins": "cloze", "external_wins": "external"}


@dataclass(frozen=True)
class Conflict:
    """A field changed on both sides to different values, and what became of it."""

    field: str
    base: Value
    cloze: Value
    external: Value
    policy: Policy
    outcome: Outcome
    has_base: bool = True


@dataclass
class MergeResult:
    base_cloze: dict[str, Value]
    base_external: dict[str, Value]
    cloze_patch: dict[str, Value | SetPatch] = field(default_factory=dict)
    external_patch: dict[str, Value | SetPatch] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def patch(self, side: Side) -> dict[str, Value | SetPatch]:
        """What to write to ``side``."""
        return {"cloze": self.cloze_patch, "external": self.external_patch}[side]

    def base(self, side: Side) -> dict[str, Value]:
        """What ``side`` holds once the patches are written."""
        return {"cloze": self.base_cloze, "external": self.base_external}[side]

    @property
    def writes(self) -> bool:
        return bool(self.cloze_patch or self.external_patch)

    def settle(self, name: str, cloze_value: Value, external_value: Value) -> None:
        self.base_cloze[name] = cloze_value
        self.base_external[name] = external_value


def _set_patch(current: frozenset[str], target: frozenset[str]) -> SetPatch:
    return SetPatch(add=target - current, remove=current - target, result=target)


def _put(result: MergeResult, side: Side, rule: FieldRule, current: Value, target: Value) -> None:
    """Write ``target`` to ``side`` if it differs from what the side holds."""
    if current == target:
        return
    patch = result.patch(side)
    if isinstance(target, frozenset):
        patch[rule.name] = _set_patch(current if isinstance(current, frozenset) else frozenset(), target)
    else:
        patch[rule.name] = target


def _newest(cloze_modified: int | None, external_modified: int | None) -> Side:
    # A tie (or two unknown times) goes to Cloze, so the outcome never depends on order.
    return "external" if (external_modified or 0) > (cloze_modified or 0) else "cloze"


def _as_set(value: object) -> frozenset[str]:
    return value if isinstance(value, frozenset) else frozenset()


def merge_fields(
    rules: tuple[FieldRule, ...],
    base_cloze: Mapping[str, Value] | None,
    base_external: Mapping[str, Value] | None,
    cloze: Mapping[str, Value],
    external: Mapping[str, Value],
    *,
    cloze_modified: int | None = None,
    external_modified: int | None = None,
    skip: frozenset[str] = frozenset(),
    resolutions: Mapping[str, Value] | None = None,
) -> MergeResult:
    """Merge one linked pair. ``skip`` names fields left alone (unreadable on a side)."""
    result = MergeResult(base_cloze=dict(base_cloze or {}), base_external=dict(base_external or {}))
    resolutions = resolutions or {}
    for rule in rules:
        name = rule.name
        if name in skip or name not in cloze or name not in external:
            continue
        c, e = cloze[name], external[name]
        bc: Value | _Missing = base_cloze.get(name, _MISSING) if base_cloze is not None else _MISSING
        be: Value | _Missing = base_external.get(name, _MISSING) if base_external is not None else _MISSING
        no_base = bc is _MISSING or be is _MISSING

        if name in resolutions:
            chosen = resolutions[name]
            new_c = chosen if rule.flows_to("cloze") else c
            new_e = chosen if rule.flows_to("external") else e
            _put(result, "cloze", rule, c, new_c)
            _put(result, "external", rule, e, new_e)
            result.settle(name, new_c, new_e)
            continue

        if rule.direction == "to_cloze":
            _put(result, "cloze", rule, c, e)
            result.settle(name, e, e)
            continue
        if rule.direction == "to_external":
            _put(result, "external", rule, e, c)
            result.settle(name, c, c)
            continue

        if isinstance(c, frozenset) or isinstance(e, frozenset):
            cs, es = _as_set(c), _as_set(e)
            if no_base:
                new_cs = new_es = cs | es
            else:
                bcs, bes = _as_set(bc), _as_set(be)
                added_c, removed_c = cs - bcs, bcs - cs
                added_e, removed_e = es - bes, bes - es
                # An element one side added is never dropped by the other side's removal.
                new_cs = (cs | added_e) - (removed_e - added_c)
                new_es = (es | added_c) - (removed_c - added_e)
            _put(result, "cloze", rule, cs, new_cs)
            _put(result, "external", rule, es, new_es)
            result.settle(name, new_cs, new_es)
            continue

        if no_base:
            if c == e:
                result.settle(name, c, e)
                continue
            if c is None:
                _put(result, "cloze", rule, c, e)
                result.settle(name, e, e)
                continue
            if e is None:
                _put(result, "external", rule, e, c)
                result.settle(name, c, c)
                continue
        else:
            changed_c, changed_e = c != bc, e != be
            if not changed_c and not changed_e:
                continue  # the sides may differ where one cannot hold the value; not a change
            if c == e:
                result.settle(name, c, e)
                continue
            if changed_c and not changed_e:
                _put(result, "external", rule, e, c)
                result.settle(name, c, c)
                continue
            if changed_e and not changed_c:
                _put(result, "cloze", rule, c, e)
                result.settle(name, e, e)
                continue

        # Changed on both sides to different values.
        base_value: Value = None if bc is _MISSING else bc
        outcome: Outcome
        if rule.policy == "manual":
            outcome = "pending"
        else:
            outcome = _WINNER.get(rule.policy) or _newest(cloze_modified, external_modified)
        result.conflicts.append(Conflict(name, base_value, c, e, rule.policy, outcome, has_base=not no_base))
        if outcome != "pending":
            held = {"cloze": c, "external": e}
            loser = OTHER[outcome]
            _put(result, loser, rule, held[loser], held[outcome])
            result.settle(name, held[outcome], held[outcome])
        # pending: neither side written and both bases kept as they were
    return result
