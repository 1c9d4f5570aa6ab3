"""The engine's convergence properties, with a real Tryton server as the external side.

The same checks as tests/engine/test_properties.py (linked pairs equal on every
mapped field, a second run writes nothing, nothing duplicated), with fewer
examples: each example gets categories of its own, so examples never see each
other's parties.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.models import PairConfig
from connectors.base import ConnectorContext
from connectors.model import UpdateRequest
from connectors.tryton import TrytonConnector
from connectors.tryton.settings import TrytonSettings
from connectors.tryton.testserver import TrytonServer
from state.store import StateStore
from syncd.core.mapping import build_entity_mapping, to_canonical
from syncd.engine.runner import PairEngine
from tests.memory_rig import MemoryBackend, MemoryConnector, MemorySettings

pytestmark = pytest.mark.tryton

APP_ID = "tryton.example.com"
EMAILS = ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]

person = st.fixed_dictionaries({
    "first": st.sampled_from(["Ann", "Bob", "Cy", "Dée"]),
    "last": st.sampled_from(["Lee", "Ng", "O'Hara"]),
    "emails": st.lists(st.sampled_from(EMAILS), min_size=1, max_size=2, unique=True),
    "tags": st.lists(st.sampled_from(["vip", "golf"]), max_size=2, unique=True),
})
step = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(["cloze", "external"]), person),
    st.tuples(st.just("rename"), st.sampled_from(["cloze", "external"]), st.integers(0, 9), st.sampled_from(["Eve", "Fay"])),
    st.tuples(st.just("tag"), st.sampled_from(["cloze", "external"]), st.integers(0, 9), st.sampled_from(["vip", "board"])),
)


class TrytonWorld:
    def __init__(self, server: TrytonServer) -> None:
        uid = uuid.uuid4().hex[:10]
        self.cloze_name = f"cloze-{uid}"
        self.cloze = MemoryBackend.named(self.cloze_name, "cloze")
        table = server.settings(company_category=f"Company {uid}", person_category=f"Person {uid}", cursor_overlap=0)
        self.ext_settings = TrytonSettings.model_validate(table)
        self.cfg = PairConfig.model_validate({
            "app_id": APP_ID, "cloze": {}, "external": {"connector": "tryton"},
            "entities": {"company": {"enabled": False}, "project": {"enabled": False}},
        })
        self.store = StateStore.memory()
        self.store.readonly = False

    def connectors(self) -> tuple[MemoryConnector, TrytonConnector]:
        c = MemoryConnector(MemorySettings(backend=self.cloze_name, role="cloze"), ConnectorContext("p", "cloze", APP_ID))
        x = TrytonConnector(self.ext_settings, ConnectorContext("p", "external", APP_ID))
        return c, x

    def run(self, mode: str) -> Any:
        c, x = self.connectors()
        try:
            return PairEngine(pair="p", cfg=self.cfg, cloze=c, external=x, store=self.store, mode=mode).run()  # type: ignore[arg-type]
        finally:
            x.close()

    def apply(self, op: tuple[Any, ...]) -> None:
        _, x = self.connectors()
        try:
            if op[0] == "create":
                if op[1] == "cloze":
                    self.cloze.put("person", op[2])
                else:
                    from connectors.model import CreateRequest, SetPatch

                    fields = {"first": op[2]["first"], "last": op[2]["last"],
                              "emails": SetPatch(add=frozenset(op[2]["emails"]), result=frozenset(op[2]["emails"])),
                              "tags": SetPatch(add=frozenset(op[2]["tags"]), result=frozenset(op[2]["tags"]))}
                    [res] = x.create("person", [CreateRequest(key="k", fields=fields)])
                    assert res.ok, res.error
                return
            if op[1] == "cloze":
                ids = sorted(self.cloze.items["person"])
                if ids:
                    rid = ids[op[2] % len(ids)]
                    if op[0] == "rename":
                        self.cloze.edit("person", rid, first=op[3])
                    else:
                        tags = set(self.cloze.items["person"][rid].fields.get("tags") or ())
                        self.cloze.edit("person", rid, tags=sorted(tags ^ {op[3]}))
                return
            ids = sorted(r.id for page in x.list_all("person") for r in page)
            if ids:
                from connectors.model import SetPatch

                rid = ids[op[2] % len(ids)]
                change: dict[str, Any] = {"first": op[3]} if op[0] == "rename" else {
                    "tags": SetPatch(add=frozenset({op[3]}), result=frozenset({op[3]}))}
                [res] = x.update("person", [UpdateRequest(id=rid, fields=change)])
                assert res.ok, res.error
        finally:
            x.close()

    def check(self, mode: str) -> None:
        report = self.run(mode)
        assert report.ok, report.error
        c, x = self.connectors()
        try:
            mapping, _ = build_entity_mapping("person", self.cfg.entities["person"], c.fields("person"), x.fields("person"))
            cl = {r.id: to_canonical(r, mapping, "cloze") for page in c.list_all("person") for r in page}
            ex = {r.id: to_canonical(r, mapping, "external") for page in x.list_all("person") for r in page}
        finally:
            x.close()
        links = [l for l in self.store.links("p", "person") if l.status == "active"]
        for link in links:
            assert cl[link.cloze_id].values == ex[link.external_id].values, (cl[link.cloze_id], ex[link.external_id])
        refs = [e.cloze_ref for e in ex.values() if e.cloze_ref]
        assert len(refs) == len(set(refs)), "two Tryton parties carry one Cloze identity"
        again = self.run(mode)
        assert again.ok and again.total_writes == 0, f"second run wrote {dict(again.writes)}"

    def close(self) -> None:
        MemoryBackend.forget(self.cloze_name)


def _p(*emails: str) -> dict[str, Any]:
    return {"first": "Ann", "last": "Lee", "emails": list(emails), "tags": []}


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Once flaky here: the Cloze person matched by ann@ gains cy@ in the first run, which makes the
# third party a duplicate only when judged by the keys after that run's writes.
@example(initial=[("cloze", _p("ann@example.com")), ("external", _p("dee@example.com")),
                  ("external", _p("cy@example.com", "ann@example.com")),
                  ("external", _p("cy@example.com", "dee@example.com"))], steps=[])
@given(initial=st.lists(st.tuples(st.sampled_from(["cloze", "external"]), person), max_size=4),
       steps=st.lists(step, max_size=5))
def test_random_edits_converge_against_tryton(tryton_server: TrytonServer, initial: list[Any], steps: list[Any]) -> None:
    world = TrytonWorld(tryton_server)
    try:
        for side, fields in initial:
            world.apply(("create", side, fields))
        world.check("full")
        for op in steps:
            world.apply(op)
        world.check("incremental")
        world.check("full")
    finally:
        world.close()
