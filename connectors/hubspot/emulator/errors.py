"""HubSpot-shaped error bodies, and the exception the emulator's handlers raise to send one.

Shape (HubSpot's "API error responses" page; every field optional for callers):
``{"status": "error", "message", "correlationId", "category", "subCategory", "errors": [...],
"context": {...}, "links": {...}}``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(
    message: str,
    category: str,
    *,
    sub_category: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors:
        body["errors"] = errors
    if context:
        body["context"] = context
    if links:
        body["links"] = links
    if extra:
        body.update(extra)
    return body


def batch_error(message: str, category: str, *, context: dict[str, Any], errors: list[dict[str, Any]] | None = None,
                sub_category: str | None = None) -> dict[str, Any]:
    """One entry of a 207 reply's ``errors``: the StandardError shape (all keys present)."""
    entry: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "links": {},
        "errors": errors or [],
    }
    if sub_category:
        entry["subCategory"] = sub_category
    return entry


@dataclass
class PropertyProblem:
    """Why one property value was refused (HubSpot's ``Property values were not valid`` items)."""

    name: str
    error: str  # PROPERTY_DOESNT_EXIST, READ_ONLY_VALUE, INVALID_OPTION, INVALID_EMAIL, ...
    message: str

    def item(self, portal_id: int) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }


def validation_message(problems: list[PropertyProblem], portal_id: int) -> str:
    items = json.dumps([p.item(portal_id) for p in problems], separators=(",", ":"))
    return f"Property values were not valid: {items}"


def validation_details(problems: list[PropertyProblem]) -> list[dict[str, Any]]:
    return [
        {"message": p.message, "code": p.error, "context": {"propertyName": [p.name]}}
        for p in problems
    ]


@dataclass
class EmulatorError(Exception):
    """Raised inside a handler: the reply is ``status`` with ``body`` and ``headers``."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def not_found(message: str = "resource not found", context: dict[str, Any] | None = None) -> EmulatorError:
    return EmulatorError(404, error_body(message, "OBJECT_NOT_FOUND", context=context))


def bad_request(message: str, *, errors: list[dict[str, Any]] | None = None,
                context: dict[str, Any] | None = None, sub_category: str | None = None) -> EmulatorError:
    return EmulatorError(400, error_body(message, "VALIDATION_ERROR", errors=errors, context=context,
                                         sub_category=sub_category))


def conflict(message: str, context: dict[str, Any] | None = None) -> EmulatorError:
    return EmulatorError(409, error_body(message, "CONFLICT", context=context))


UNAUTHORIZED_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def unauthorized() -> EmulatorError:
    return EmulatorError(401, error_body(UNAUTHORIZED_MESSAGE, "INVALID_AUTHENTICATION"))


def missing_scopes(scopes: list[str]) -> EmulatorError:
    return EmulatorError(403, error_body(
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
        "here: https://developers.hubspot.com/scopes.",
        "MISSING_SCOPES",
        errors=[{"message": "One or more of the following scopes are required.",
                 "context": {"requiredGranularScopes": scopes}}],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    ))
