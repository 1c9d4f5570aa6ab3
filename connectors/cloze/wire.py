"""Facts about Cloze's wire format shared by the client, the connector and the emulator.

Kept free of I/O so the emulator and the client cannot drift apart on how an
identifier is normalised or how an address becomes one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from connectors.model import Entity

KindPath = Literal["people", "companies", "projects"]

PATH: Final[Mapping[Entity, KindPath]] = {"person": "people", "company": "companies", "project": "projects"}
"""The path segment (and find/feed list key) of each entity: ``/v1/people/find`` -> ``people[]``."""

ENTITY_OF_PATH: Final[Mapping[str, Entity]] = {v: k for k, v in PATH.items()}

KINDS: Final[tuple[Entity, ...]] = tuple(PATH)
"""The entity kinds Cloze holds."""

PERSON_STAGES: Final = ("lead", "future", "current", "past", "out")
"""People and companies share these stage keys (spec §10)."""

PROJECT_STAGES: Final = ("future", "current", "won", "lost")
"""Project stage keys of the spec's enum (spec §2.5)."""

PENDING_STAGE: Final = "pending"
"""A project stage seen live and in examples, though missing from the enum (spec §2.5)."""

SOCIAL_TYPES: Final = frozenset(
    [
        "aboutme",
        "angellist",
        "facebook",
        "flickr",
        "foursquare",
        "github",
        "instagram",
        "linkedin",
        "medium",
        "meetup",
        "pinterest",
        "plancast",
        "quora",
        "reddit",
        "snapchat",
        "tiktok",
        "twitter",
        "whatsapp",
        "xing",
        "youtube",
    ]
)

EMPTY_ENUM = "none"
"""How Cloze reports an empty stage, segment or step (spec §2.5, webhook test event)."""

EVENTS: Final = tuple(
    f"{e}.{kind}" for e in KINDS for kind in ("change", "audit.change")
)
"""The six webhook events (spec §6)."""

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 10


def is_empty_enum(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", EMPTY_ENUM))


def format_address(address: Mapping[str, Any]) -> str:
    """One line for a postal address: ``formatted`` when Cloze gives it, else the parts joined."""
    formatted = address.get("formatted")
    if isinstance(formatted, str) and formatted.strip():
        return " ".join(formatted.split())
    region_post = " ".join(str(address[k]).strip() for k in ("region", "postcode") if address.get(k))
    parts = [
        address.get("street"),
        address.get("suite"),
        address.get("pobox"),
        address.get("city"),
        region_post,
        address.get("country"),
    ]
    return ", ".join(" ".join(str(p).split()) for p in parts if p and str(p).strip())


def app_link_uniqueid(source: str, uniqueid: str) -> str:
    """The ``uniqueid`` query value that names an App Link: ``<source>:<uniqueid>``."""
    return f"{source.strip().lower()}:{uniqueid}"


def element_value(item: Any, *keys: str) -> str | None:
    """The text of an array element that may be a bare string or an object (``{value: ...}``)."""
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        for key in keys or ("value",):
            value = item.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def live_elements(items: Any) -> list[Any]:
    """Array elements that are not archived (Cloze archives an element with ``archived: true``)."""
    if not isinstance(items, list):
        return []
    return [i for i in items if not (isinstance(i, Mapping) and i.get("archived"))]
