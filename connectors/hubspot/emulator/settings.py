"""What the HubSpot emulator can be told: account limits and injected faults.

Both dataclasses are plain values; the server keeps one of each and replaces them
whole when they change (at construction, through ``HubSpotEmulator.configure`` /
``set_faults``, or through ``POST /_emulator/settings`` and ``/_emulator/faults``),
so a request always sees one consistent set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EmulatorSettings:
    """Limits of the emulated HubSpot account.

    The defaults are those of a Free/Starter account as HubSpot documents them:
    100 requests per rolling 10 seconds, 250,000 per day, search 5 per second,
    10,000 results per search query, 100 inputs per batch. ``None`` turns a limit off.
    """

    rate_limit_per_10s: int | None = 100
    daily_limit: int | None = 250_000
    search_rate_per_second: int | None = 5
    search_result_cap: int = 10_000
    search_max_limit: int = 200
    list_max_limit: int = 100
    max_batch_inputs: int = 100
    search_body_max_chars: int = 3_000
    rate_headers_on_search: bool = False  # third-party reports: search replies carry no X-HubSpot-RateLimit-*
    company_domain_unique: bool = False  # HubSpot's API does not dedupe companies by domain by default
    enforce_enum_options: bool = True
    batch_validation: str = "partial"  # "partial": 207 per-input errors; "all_or_nothing": the first one as a 400
    missing_scopes: frozenset[str] = frozenset()  # e.g. {"crm.schemas.contacts.write"} to refuse property creation
    portal_id: int = 4_242_424
    # A requested property without a value: ``"null"`` as HubSpot's documented examples show it,
    # ``"empty"`` for an empty string (the schema types every property value as a string).
    unset_property_value: str = "null"
    # ``errors[].subCategory`` of batch replies: ``"object"`` as StandardError types it in the
    # OpenAPI files, ``"string"`` as replies quoted from live accounts show it.
    batch_error_sub_category: str = "object"
    # Webhooks, as an app with webhooks gets them (Service Keys have none), so off by default:
    # with a target URL, every change is POSTed there as signed events (see ``webhooks.py``).
    webhook_target_url: str | None = None
    webhook_client_secret: str = ""  # the app's client secret: the key of X-HubSpot-Signature-v3
    webhook_app_id: int = 1_234_567
    webhook_max_events: int = 100  # events per request (HubSpot batches up to 100)
    webhook_timestamp_offset_ms: int = 0  # added to X-HubSpot-Request-Timestamp: a stale one for tests


@dataclass(frozen=True)
class FaultSettings:
    """Faults injected into replies, by rate (0..1) or as a deterministic script.

    ``script`` is a list of one-shot faults applied to the next matching requests,
    in order: ``{"kind": "error"|"slow"|"drop"|"malformed"|"rate_limit", "status": 503,
    "match": "/search", "method": "POST", "seconds": 2.0}``.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 502
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int = 0
    script: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


def _coerce(cls: type[Any], current: Any, changes: Mapping[str, Any]) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(changes) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "missing_scopes":
            value = frozenset(value or ())
        elif key == "script":
            value = tuple(dict(item) for item in (value or ()))
        choices = _CHOICES.get(key)
        if choices is not None and value not in choices:
            raise ValueError(f"{key} must be one of {', '.join(choices)}")
        values[key] = value
    return dataclasses.replace(current, **values)


_CHOICES = {
    "unset_property_value": ("null", "empty"),
    "batch_error_sub_category": ("object", "string"),
    "batch_validation": ("partial", "all_or_nothing"),
}


def updated_settings(current: EmulatorSettings, changes: Mapping[str, Any]) -> EmulatorSettings:
    """``current`` with ``changes`` applied; unknown keys are an error."""
    result: EmulatorSettings = _coerce(EmulatorSettings, current, changes)
    return result


def updated_faults(current: FaultSettings, changes: Mapping[str, Any]) -> FaultSettings:
    """``current`` with ``changes`` applied; unknown keys are an error."""
    result: FaultSettings = _coerce(FaultSettings, current, changes)
    return result


def split_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sort constructor keyword arguments into settings and faults."""
    setting_names = {f.name for f in dataclasses.fields(EmulatorSettings)}
    fault_names = {f.name for f in dataclasses.fields(FaultSettings)}
    settings: dict[str, Any] = {}
    faults: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in setting_names:
            settings[key] = value
        elif key in fault_names:
            faults[key] = value
        else:
            raise TypeError(f"HubSpotEmulator got an unexpected keyword argument {key!r}")
    return settings, faults
