"""Two in-memory systems, a state database and a pair config, for engine tests.

``SYNCD_TEST_STATE=postgresql`` puts every world's state on a new database of a throw-away
PostgreSQL server (:mod:`state.pgserver`, one per test process) instead of SQLite, so an engine
suite checks single-host behaviour with the state on PostgreSQL too
(``tests/state/test_engine_on_postgresql.py`` runs a selection that way).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

from config.models import PairConfig
from connectors.base import ConnectorContext
from connectors.entities import ENTITY_KINDS
from connectors.model import Entity
from state.pgserver import PostgresServer, running_postgres
from state.store import StateStore
from syncd.core.mapping import build_entity_mapping, to_canonical
from syncd.engine.report import RunReport
from syncd.engine.runner import PairEngine
from tests.memory_rig import MemoryBackend, MemoryConnector, MemorySettings

APP_ID = "crm.example.com"
_names = itertools.count()


class World:
    """A pair of memory backends plus the state; ``run()`` syncs them once."""

    def __init__(self, tmp: Path | None = None, *, cloze_merges: frozenset[str] = frozenset(), **pair: Any) -> None:
        n = next(_names)
        self.cloze_merges = cloze_merges  # fields by which the Cloze side merges a create, as Cloze does
        self.cloze_name, self.ext_name = f"cloze{n}", f"ext{n}"
        self.cloze = MemoryBackend.named(self.cloze_name, "cloze")
        self.ext = MemoryBackend.named(self.ext_name, "external")
        cfg: dict[str, Any] = {"app_id": APP_ID, "app_name": "CRM", "cloze": {}, "external": {"connector": "memory"}}
        cfg.update(pair)
        self.cfg = PairConfig.model_validate(cfg)
        self.store = new_state(tmp)

    def connectors(self) -> tuple[MemoryConnector, MemoryConnector]:
        c = MemoryConnector(MemorySettings(backend=self.cloze_name, role="cloze", merges_on_create=self.cloze_merges),
                            ConnectorContext("p", "cloze", APP_ID))
        x = MemoryConnector(MemorySettings(backend=self.ext_name, role="external"), ConnectorContext("p", "external", APP_ID))
        return c, x

    def run(self, mode: str = "full", **kw: Any) -> RunReport:
        c, x = self.connectors()
        return PairEngine(pair="p", cfg=self.cfg, cloze=c, external=x, store=self.store, mode=mode, **kw).run()  # type: ignore[arg-type]

    def canon(self, entity: Entity = "person") -> tuple[dict[str, Any], dict[str, Any]]:
        """Every record of each side in canonical form, by id."""
        c, x = self.connectors()
        fields = ENTITY_KINDS.fields(entity)
        mapping, _ = build_entity_mapping(entity, self.cfg.entities[entity], fields, fields)
        cl = {r.id: to_canonical(r, mapping, "cloze") for page in c.list_all(entity) for r in page}
        ex = {r.id: to_canonical(r, mapping, "external") for page in x.list_all(entity) for r in page}
        return cl, ex

    def links(self, entity: str = "person") -> list[Any]:
        return [l for l in self.store.links("p", entity) if l.status == "active"]

    def writes(self) -> int:
        return self.cloze.writes + self.ext.writes

    def close(self) -> None:
        MemoryBackend.forget(self.cloze_name)
        MemoryBackend.forget(self.ext_name)


def rekey(backend: MemoryBackend, entity: str, old: str, new: str) -> None:
    """The record ``old`` comes back under the id ``new`` (as a Cloze person whose direct id changed)."""
    item = backend.items[entity][old]
    backend.remove(entity, old)
    backend.put(entity, dict(item.fields), record_id=new, app_links=item.app_links, cloze_ref=item.cloze_ref)


def merge_into(backend: MemoryBackend, entity: str, loser: str, survivor: str, *, keep_markers: bool = True) -> None:
    """Merge ``loser`` into ``survivor`` as Cloze does: lists unioned, empty fields filled; ``loser`` disappears.

    ``keep_markers``: the survivor also takes the loser's App Links and Cloze identity.
    """
    gone, kept = backend.items[entity][loser], backend.items[entity][survivor]
    fields = dict(kept.fields)
    for key, value in gone.fields.items():
        if isinstance(value, list):
            fields[key] = sorted(set(fields.get(key) or ()) | set(value))
        elif fields.get(key) in (None, ""):
            fields[key] = value
    links = list(kept.app_links) + [a for a in gone.app_links if keep_markers and a not in kept.app_links]
    ref = kept.cloze_ref or (gone.cloze_ref if keep_markers else None)
    backend.remove(entity, loser)
    backend.put(entity, fields, record_id=survivor, app_links=links, cloze_ref=ref)


def restore(backend: MemoryBackend, entity: str, record_id: str, fields: dict[str, Any], *,
            app_links: Any = (), cloze_ref: str | None = None) -> None:
    """A deleted record comes back under its old id with its markers (HubSpot's recycle bin)."""
    backend.put(entity, fields, record_id=record_id, app_links=app_links, cloze_ref=cloze_ref)


STATE_BACKEND = os.environ.get("SYNCD_TEST_STATE", "sqlite")
_postgres: list[PostgresServer] = []
_open_stores: list[StateStore] = []


def new_state(tmp: Path | None) -> StateStore:
    """A new, empty state for a world: a SQLite file in ``tmp`` (in memory without one), or with
    ``SYNCD_TEST_STATE=postgresql`` a new PostgreSQL database."""
    if STATE_BACKEND != "postgresql":
        return StateStore.open(tmp / "state.db") if tmp else _memory_store()
    if not _postgres:
        stack = contextlib.ExitStack()
        _postgres.append(stack.enter_context(running_postgres()))
        atexit.register(stack.close)
    for earlier in _open_stores:  # the server allows 100 connections; a closed pool reopens if used again
        earlier.engine.dispose()
    _open_stores.clear()
    store = StateStore.open(_postgres[0].new_database())
    _open_stores.append(store)
    return store


def _memory_store() -> StateStore:
    store = StateStore.memory()
    store.readonly = False
    return store


def assert_converged(world: World, entity: Entity = "person", allow_pending: bool = False,
                     skip: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """INV-1: every linked pair equal on every mapped field (except pending manual conflicts, ``skip``ped links)."""
    cl, ex = world.canon(entity)
    pending = {(c.link_id, c.field) for c in world.store.conflicts("p", "open")} if allow_pending else set()
    for link in world.links(entity):
        if link.id in skip:
            continue
        assert link.cloze_id in cl, f"link {link.id} points at missing Cloze record {link.cloze_id}"
        assert link.external_id in ex, f"link {link.id} points at missing external record {link.external_id}"
        c, e = cl[link.cloze_id], ex[link.external_id]
        for name in c.values:
            if (link.id, name) in pending:
                continue
            assert c.values[name] == e.values.get(name), (link.id, name, c.values[name], e.values.get(name))
        assert (APP_ID, link.external_id) in c.app_links
        assert e.cloze_ref == link.cloze_id


def assert_no_duplicates(world: World, entity: Entity = "person") -> None:
    """No two records on a side carry the same join marker; every link is one-to-one."""
    cl, ex = world.canon(entity)
    targets = [uid for c in cl.values() for src, uid in c.app_links if src == APP_ID]
    assert len(targets) == len(set(targets)), f"two Cloze records link the same external record: {targets}"
    refs = [e.cloze_ref for e in ex.values() if e.cloze_ref]
    assert len(refs) == len(set(refs)), f"two external records carry the same Cloze identity: {refs}"
    links = world.links(entity)
    assert len({l.cloze_id for l in links}) == len(links)
    assert len({l.external_id for l in links}) == len(links)
