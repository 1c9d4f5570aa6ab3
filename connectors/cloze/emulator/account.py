"""The emulated account's settings: profile, stages, segments, steps, custom fields, views.

A small-business configuration in the shapes of spec §7: the stock stage keys
with the UI labels of the getting-started guide, the usual business and
personal segments, a few next steps, and custom fields including the project
``value`` (currency) field.
"""

from __future__ import annotations

from typing import Any

from connectors.cloze.wire import PENDING_STAGE, PERSON_STAGES, PROJECT_STAGES
from connectors.model import Entity

PEOPLE_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("customer", "Customers"),
    ("partner", "Partners"),
    ("supplier", "Suppliers"),
    ("investor", "Investors"),
    ("advisor", "Advisers"),
    ("competitor", "Competitors"),
    ("coworker", "Coworkers"),
    ("custom1", "Referral Sources"),
    ("family", "Family"),
    ("friend", "Friends"),
    ("network", "Connections"),
)
PROJECT_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("project", "Projects"),
    ("project1", "Deals"),
    ("project2", "Renewals"),
)
PEOPLE_STAGE_LABELS = {
    "lead": "Lead",
    "future": "Potential",
    "current": "Active",
    "past": "Inactive",
    "out": "Lost",
}
PROJECT_STAGE_LABELS = {
    "future": "Potential",
    "current": "Active",
    PENDING_STAGE: "Pending",
    "won": "Won",
    "lost": "Lost",
}

STEPS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "customer": {
        "lead": [("s-00001", "Qualify"), ("s-00002", "Book intro call")],
        "future": [("s-00003", "Send proposal"), ("s-00004", "Follow up")],
        "current": [("s-00005", "Kick-off"), ("s-00006", "Quarterly review")],
    },
    "partner": {"future": [("s-00007", "Agree terms")], "current": [("s-00008", "Joint marketing")]},
    "project1": {"future": [("s-00009", "Discovery")], "pending": [("s-00010", "Contract out")]},
}

CUSTOM_FIELDS: tuple[dict[str, Any], ...] = (
    {"id": "value", "type": "currency", "name": "Value", "relations": {"project": True}},
    {
        "id": "lead-source",
        "type": "keyword",
        "name": "Lead Source",
        "relations": {"person": True, "entity": True, "project": True},
        "values": {
            k: {"label": v} for k, v in (("referral", "Referral"), ("web", "Website"), ("event", "Event"))
        },
    },
    {
        "id": "forecast",
        "type": "keyword",
        "name": "Forecast",
        "relations": {"project": True},
        "values": {"commit": {"label": "Commit"}, "bestcase": {"label": "Best Case"}},
    },
    {"id": "birthday-card", "type": "text", "name": "Birthday card", "relations": {"person": True}},
    {"id": "interests", "type": "keywords", "name": "Interests", "relations": {"person": True}},
    {"id": "account-number", "type": "text", "name": "Account number", "relations": {"entity": True}},
)

_RELATION_KEY: dict[Entity, str] = {"person": "person", "company": "entity", "project": "project"}


def segments_for(entity: Entity, dashed: bool = False) -> tuple[tuple[str, str], ...]:
    """``(key, label)`` pairs; project keys carry the leading ``-`` of the spec's listing when ``dashed``."""
    if entity != "project":
        return PEOPLE_SEGMENTS
    return tuple((f"-{k}" if dashed else k, label) for k, label in PROJECT_SEGMENTS)


def stages_for(entity: Entity, pending: bool = False) -> tuple[str, ...]:
    """Stage keys; ``pending`` adds the observed project stage the spec's enum lacks."""
    if entity != "project":
        return PERSON_STAGES
    return ("future", "current", PENDING_STAGE, "won", "lost") if pending else PROJECT_STAGES


def stage_pairs(entity: Entity, pending: bool = False) -> tuple[tuple[str, str], ...]:
    labels = PROJECT_STAGE_LABELS if entity == "project" else PEOPLE_STAGE_LABELS
    return tuple((key, labels[key]) for key in stages_for(entity, pending))


def segment_key(entity: Entity, value: str, dashed: bool = False) -> str | None:
    """The segment key for a key or a display label (case-insensitive), else ``None``.

    A project segment is recognised with or without the leading ``-`` (the spec shows both)
    and comes back in the account's form (``dashed``).
    """
    wanted = value.strip().lower()
    for key, label in segments_for(entity):
        if wanted in (key, label.lower()) or (entity == "project" and wanted == f"-{key}"):
            return f"-{key}" if dashed and entity == "project" else key
    return None


def stage_key(entity: Entity, value: str, pending: bool = True) -> str | None:
    """The stage key for a key or label; ``pending=False`` refuses the project stage missing from the enum."""
    wanted = value.strip().lower()
    labels = PROJECT_STAGE_LABELS if entity == "project" else PEOPLE_STAGE_LABELS
    for key in stages_for(entity, pending):
        if wanted in (key, labels[key].lower()):
            return key
    return None


def stage_label(entity: Entity, key: str) -> str:
    labels = PROJECT_STAGE_LABELS if entity == "project" else PEOPLE_STAGE_LABELS
    return labels.get(key, key)


def segment_label(entity: Entity, key: str) -> str:
    plain = key[1:] if entity == "project" and key.startswith("-") else key
    return dict(segments_for(entity)).get(plain, key)


def profile(email: str) -> dict[str, Any]:
    local = email.split("@", 1)[0]
    first, _, last = local.replace(".", " ").title().partition(" ")
    return {
        "email": email,
        "name": f"{first} {last}".strip(),
        "key": email,
        "first": first,
        "last": last,
        "country": "US",
        "aka": [email],
        "rights": {},
    }


def fields(relationtype: str | None) -> list[dict[str, Any]]:
    if relationtype in (None, ""):
        return [dict(f) for f in CUSTOM_FIELDS]
    key = {"person": "person", "company": "entity", "project": "project", "entity": "entity"}.get(
        str(relationtype)
    )
    return [dict(f) for f in CUSTOM_FIELDS if not f["relations"] or f["relations"].get(key)]


def field_type(entity: Entity, field_id: str) -> str | None:
    for f in CUSTOM_FIELDS:
        if f["id"] == field_id and (not f["relations"] or f["relations"].get(_RELATION_KEY[entity])):
            return str(f["type"])
    return None


def steps(segment: str | None, stage: str | None, pending: bool = False, dashed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for seg, by_stage in STEPS.items():
        shown = f"-{seg}" if dashed and seg.startswith("project") else seg
        if segment and segment not in (seg, shown):
            continue
        for stg, items in by_stage.items():
            if (stage and stg != stage) or (stg == PENDING_STAGE and not pending):
                continue
            out.setdefault(shown, {})[stg] = {"steps": [{"key": k, "name": n} for k, n in items]}
    return out


def step_keys() -> frozenset[str]:
    return frozenset(k for by_stage in STEPS.values() for items in by_stage.values() for k, _ in items)


def views() -> dict[str, Any]:
    def block(singular: str, plural: str) -> dict[str, Any]:
        return {
            "label": {"singular": singular, "plural": plural},
            "views": [{"id": "my", "name": f"My {plural}"}, {"id": "focus", "name": "Focus"}],
        }

    return {
        "people": block("Person", "People"),
        "companies": block("Company", "Companies"),
        "projects": block("Project", "Projects"),
    }
