"""Bad records, each seeded into one emulator with what ``syncd`` must make of it.

A case either *syncs* (the other side ends up with the value as the
normaliser defines it: NFC, control characters removed, whitespace collapsed)
or is *refused* (an open record error names the record, and nothing garbled
reaches the other side). Values the APIs would never accept through their own
validation (a list where text belongs, an unknown stage) are put straight into
the emulators' stores, as a buggy or changed API would send them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fault.checks import cloze_links
from tests.fault.seeding import cloze_person, cloze_poke, hubspot_poke
from tests.fault.world import ENTITY_TYPES, World

LONG_TEXT = 100_000  # past the normaliser's 65,536-character limit


@dataclass
class Seeded:
    """What a case put where: its record ids by side."""

    cloze: list[str] = field(default_factory=list)
    hubspot: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """Both sides after the runs, and the open record errors after the first run."""

    world: World
    errors: list[dict[str, Any]]

    def counterpart(self, entity: str, side: str, record_id: str) -> dict[str, Any] | None:
        """The other side's record linked to ``record_id`` (through the App Link on Cloze)."""
        if side == "cloze":
            record = self.world.cloze.get_record(entity, record_id)
            links = cloze_links(record or {})
            return self.world.hubspot.get_object(ENTITY_TYPES[entity], links[0]) if len(links) == 1 else None
        for record in self.world.cloze.records(entity):
            if record_id in cloze_links(record):
                return record
        return None

    def error_for(self, *record_ids: str) -> dict[str, Any] | None:
        return next((e for e in self.errors if e["record_id"] in record_ids), None)


Seed = Callable[[World], Seeded]
Check = Callable[[Outcome, Seeded], None]


@dataclass(frozen=True)
class Case:
    name: str
    seed: Seed
    check: Check


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# -- expectations ------------------------------------------------------------------------


def synced(entity: str, side: str, prop: str, expected: Any) -> Check:
    """The record's counterpart holds ``expected`` in ``prop`` (a Cloze key or a HubSpot property)."""

    def check(out: Outcome, seeded: Seeded) -> None:
        rid = (seeded.cloze if side == "cloze" else seeded.hubspot)[0]
        other = out.counterpart(entity, side, rid)
        assert other is not None, f"not synced; errors: {out.error_for(rid)}"
        value = other["properties"].get(prop) if side == "cloze" else other.get(prop)
        assert value == expected, f"{prop} arrived as {value!r}, expected {expected!r}"

    return check


def refused(entity: str, side: str, *, field_name: str | None = None, garbage: tuple[str, Any] | None = None,
            any_of: bool = False) -> Check:
    """An open record error names the record (``any_of``: one of the case's records); with ``garbage``,
    the counterpart (if the rest of the record synced) does not hold that garbled value."""

    def check(out: Outcome, seeded: Seeded) -> None:
        ids = seeded.cloze if side == "cloze" else seeded.hubspot
        wanted = ids if any_of else ids[:1]
        error = out.error_for(*wanted)
        assert error is not None, f"no open record error names {wanted}; open errors: " + str(
            [(e["op"], e["record_id"], e["field"], e["message"][:80]) for e in out.errors])
        assert error["message"], error
        if field_name is not None and error["field"] is not None:
            assert error["field"] == field_name, error
        if garbage is not None:
            other = out.counterpart(entity, side, ids[0])
            if other is not None:
                prop, bad = garbage
                value = other["properties"].get(prop) if side == "cloze" else other.get(prop)
                assert value != bad, f"the garbled value {bad!r} reached the other side"

    return check


def both(*checks: Check) -> Check:
    def check(out: Outcome, seeded: Seeded) -> None:
        for c in checks:
            c(out, seeded)

    return check


def one_of(*checks: Check) -> Check:
    """At least one expectation holds (a value either syncs as read, or is refused)."""

    def check(out: Outcome, seeded: Seeded) -> None:
        failures = []
        for c in checks:
            try:
                c(out, seeded)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(" / ".join(failures))

    return check


def no_control_characters(entity: str, side: str, prop: str) -> Check:
    def check(out: Outcome, seeded: Seeded) -> None:
        rid = (seeded.cloze if side == "cloze" else seeded.hubspot)[0]
        other = out.counterpart(entity, side, rid)
        assert other is not None, f"not synced; errors: {out.error_for(rid)}"
        value = str((other["properties"] if side == "cloze" else other).get(prop) or "")
        assert value and not any(unicodedata.category(c) == "Cc" for c in value), repr(value)

    return check


def one_counterpart_for_duplicates(entity: str, side: str) -> Check:
    """Two records of one side sharing an e-mail: at most one counterpart, and an error names the other."""

    def check(out: Outcome, seeded: Seeded) -> None:
        ids = seeded.cloze if side == "cloze" else seeded.hubspot
        others = [out.counterpart(entity, side, rid) for rid in ids]
        distinct = {str(o.get("id") or o.get("direct")) for o in others if o is not None}
        assert len(distinct) <= 1, f"the duplicates got {len(distinct)} counterparts"
        refused(entity, side, any_of=True)(out, seeded)
        # Neither twin is overwritten with the other's data (through a counterpart both end up sharing).
        for n, rid in enumerate(ids, 1):
            if side == "cloze":
                record = out.world.cloze.get_record(entity, rid)
                name = (record or {}).get("last")
            else:
                obj = out.world.hubspot.get_object(ENTITY_TYPES[entity], rid)
                name = (obj or {}).get("properties", {}).get("lastname")
            assert str(name).endswith(str(n)), f"twin {n} ({rid}) now has the last name {name!r}"

    return check


