"""Tryton's wire values (datetime, date, time, timedelta, Decimal, bytes): exact both ways, also through a server."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.tryton.cursor import Cursor, Position
from connectors.tryton.cursor import decode as decode_cursor
from connectors.tryton.encoding import WireError, decode, dumps, encode, epoch_ms, loads, scalar_text
from connectors.tryton.rpc import RpcClient
from connectors.tryton.values import join_name, read_plain, split_name, write_plain

values = st.one_of(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.dates(),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(days=-9999), max_value=dt.timedelta(days=9999)).map(
        lambda d: dt.timedelta(seconds=round(d.total_seconds(), 3))),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.binary(max_size=64),
)


@given(st.lists(values, max_size=5), values)
def test_every_value_survives_a_round_trip(items: list[object], single: object) -> None:
    payload = {"items": items, "single": single, "nested": {"value": single}}
    assert loads(dumps(payload)) == payload
    assert decode(json.loads(dumps(payload))) == payload


def test_wire_shapes_match_trytons() -> None:
    assert encode(Decimal("450000.10")) == {"__class__": "Decimal", "decimal": "450000.10"}
    assert encode(dt.date(2026, 11, 22)) == {"__class__": "date", "year": 2026, "month": 11, "day": 22}
    assert encode(dt.datetime(2026, 1, 2, 3, 4, 5, 6))["microsecond"] == 6
    assert encode(b"\x00\xff") == {"__class__": "bytes", "base64": "AP8="}
    assert encode(dt.timedelta(minutes=1, milliseconds=500)) == {"__class__": "timedelta", "seconds": 60.5}
    aware = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert decode(encode(aware)) == dt.datetime(2026, 1, 1, 10, 0)  # sent as naive UTC
    assert encode({"s": frozenset({"a"}), "t": ("b",)}) == {"s": ["a"], "t": ["b"]}
    with pytest.raises(WireError):
        encode(Decimal("NaN"))
    with pytest.raises(WireError):
        loads('{"__class__": "Decimal", "decimal": "twelve"}')
    assert loads('{"__class__": "unknown", "x": 1}') == {"__class__": "unknown", "x": 1}


def test_timestamps_and_text_forms() -> None:
    assert epoch_ms(dt.datetime(1970, 1, 1, 0, 0, 1, 500000)) == 1500
    assert epoch_ms(dt.datetime(1970, 1, 1, 1, 0), "Europe/Paris") == 0
    assert scalar_text(Decimal("1E+2")) == "100" and scalar_text(True) == "true" and scalar_text(None) is None
    assert read_plain("boolean", 0) == "false" and read_plain("numeric", Decimal("2.50")) == Decimal("2.50")
    assert write_plain("numeric", "2.50") == Decimal("2.50") and write_plain("date", "2026-01-31") == dt.date(2026, 1, 31)
    assert write_plain("boolean", "") is False and write_plain("integer", "12") == 12
    with pytest.raises(ValueError):
        write_plain("boolean", "maybe")


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)),
       st.integers(min_value=0, max_value=2**40), st.none() | st.datetimes(min_value=dt.datetime(1970, 1, 1)))
def test_cursors_round_trip(at: dt.datetime, rid: int, child: dt.datetime | None) -> None:
    cursor = Cursor(Position(at, rid), child)
    assert decode_cursor(cursor.encode()) == cursor


@given(st.lists(st.text(alphabet="abcXYZ-'", min_size=1, max_size=6), min_size=1, max_size=4))
def test_names_split_and_join_back(words: list[str]) -> None:
    name = " ".join(words)
    for rule in ("first_word", "last_word"):
        first, last = split_name(name, rule)  # type: ignore[arg-type]
        assert join_name(first, last) == name


@pytest.mark.tryton
def test_values_round_trip_through_the_server(admin: RpcClient, uid: str) -> None:
    blob = bytes(range(256)) * 3
    [party] = admin.create("party.party", [{"name": f"Wire {uid}"}])
    [att] = admin.create("ir.attachment", [{"name": f"{uid}.bin", "resource": f"party.party,{party}", "data": blob}])
    [row] = admin.search_read("ir.attachment", [("id", "=", att)], ["data", "create_date"])
    assert row["data"] == blob
    created = row["create_date"]
    assert isinstance(created, dt.datetime)
    # The datetime read comes back exactly: searching by it finds the record.
    assert [r["id"] for r in admin.search_read("ir.attachment", [("create_date", "=", created), ("id", "=", att)],
                                               ["id"])] == [att]
    amount = Decimal("123456789.12")
    [opp] = admin.create("sale.opportunity", [{"description": f"Wire {uid}", "amount": amount,
                                               "end_date": dt.date(2031, 2, 28)}])
    [deal] = admin.search_read("sale.opportunity", [("id", "=", opp)], ["amount", "end_date", "start_date"])
    assert deal["amount"] == amount and deal["end_date"] == dt.date(2031, 2, 28)
    assert isinstance(deal["start_date"], dt.date)
