"""Reply forms the emulator can be switched between, applied to every API reply in one place.

Handlers build one canonical form (unset properties as ``None``, batch error
sub-categories as strings); :func:`present` turns it into the form the settings ask for.
"""

from __future__ import annotations

from typing import Any

from connectors.hubspot.emulator.settings import EmulatorSettings


def present(body: Any, settings: EmulatorSettings) -> Any:
    if not isinstance(body, dict):
        return body
    if settings.unset_property_value == "empty":
        for record in _records(body):
            props = record.get("properties")
            if isinstance(props, dict):
                record["properties"] = {k: "" if v is None else v for k, v in props.items()}
    if settings.batch_error_sub_category == "object" and isinstance(body.get("results"), list):
        for error in body.get("errors") or []:
            if isinstance(error, dict) and isinstance(error.get("subCategory"), str):
                error["subCategory"] = {"code": error["subCategory"]}
    return body


def _records(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "properties" in body and "id" in body:
        return [body]
    results = body.get("results")
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