# -- seeds ---------------------------------------------------------------------------------


def cloze(entity: str, record: dict[str, Any], **raw: Any) -> Seed:
    def seed(world: World) -> Seeded:
        direct = world.cloze.add_record(entity, record)
        if raw:
            cloze_poke(world, entity, direct, **raw)
        return Seeded(cloze=[direct])

    return seed


def cloze_twins(email: str) -> Seed:
    def seed(world: World) -> Seeded:
        return Seeded(cloze=[world.cloze.add_record("person", cloze_person("Twin", f"No{n}", email)) for n in (1, 2)])

    return seed


def hubspot(object_type: str, props: dict[str, Any], **raw: Any) -> Seed:
    def seed(world: World) -> Seeded:
        object_id = world.hubspot.add_object(object_type, props)
        if raw:
            hubspot_poke(world, object_type, object_id, **raw)
        return Seeded(hubspot=[object_id])

    return seed


def hubspot_twins(email: str) -> Seed:
    def seed(world: World) -> Seeded:
        first = world.hubspot.add_object("contacts", {"email": email, "firstname": "Twin", "lastname": "Hs1"})
        second = world.hubspot.add_object("contacts", {"firstname": "Twin", "lastname": "Hs2"})
        hubspot_poke(world, "contacts", second, email=email)  # HubSpot itself refuses a second holder
        return Seeded(hubspot=[first, second])

    return seed


def hubspot_tags(count: int) -> Seed:
    def seed(world: World) -> Seeded:
        world.hubspot.add_property("contacts", "cloze_syncd_tags", type="string", field_type="textarea")
        object_id = world.hubspot.add_object("contacts", {"email": "tags.hs@bad.example", "lastname": "Tags"})
        hubspot_poke(world, "contacts", object_id, cloze_syncd_tags=";".join(f"h{i}" for i in range(count)))
        return Seeded(hubspot=[object_id])

    return seed


def _keywords(count: int) -> Check:
    def check(out: Outcome, seeded: Seeded) -> None:
        other = out.counterpart("person", "hubspot", seeded.hubspot[0])
        assert other is not None, f"not synced; errors: {out.error_for(seeded.hubspot[0])}"
        assert len(other.get("keywords") or []) == count

    return check


def _tags_property(count: int) -> Check:
    def check(out: Outcome, seeded: Seeded) -> None:
        other = out.counterpart("person", "cloze", seeded.cloze[0])
        assert other is not None, f"not synced; errors: {out.error_for(seeded.cloze[0])}"
        assert len([t for t in str(other["properties"].get("cloze_syncd_tags") or "").split(";") if t]) == count

    return check


EMOJI, RTL, COMBINING = "Zoë 👩‍👩‍👧‍👦 🚀", "مرحبا بالعالم", "Rene\u0301e Zoe\u0308"

