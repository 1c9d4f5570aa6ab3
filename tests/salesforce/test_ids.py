"""Record ids: the 15 -> 18 checksum with the published vectors, and ids the emulator mints."""

from __future__ import annotations

import pytest

from connectors.salesforce import ids


@pytest.mark.parametrize(("id15", "id18"), [
    ("a0BA0000000L2ZC", "a0BA0000000L2ZCMA0"),
    ("70130000001tcyI", "70130000001tcyIAAQ"),
    ("003G000001SUbc4", "003G000001SUbc4IAD"),
    ("006j000000Pkp1d", "006j000000Pkp1dAAB"),  # the Cloze help's Opportunity example
])
def test_to18_matches_published_vectors(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.to18(id18) == id18


def test_a_wrong_suffix_or_length_is_refused() -> None:
    with pytest.raises(ValueError, match="checksum"):
        ids.to18("006j000000Pkp1dAAA")
    assert ids.normalize("006j000000") is None
    assert ids.normalize("not an id at all!") is None


def test_minted_ids_carry_prefix_and_valid_checksum() -> None:
    minted = ids.mint("003", "5g", 12345)
    assert len(minted) == 18 and minted.startswith("0035g") and ids.to18(minted[:15]) == minted
