"""The Cloze connector's per-run store of records read: answers like a dict, holds them outside the heap."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from connectors.cloze.known import KnownRecords


def _person(n: int) -> dict[str, Any]:
    return {"direct": f"d{n}", "first": f"First{n}", "last": f"Last{n}", "name": f"First{n} Last{n}",
            "emails": [{"value": f"p{n}@example.com", "work": True}], "phones": [{"value": f"+1555{n:07d}"}],
            "appLinks": [{"source": "CRM.example.com", "uniqueid": f"x{n}", "label": "CRM",
                          "url": f"https://crm.example.com/{n}"}],
            "keywords": ["customer", "vip"], "location": "Boston", "title": "Engineer"}


def test_records_are_found_by_direct_id_and_app_link() -> None:
    known = KnownRecords()
    try:
        known.remember("person", [_person(1), _person(2)])
        assert known.get("person", "d1") == _person(1)
        assert known.get("company", "d1") is None
        assert known.linked("person", "crm.example.com", "x2") == _person(2)
        changed = {**_person(2), "appLinks": []}
        known.remember("person", [changed])  # the record no longer carries the App Link
        assert known.get("person", "d2") == changed
        assert known.linked("person", "crm.example.com", "x2") is None
        known.forget("person", "d1")
        assert known.get("person", "d1") is None
        assert known.linked("person", "crm.example.com", "x1") is None
        known.mark_complete("person")
        assert known.sizes["person"] == 1 and "person" in known.complete
        known.reset()
        assert known.get("person", "d2") is None and not known.complete
    finally:
        known.close()


def _resident_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_the_records_of_a_large_read_are_not_held_in_memory() -> None:
    """30,000 records read in one run (about 30 MB as dicts) grow the process by a few megabytes at most.

    Measured as resident memory, so SQLite's own page cache counts too (tracemalloc would not see it).
    """
    known = KnownRecords()
    try:
        known.remember("person", [_person(0)])
        gc.collect()
        before = _resident_kb()
        for start in range(0, 30_000, 100):
            known.remember("person", [_person(n) for n in range(start, start + 100)])
        gc.collect()
        grown_kb = _resident_kb() - before
        assert grown_kb < 8_000, grown_kb
        assert known.get("person", "d29999") == _person(29999)
        assert known.linked("person", "crm.example.com", "x12345") == _person(12345)
    finally:
        known.close()
