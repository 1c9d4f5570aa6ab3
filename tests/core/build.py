"""Plain-data builders for the core's unit tests: canonical records, links, mappings, observations."""

from __future__ import annotations

from collections.abc import Iterable

from connectors.model import FieldKind
from connectors.values import Value
from syncd.core.actions import LinkState, Observation
from syncd.core.mapping import Canon, EntityMapping, FieldRule

APP = "crm.example.com"

RULES = (
    FieldRule("first", FieldKind.TEXT, "both", "newest_wins", "first", "first"),
    FieldRule("emails", FieldKind.EMAILS, "both", "newest_wins", "emails", "emails"),
    FieldRule("phones", FieldKind.PHONES, "both", "newest_wins", "phones", "phones"),
)


def mapping(*, match_on: tuple[str, ...] = ("email",), to_cloze: bool = True, to_external: bool = True,
            segments: Iterable[str] = ()) -> EntityMapping:
    return EntityMapping(
        entity="person", rules=RULES, match_on=match_on,  # type: ignore[arg-type]
        create_in_cloze=to_cloze, create_in_external=to_external,
        filter_segments=frozenset(segments), filter_stages=frozenset(), filter_tags=frozenset(),
    )


def rec(rid: str, *, first: str | None = "Ann", emails: Iterable[str] = (), phones: Iterable[str] = (),
        links: Iterable[str] = (), other_links: Iterable[tuple[str, str]] = (), ref: str | None = None,
        modified: int | None = None, problems: dict[str, str] | None = None,
        scope: dict[str, Value] | None = None) -> Canon:
    """A canonical record; ``links`` are App Links of :data:`APP` (Cloze side), ``ref`` a Cloze identity."""
    mails, tels = frozenset(emails), frozenset(phones)
    keys: dict[str, frozenset[str]] = {}
    if mails:
        keys["email"] = mails
    if tels:
        keys["phone"] = tels
    return Canon(
        id=rid, values={"first": first, "emails": mails, "phones": tels}, problems=problems or {},
        modified_at=modified, app_links=frozenset({(APP, x) for x in links} | set(other_links)),
        cloze_ref=ref, match_keys=keys, scope=scope or {},
    )


def base(r: Canon) -> dict[str, Value]:
    return dict(r.values)


def link(lid: int, cid: str | None, xid: str | None, *, status: str = "active",
         values: dict[str, Value] | None = None) -> LinkState:
    return LinkState(lid, cid, xid, status, values, dict(values) if values is not None else None)


def observe(cloze: Iterable[Canon] = (), external: Iterable[Canon] = (), *, complete: bool = True,
            cloze_gone: Iterable[str] = (), external_gone: Iterable[str] = ()) -> Observation:
    return Observation(cloze={c.id: c for c in cloze}, external={e.id: e for e in external},
                       cloze_gone=set(cloze_gone), external_gone=set(external_gone), complete=complete)
