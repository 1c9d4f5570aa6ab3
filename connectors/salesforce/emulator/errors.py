"""Salesforce-shaped errors: REST bodies are a JSON array of ``{message, errorCode, fields?}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SalesforceError(Exception):
    """Raised inside a handler: the reply is ``status`` with ``body`` (a list, or the OAuth object form)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def api_error(status: int, code: str, message: str, fields: list[str] | None = None) -> SalesforceError:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return SalesforceError(status, [entry])


@dataclass
class RecordError(Exception):
    """Why one record was refused; the same data goes into a REST error body or a collection result."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    status: int = 400

    def rest(self) -> SalesforceError:
        return SalesforceError(self.status, [{"message": self.message, "errorCode": self.code,
                                              "fields": self.fields, **self.extra}])

    def collection_item(self) -> dict[str, Any]:
        # Inside sObject Collections results the key is statusCode, not errorCode.
        return {"statusCode": self.code, "message": self.message, "fields": self.fields, **self.extra}


def not_found() -> SalesforceError:
    return api_error(404, "NOT_FOUND", "The requested resource does not exist")


def entity_deleted() -> RecordError:
    return RecordError("ENTITY_IS_DELETED", "entity is deleted", [], status=404)


def invalid_session() -> SalesforceError:
    return api_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


def request_limit() -> SalesforceError:
    return api_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def malformed_query(soql: str, message: str, column: int = 1) -> SalesforceError:
    # Salesforce quotes the statement with a caret under the offending column.
    caret = " " * max(0, column - 1) + "^"
    return api_error(400, "MALFORMED_QUERY", f"\n{soql}\n{caret}\nERROR at Row:1:Column:{column}\n{message}")


def invalid_field(soql: str, message: str, column: int = 1) -> SalesforceError:
    caret = " " * max(0, column - 1) + "^"
    return api_error(400, "INVALID_FIELD", f"\n{soql}\n{caret}\nERROR at Row:1:Column:{column}\n{message}")


def json_error(message: str) -> SalesforceError:
    return api_error(400, "JSON_PARSER_ERROR", message)


def oauth_error(error: str, description: str, status: int = 400) -> SalesforceError:
    return SalesforceError(status, {"error": error, "error_description": description})
