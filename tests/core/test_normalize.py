"""Canonical forms: each kind's edge cases, and the message an operator reads for an unreadable value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from connectors.model import FieldKind
from connectors.values import (
    MAX_TEXT,
    BadValue,
    from_json,
    norm_domain,
    norm_phone,
    normalize,
    to_json,
)


@pytest.mark.parametrize("kind,raw,message", [
    (FieldKind.TEXT, True, "expected text, got a boolean"),
    (FieldKind.TEXT, ["a"], "expected text, got list"),
    (FieldKind.TEXT, "x" * (MAX_TEXT + 1), f"text longer than {MAX_TEXT} characters"),
    (FieldKind.NUMBER, False, "expected a number, got a boolean"),
    (FieldKind.NUMBER, "a lot", "expected a number"),
    (FieldKind.NUMBER, "Infinity", "expected a finite number"),
    (FieldKind.NUMBER, "NaN", "expected a finite number"),
    (FieldKind.DATE, "yesterday", "expected a date (YYYY-MM-DD)"),
    (FieldKind.DATE, True, "expected a date (YYYY-MM-DD)"),
    (FieldKind.EMAILS, 42, "expected a list, got int"),
])
def test_an_unreadable_value_says_why(kind: FieldKind, raw: Any, message: str) -> None:
    with pytest.raises(BadValue) as caught:
        normalize(kind, raw)
    assert str(caught.value) == message


@pytest.mark.parametrize("kind,raw,expected", [
    (FieldKind.TEXT, "x" * MAX_TEXT, "x" * MAX_TEXT),
    (FieldKind.TEXT, 42, "42"),
    (FieldKind.TEXT, Decimal("1.50"), "1.50"),
    (FieldKind.TEXT, 1.5, "1.5"),
    (FieldKind.TEXT, None, None),
    (FieldKind.TEXT, "a\x7fb\tc", "ab c"),
    (FieldKind.LONGTEXT, "a  \r\nb", "a\nb"),
    (FieldKind.LONGTEXT, "\n\n  a  \n b\n\n", "  a\n b"),
    (FieldKind.LONGTEXT, " \n \n", None),
    (FieldKind.LONGTEXT, None, None),
    (FieldKind.ENUM, None, None),
    (FieldKind.ENUM, "  ", None),
    (FieldKind.NUMBER, "", None),
    (FieldKind.NUMBER, None, None),
    (FieldKind.NUMBER, "0", "0"),
    (FieldKind.NUMBER, "-0.00", "0"),
    (FieldKind.NUMBER, "1,250.50", "1250.5"),
    (FieldKind.NUMBER, " 12 ", "12"),
    (FieldKind.NUMBER, Decimal("2E+3"), "2000"),
    (FieldKind.NUMBER, 7, "7"),
    (FieldKind.DATE, "", None),
    (FieldKind.DATE, None, None),
    (FieldKind.DATE, date(2026, 1, 2), "2026-01-02"),
    (FieldKind.DATE, datetime(2026, 1, 2, 23, 30), "2026-01-02"),
    (FieldKind.DATE, datetime(2026, 1, 2, 23, 30, tzinfo=timezone(timedelta(hours=-2))), "2026-01-03"),
    (FieldKind.DATE, datetime(2026, 1, 3, 1, 0, tzinfo=timezone(timedelta(hours=5))), "2026-01-02"),
    (FieldKind.DATE, 1_767_398_400_000, "2026-01-03"),
    (FieldKind.DATE, "1767398400000", "2026-01-03"),
    (FieldKind.DATE, " 2026-01-02T10:00:00Z ", "2026-01-02"),
    (FieldKind.EMAILS, None, frozenset()),
    (FieldKind.EMAILS, " A@X.com ", frozenset({"a@x.com"})),
    (FieldKind.EMAILS, ("a@x.com", "c@x.com"), frozenset({"a@x.com", "c@x.com"})),
    (FieldKind.EMAILS, {"a@x.com", ""}, frozenset({"a@x.com"})),
    (FieldKind.TAGS, frozenset({"VIP", "  "}), frozenset({"VIP"})),
    (FieldKind.PHONES, ["+", "ext."], frozenset()),
    (FieldKind.DOMAINS, ["http://"], frozenset()),
])
def test_canonical_forms(kind: FieldKind, raw: Any, expected: Any) -> None:
    assert normalize(kind, raw) == expected


def test_a_date_time_without_zone_keeps_its_own_date() -> None:
    naive = datetime(2026, 1, 2, 23, 59)
    assert normalize(FieldKind.DATE, naive) == "2026-01-02"
    assert normalize(FieldKind.DATE, naive.replace(tzinfo=UTC)) == "2026-01-02"


@pytest.mark.parametrize("raw,expected", [("+1 (555) 010-0", "+15550100"), ("555.0101", "5550101"),
                                          (" +44 20 ", "+4420"), ("+", ""), ("00 1", "001")])
def test_phones_keep_digits_and_a_leading_plus(raw: str, expected: str) -> None:
    assert norm_phone(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("HTTPS://www.Acme.com/about?x=1", "acme.com"), ("acme.com.", "acme.com"), ("mail.acme.com?q", "mail.acme.com"),
    ("svn+ssh://acme.org/repo", "acme.org"), ("wwwacme.com", "wwwacme.com"), ("www.www.acme.com", "www.acme.com"),
    ("1http://acme.com", "1http:"),
])
def test_domains_drop_scheme_path_query_and_www(raw: str, expected: str) -> None:
    assert norm_domain(raw) == expected


def test_json_round_trip() -> None:
    assert to_json(frozenset({"b", "a"})) == ["a", "b"] and to_json("x") == "x" and to_json(None) is None
    assert from_json(FieldKind.TAGS, ["a", "b"]) == frozenset({"a", "b"})
    assert from_json(FieldKind.TAGS, None) == frozenset()
    assert from_json(FieldKind.NUMBER, 5) == "5" and from_json(FieldKind.TEXT, None) is None


def test_long_text_keeps_its_own_letters_at_the_ends() -> None:
    assert normalize(FieldKind.LONGTEXT, "X marks\nthe spotX\n") == "X marks\nthe spotX"


def test_a_domain_stops_at_its_first_query_mark() -> None:
    assert norm_domain("acme.com?x?y") == "acme.com"


def test_dates_do_not_depend_on_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        evening_utc = datetime(2026, 1, 2, 20, 0, tzinfo=UTC)  # already the 3rd in Tokyo
        assert normalize(FieldKind.DATE, int(evening_utc.timestamp() * 1000)) == "2026-01-02"
        assert normalize(FieldKind.DATE, datetime(2026, 1, 2, 23, 30)) == "2026-01-02", "naive: its own date"
        assert normalize(FieldKind.DATE, evening_utc.astimezone(timezone(timedelta(hours=9)))) == "2026-01-02"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("kind,raw,expected", [
    # A CRM's dropdown option called "none" is a value; Cloze's spelling of "empty" is read by its connector.
    (FieldKind.ENUM, "none", "none"),
    (FieldKind.ENUM, " None ", "none"),
])
def test_one_systems_empty_spelling_is_a_value_to_the_core(kind: FieldKind, raw: Any, expected: Any) -> None:
    assert normalize(kind, raw) == expected


@pytest.mark.parametrize("kind,raw,message", [
    (FieldKind.NUMBER, {"decimal": "3.10"}, "expected a number"),  # Tryton's wire form: its client decodes it
    (FieldKind.EMAILS, {"value": "b@x.com"}, "expected a list, got dict"),  # Cloze's array element objects
    (FieldKind.EMAILS, [{"value": "a@x.com"}], "expected text, got dict"),
    (FieldKind.SET, [{"address": "1 Main St"}], "expected text, got dict"),
])
def test_wire_forms_are_refused_not_guessed(kind: FieldKind, raw: Any, message: str) -> None:
    """The core reads plain values only; a connector that hands on its wire form gets a field problem."""
    with pytest.raises(BadValue) as caught:
        normalize(kind, raw)
    assert str(caught.value) == message
