"""What the Salesforce emulator can be told: org limits, auth, validation switches and reply forms.

Defaults are Salesforce's documented behaviour (a Developer Edition org: 15,000 API calls per rolling
24 hours); every other form is opt-in. EMULATOR_CHOICES.md explains each uncertain default.
Faults reuse the HubSpot emulator's :class:`FaultSettings` so both emulators take the same switches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.emulator.settings import FaultSettings

__all__ = ["EmulatorSettings", "FaultSettings", "split_kwargs", "updated_faults", "updated_settings"]


@dataclass(frozen=True)
class EmulatorSettings:
    daily_api_limit: int | None = 15_000  # rolling 24 h, org-wide; None turns the budget off
    limit_info_form: str = "plain"  # "plain": api-usage=n/m; "bursts": adds "; api-bursts=n/750"
    min_api_version: str = "31.0"  # lower versions answer 410
    max_api_version: str = "66.0"  # higher versions answer 404
    query_batch_size: int = 2_000  # rows per query page unless Sforce-Query-Options asks for 200..2000
    query_locator_ttl_seconds: int = 2 * 86_400  # a nextRecordsUrl older than this: INVALID_QUERY_LOCATOR
    session_timeout_seconds: int = 7_200  # minted access tokens; fixed tokens given to the emulator never expire
    duplicate_rule: str = "alert"  # Contact by Email: "alert" (blocks unless allowSave=true), "block", "off"
    external_id_field: str = "Cloze_Syncd_Id__c"
    external_id_objects: tuple[str, ...] = ("Contact", "Account", "Opportunity")
    # Custom Lead fields mapped to the same-named Contact field for lead conversion (Setup > Map Lead
    # Fields); none unless an admin maps them.
    lead_convert_custom_fields: tuple[str, ...] = ()
    upsert_update_status: int = 200  # 204 for API versions before 46.0
    recycle_bin_days: int = 15
    replication_updated_days: int = 30
    replication_deleted_days: int = 15
    replication_id_limit: int = 600_000
    collection_max_records: int = 200
    # OAuth: JWT bearer (RS256 with this public key) and client credentials.
    consumer_key: str = "3MVG9emulator.consumer.key"
    consumer_secret: str = "emulator-consumer-secret"
    username: str = "integration@example.com"
    jwt_public_key: str | None = None  # PEM; without it JWT bearer grants are refused
    refresh_token_rotation: bool = False  # the connected app's Refresh Token Rotation (off unless enabled)
    org_id: str = "00D5g0000000001EAA"
    user_id: str = "0055g0000000001AAA"


_CHOICES: dict[str, tuple[Any, ...]] = {
    "limit_info_form": ("plain", "bursts"),
    "duplicate_rule": ("alert", "block", "off"),
    "upsert_update_status": (200, 204),
}


def _coerce(cls: type[Any], current: Any, changes: Mapping[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("external_id_objects", "lead_convert_custom_fields", "script"):
            value = tuple(dict(v) if isinstance(v, Mapping) else v for v in (value or ()))
        choices = _CHOICES.get(key)
        if choices is not None and value not in choices:
            raise ValueError(f"{key} must be one of {', '.join(map(str, choices))}")
        values[key] = value
    return dataclasses.replace(current, **values)


def updated_settings(current: EmulatorSettings, changes: Mapping[str, Any]) -> EmulatorSettings:
    result: EmulatorSettings = _coerce(EmulatorSettings, current, changes)
    return result


def updated_faults(current: FaultSettings, changes: Mapping[str, Any]) -> FaultSettings:
    result: FaultSettings = _coerce(FaultSettings, current, changes)
    return result


def split_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
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
            raise TypeError(f"SalesforceEmulator got an unexpected keyword argument {key!r}")
    return settings, faults


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)