CASES = [
    # -- from Cloze --
    Case("cloze-invalid-email", cloze("person", cloze_person("Inv", "Alid", "not-an-email")),
         refused("person", "cloze")),
    Case("cloze-invalid-email-two-ats", cloze("person", cloze_person("Inv", "Two", "a@b@c.example")),
         refused("person", "cloze")),
    Case("cloze-empty-names", cloze("person", {"first": "", "last": "", "name": "",
                                               "emails": [{"value": "nameless@bad.example"}]}),
         both(synced("person", "cloze", "email", "nameless@bad.example"),
              synced("person", "cloze", "firstname", None), synced("person", "cloze", "lastname", None))),
    Case("cloze-absurdly-long-name", cloze("person", cloze_person("L" * LONG_TEXT, "Long", "long@bad.example")),
         both(refused("person", "cloze", field_name="first"), synced("person", "cloze", "lastname", "Long"))),
    Case("cloze-absurdly-long-description", cloze("company", {"name": "Verbose Ltd", "domains": ["verbose.example"],
                                                              "description": "D" * (LONG_TEXT * 2)}),
         both(refused("company", "cloze", field_name="description"),
              synced("company", "cloze", "name", "Verbose Ltd"))),
    Case("cloze-emoji-rtl-combining", cloze("person", cloze_person(EMOJI, RTL, "unicode@bad.example",
                                                                    workHistory=[{"title": COMBINING}])),
         both(synced("person", "cloze", "firstname", nfc(EMOJI)), synced("person", "cloze", "lastname", nfc(RTL)),
              synced("person", "cloze", "jobtitle", nfc(COMBINING)))),
    Case("cloze-nul-and-control-characters",
         cloze("person", cloze_person("Nul\x00Byte\x07", "Esc\x1b[31mRed\x7f", "control@bad.example")),
         both(no_control_characters("person", "cloze", "firstname"),
              no_control_characters("person", "cloze", "lastname"),
              synced("person", "cloze", "firstname", "NulByte"))),
    Case("cloze-duplicate-emails", cloze_twins("twin@bad.example"), one_counterpart_for_duplicates("person", "cloze")),
    Case("cloze-thousands-of-tags", cloze("person", cloze_person("Many", "Tags", "tags@bad.example",
                                                                 keywords=[f"tag-{i}" for i in range(3000)])),
         _tags_property(3000)),
    Case("cloze-unknown-stage-value", cloze("person", cloze_person("Odd", "Stage", "stage@bad.example"),
                                            stage="martian"),
         both(refused("person", "cloze", field_name="stage"), synced("person", "cloze", "lastname", "Stage"))),
    Case("cloze-number-for-text", cloze("person", cloze_person("x", "Number", "number@bad.example"), first=12345),
         one_of(synced("person", "cloze", "firstname", "12345"), refused("person", "cloze", field_name="first"))),
    Case("cloze-list-for-text", cloze("person", cloze_person("x", "Listy", "list@bad.example"), first=["a", "b"]),
         both(refused("person", "cloze", field_name="first", garbage=("firstname", "['a', 'b']")),
              synced("person", "cloze", "lastname", "Listy"))),
    Case("cloze-object-for-text", cloze("person", cloze_person("x", "Dicty", "dict@bad.example"), last={"x": 1}),
         refused("person", "cloze", field_name="last", garbage=("lastname", "{'x': 1}"))),
    Case("cloze-boolean-for-text", cloze("person", cloze_person("x", "Booly", "bool@bad.example"), first=True),
         refused("person", "cloze", field_name="first", garbage=("firstname", "True"))),
    Case("cloze-number-for-list", cloze("person", cloze_person("Kw", "Number", "kwnum@bad.example"), keywords=5),
         both(refused("person", "cloze", field_name="tags"), synced("person", "cloze", "lastname", "Number"))),
    Case("cloze-string-for-list", cloze("person", cloze_person("Lone", "Email", "x@bad.example"),
                                        emails="lone@bad.example"),
         one_of(synced("person", "cloze", "email", "lone@bad.example"), refused("person", "cloze"))),
    # -- from HubSpot --
    Case("hubspot-number-for-text", hubspot("contacts", {"email": "hnum@bad.example", "lastname": "Num"},
                                            firstname=12345),
         one_of(synced("person", "hubspot", "first", "12345"), refused("person", "hubspot", field_name="first"))),
    Case("hubspot-list-for-text", hubspot("contacts", {"email": "hlist@bad.example", "lastname": "Listy"},
                                          jobtitle=["x", "y"]),
         both(refused("person", "hubspot", field_name="title", garbage=("jobtitle", "['x', 'y']")),
              synced("person", "hubspot", "last", "Listy"))),
    Case("hubspot-object-for-text", hubspot("contacts", {"email": "hdict@bad.example", "lastname": "Dicty"},
                                            firstname={"a": 1}),
         refused("person", "hubspot", field_name="first", garbage=("first", "{'a': 1}"))),
    Case("hubspot-boolean-for-text", hubspot("contacts", {"email": "hbool@bad.example", "lastname": "Booly"},
                                             firstname=True),
         refused("person", "hubspot", field_name="first", garbage=("first", "True"))),
    Case("hubspot-unknown-stage-value", hubspot("contacts", {"email": "hstage@bad.example", "lastname": "Stage"},
                                                lifecyclestage="martian"),
         both(refused("person", "hubspot", field_name="stage"), synced("person", "hubspot", "last", "Stage"))),
    Case("hubspot-absurdly-long-name", hubspot("contacts", {"email": "hlong@bad.example", "lastname": "Long"},
                                               firstname="F" * LONG_TEXT),
         both(refused("person", "hubspot", field_name="first"), synced("person", "hubspot", "last", "Long"))),
    Case("hubspot-emoji-rtl", hubspot("contacts", {"email": "hemoji@bad.example", "firstname": "Łukasz 🚀👍🏽",
                                                   "lastname": "שלום עולם"}),
         both(synced("person", "hubspot", "first", "Łukasz 🚀👍🏽"), synced("person", "hubspot", "last", "שלום עולם"))),
    Case("hubspot-control-characters", hubspot("contacts", {"email": "hctl@bad.example", "firstname": "Bell\x07",
                                                            "lastname": "Ctl\x00\x01End"}),
         both(synced("person", "hubspot", "last", "CtlEnd"), synced("person", "hubspot", "first", "Bell"))),
    Case("hubspot-duplicate-emails", hubspot_twins("htwin@bad.example"),
         one_counterpart_for_duplicates("person", "hubspot")),
    Case("hubspot-thousands-of-tags", hubspot_tags(4000), _keywords(4000)),
    Case("hubspot-text-for-number", hubspot("deals", {"dealname": "Wordy deal", "pipeline": "default",
                                                      "dealstage": "closedwon"}, amount="lots"),
         both(refused("project", "hubspot", field_name="value"), synced("project", "hubspot", "name", "Wordy deal"))),
]
