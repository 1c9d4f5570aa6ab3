"""The fast JSON codec gives the standard library's answers: same values decoded, same documents
refused, same bytes (up to float spelling) encoded, same errors raised."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import jsoncodec

scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) \
    | st.floats(allow_nan=False, allow_infinity=False) | st.text()
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


def stdlib(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@given(documents)
def test_a_document_reads_back_as_the_standard_library_reads_it(value: Any) -> None:
    encoded = jsoncodec.dumps(value)
    assert json.loads(encoded) == json.loads(stdlib(value))
    assert jsoncodec.loads(encoded) == json.loads(encoded)
    assert jsoncodec.loads(stdlib(value)) == json.loads(stdlib(value))


@given(st.dictionaries(st.text(), st.text() | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none()))
def test_the_bytes_are_the_standard_librarys_when_no_float_is_involved(value: dict[str, Any]) -> None:
    assert jsoncodec.dumps(value) == stdlib(value)


@pytest.mark.parametrize("document", [b"NaN", b"[Infinity, -Infinity]", b"1e400", b'"\\ud800"',
                                      b"123456789012345678901234567890", b'{"id": -9999999999999999999}',
                                      b"[18446744073709551616]", "[12345678901234567890123]", b"[" * 900 + b"]" * 900])
def test_what_only_the_standard_library_reads_is_still_read(document: bytes) -> None:
    expected = json.loads(document)
    got = jsoncodec.loads(document)
    assert got == expected or (isinstance(got, float) and math.isnan(got))
    assert repr(got) == repr(expected)  # an integer stays an integer, every digit of it


@pytest.mark.parametrize("document", [b"", b"{", b"[1,]", b"<html>", b"\xff\xfe"])
def test_what_neither_reads_fails_as_the_standard_library_fails(document: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(document)
    with pytest.raises(ValueError):
        jsoncodec.loads(document)


def test_deep_nesting_raises_the_standard_librarys_error() -> None:
    document = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        jsoncodec.loads(document)


@pytest.mark.parametrize("value", [float("nan"), {"x": [1, float("inf")]}, [-float("inf")]])
def test_no_nan_or_infinity_is_written(value: Any) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        jsoncodec.dumps(value)


def test_what_the_standard_library_cannot_write_is_refused_as_it_refuses_it() -> None:
    import datetime
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int

    for value in (datetime.datetime(2026, 1, 1), Point(1), {1: "int key"}, b"bytes"):
        try:
            expected: Any = stdlib(value)
        except TypeError as exc:
            with pytest.raises(TypeError):
                jsoncodec.dumps(value)
            assert "not JSON serializable" in str(exc) or "keys must be" in str(exc)
        else:
            assert jsoncodec.dumps(value) == expected


def test_a_string_subclass_is_written_as_its_string() -> None:
    from enum import StrEnum

    class Stage(StrEnum):
        LEAD = "lead"

    assert jsoncodec.dumps({"stage": Stage.LEAD}) == b'{"stage":"lead"}'
