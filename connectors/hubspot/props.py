"""Knows which properties the account has, and creates the ones cloze-syncd owns.

Reads never create anything (a dry run writes nowhere): a missing identity property
just means no record carries a Cloze identity yet. Writes create the missing ones first
(identity: unique single-line text; tags and notes: multi-line text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.errors import AuthError, ConfigError
from connectors.hubspot.client import HubSpotClient, HubSpotRejected

GROUPS = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation"}


@dataclass(frozen=True)
class OwnProperty:
    name: str
    label: str
    field_type: str
    unique: bool
    description: str


class PropertyCatalog:
    """Property definitions per object type, fetched once per connector."""

    def __init__(self, client: HubSpotClient) -> None:
        self.client = client
        self._defs: dict[str, dict[str, dict[str, Any]]] = {}

    def definitions(self, object_type: str) -> dict[str, dict[str, Any]]:
        if object_type not in self._defs:
            body = self.client.get(self.client.paths.properties(object_type))
            self._defs[object_type] = {p["name"]: p for p in (body or {}).get("results", []) if "name" in p}
        return self._defs[object_type]

    def exists(self, object_type: str, name: str) -> bool:
        return name in self.definitions(object_type)

    def options(self, object_type: str, name: str) -> list[str]:
        definition = self.definitions(object_type).get(name) or {}
        return [str(o.get("value")) for o in definition.get("options") or [] if not o.get("hidden")]

    def ensure(self, object_type: str, prop: OwnProperty, *, create: bool) -> None:
        """Make sure ``prop`` exists on ``object_type``; create it if allowed."""
        if self.exists(object_type, prop.name):
            definition = self.definitions(object_type)[prop.name]
            if prop.unique and not definition.get("hasUniqueValue"):
                raise ConfigError(
                    f"HubSpot property {prop.name!r} on {object_type} exists but does not require unique values",
                    side="external", field=prop.name,
                    hint="use another identity_property name, or recreate this one with 'unique value' on")
            return
        if not create:
            raise ConfigError(f"HubSpot property {prop.name!r} is missing on {object_type}", side="external",
                            field=prop.name, hint="create it, or set create_properties = true")
        body = {"name": prop.name, "label": prop.label, "type": "string", "fieldType": prop.field_type,
                "groupName": GROUPS[object_type], "description": prop.description, "hasUniqueValue": prop.unique,
                "formField": False}
        try:
            reply = self.client.post(self.client.paths.properties(object_type), body)
        except AuthError as exc:
            raise AuthError(
                f"the HubSpot token may not create the property {prop.name!r} on {object_type}: {exc.message}",
                side="external", field=prop.name, status=exc.status, code=exc.code,
                correlation_id=exc.correlation_id,
                hint=f"grant the crm.schemas.{object_type}.write scope, or create a single-line text property "
                     f"named {prop.name!r}{' with unique values' if prop.unique else ''} by hand") from None
        except HubSpotRejected as exc:
            if exc.status != 409:  # 409: someone created it meanwhile, which is what we wanted
                raise
            self._defs.pop(object_type, None)
            return
        self.definitions(object_type)[prop.name] = reply.body or body
