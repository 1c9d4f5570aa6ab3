"""Helpers the emulators' seed generators share."""

from __future__ import annotations

from collections.abc import Callable


def unique(draw: Callable[[], str], used: set[str], tries: int = 1000) -> str:
    """A value from ``draw`` not in ``used`` while any are left (then a repeat), added to ``used``.

    Seeded records must not share phone numbers or domains by chance: the sync would hold
    them back as twins, and Cloze would merge them.
    """
    value = draw()
    for _ in range(tries):
        if value not in used:
            break
        value = draw()
    used.add(value)
    return value
