"""Join markers on the wire: the requests that stamp, carry and clear them on each side.

The core reads markers (:mod:`syncd.core.sides`); the executor writes them through
one :class:`WireMarker` per side, so creates, updates and unlinks are written once:
a Cloze record carries an App Link ``(app_id, external id)``, an external record
the Cloze identity (``cloze_ref``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from connectors.model import AppLink, CreateRequest, SetPatch, Side, UpdateRequest

Fields = Mapping[str, str | SetPatch | None]


class WireMarker(Protocol):
    """How the executor asks one side to carry (or drop) the marker naming a record of the other side."""

    @property
    def accumulates(self) -> bool:
        """A record may carry several such markers, so a new one leaves an old one in place."""
        ...

    def create(self, key: str, fields: Fields, other_id: str) -> CreateRequest:
        """Create a record carrying the marker naming ``other_id``, in the same call."""
        ...

    def update(self, record_id: str, fields: Fields, *, names: str | None = None, replacing: str | None = None,
               seen_modified_at: int | None = None) -> UpdateRequest:
        """Change ``fields``; with ``names``, stamp the marker naming that id; drop the one naming ``replacing``
        (a side whose record carries one marker only replaces it by stamping the new one)."""
        ...

    def clear(self, record_id: str, other_id: str | None) -> UpdateRequest | None:
        """Drop the marker naming ``other_id``; None when there is nothing to name."""
        ...


class AppLinkWire:
    """Cloze: an App Link of the pair's App ID whose Unique ID is the external id."""

    accumulates = True

    def __init__(self, app_link: Callable[[str], AppLink]) -> None:
        self.app_link = app_link

    def create(self, key: str, fields: Fields, other_id: str) -> CreateRequest:
        return CreateRequest(key=key, fields=fields, app_link=self.app_link(other_id))

    def update(self, record_id: str, fields: Fields, *, names: str | None = None, replacing: str | None = None,
               seen_modified_at: int | None = None) -> UpdateRequest:
        stale = self.app_link(replacing) if replacing and replacing != names else None
        return UpdateRequest(id=record_id, fields=fields, add_app_link=self.app_link(names) if names else None,
                             remove_app_link=stale, seen_modified_at=seen_modified_at)

    def clear(self, record_id: str, other_id: str | None) -> UpdateRequest | None:
        if not other_id:
            return None
        return UpdateRequest(id=record_id, fields={}, remove_app_link=self.app_link(other_id))


class ClozeRefWire:
    """An external CRM: the Cloze identity stored on the record; setting it replaces the old one."""

    accumulates = False

    def create(self, key: str, fields: Fields, other_id: str) -> CreateRequest:
        return CreateRequest(key=key, fields=fields, cloze_ref=other_id)

    def update(self, record_id: str, fields: Fields, *, names: str | None = None, replacing: str | None = None,
               seen_modified_at: int | None = None) -> UpdateRequest:
        return UpdateRequest(id=record_id, fields=fields, cloze_ref=names, seen_modified_at=seen_modified_at)

    def clear(self, record_id: str, other_id: str | None) -> UpdateRequest | None:
        return UpdateRequest(id=record_id, fields={}, clear_cloze_ref=True)


def wire_markers(app_link: Callable[[str], AppLink]) -> dict[Side, WireMarker]:
    """Each side's wire marker; ``app_link(external_id)`` builds this pair's App Link."""
    return {"cloze": AppLinkWire(app_link), "external": ClozeRefWire()}
