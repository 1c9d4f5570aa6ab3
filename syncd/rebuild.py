"""``syncd state rebuild``: re-derive a pair's links from the two systems alone.

Both sides are listed; records are paired only through their join markers (a
Cloze App Link ``(app_id, external id)``, or the Cloze identity stored on an
external record). An App Link is read in the external side's own id form (a
Salesforce link imported with the 15-character id names the record Salesforce
reads with 18), as a sync reads it. Nothing is written to either side. Each new link's base holds
the fields on which the two records agree; a field on which they differ has no
base, so the next reconcile treats it as on a first sync (an empty side is
filled, two different values are a conflict settled by the field's policy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import col

from config.loader import LoadedConfig
from connectors.base import Connector
from connectors.errors import LeaseHeldError
from connectors.model import Entity
from state.models import Cursor, Link
from state.store import StateStore
from syncd.core.mapping import build_entity_mapping
from syncd.core.plan import plan_entity
from syncd.engine import observe
from syncd.engine.executor import base_json
from syncd.engine.runner import build_connectors, lease_owner


@dataclass
class RebuildResult:
    links: dict[str, int] = field(default_factory=dict)
    unmatched: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _canonical_link(app_id: str, external: Connector, entity: Entity) -> Callable[[tuple[str, str]], tuple[str, str]]:
    """The pair's App Links with the id in the external side's own form (as the sync reads them)."""
    source = app_id.lower()

    def canonical(key: tuple[str, str]) -> tuple[str, str]:
        return (key[0], external.canonical_id(entity, key[1])) if key[0] == source else key
    return canonical


def rebuild_pair(loaded: LoadedConfig, pair_name: str, store: StateStore) -> RebuildResult:
    pair = loaded.pair(pair_name)
    owner = lease_owner()
    if not store.acquire_lease(pair_name, owner, 600):
        raise LeaseHeldError(f"pair {pair_name!r} is being synced; stop the daemon first", pair=pair_name)
    result = RebuildResult()
    conns = build_connectors(loaded, pair_name)
    try:
        fresh: list[tuple[str, list[tuple[str, str, dict[str, object], dict[str, object]]]]] = []
        for entity, ecfg in pair.entities.items():
            if not ecfg.enabled or any(entity not in c.entities() for c in conns.values()):
                continue
            mapping, problems = build_entity_mapping(entity, ecfg, conns["cloze"].fields(entity), conns["external"].fields(entity))
            result.problems.extend(problems)
            # Markers only: no match rules, no creates.
            mapping = dataclasses.replace(mapping, match_on=(), create_in_cloze=False, create_in_external=False,
                                          canonical_link=_canonical_link(pair.app_id, conns["external"], entity))
            seen = observe.observe_full(entity, mapping, conns["cloze"], conns["external"])
            plan = plan_entity(entity, [], seen.obs, mapping, app_id=pair.app_id, delete_policy=pair.delete_policy)
            rows = []
            for action in plan.actions:
                if action.kind != "sync" or not action.cloze_id or not action.external_id:
                    continue
                c, e = seen.obs.cloze[action.cloze_id], seen.obs.external[action.external_id]
                agreed = {k: v for k, v in c.values.items() if e.values.get(k, object()) == v}
                rows.append((action.cloze_id, action.external_id, base_json(agreed), base_json(agreed)))
            result.links[entity] = len(rows)
            result.unmatched[entity] = len(seen.obs.cloze) + len(seen.obs.external) - 2 * len(rows)
            result.problems.extend(f"{entity} {err.side} {err.record_id}: {err.message}" for err in plan.errors)
            fresh.append((entity, rows))
        with store.transaction() as s:
            for name, rows in fresh:
                s.execute(delete(Link).where(col(Link.pair) == pair_name, col(Link.entity) == name))
                for cloze_id, external_id, base_c, base_e in rows:
                    StateStore.save_link(s, pair=pair_name, entity=name, app_id=pair.app_id, cloze_id=cloze_id,
                                         external_id=external_id, base=base_c, base_external=base_e)
                # Cursors are dropped: the next run lists both sides fully.
                s.execute(delete(Cursor).where(col(Cursor.pair) == pair_name, col(Cursor.entity) == name))
    finally:
        for conn in conns.values():
            conn.close()
        store.release_lease(pair_name, owner)
    return result
