"""The emulator's switches: behaviour where the spec is open, and injected faults.

Both sets can be given to :class:`~connectors.cloze.emulator.ClozeEmulator` at
construction and changed at runtime (Python or ``POST /_emulator/settings`` and
``POST /_emulator/faults``), so a test in another process can flip them. Every
behaviour choice is explained in ``connectors/cloze/EMULATOR_CHOICES.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class BehaviourSettings:
    """How the emulator resolves what the Cloze documentation leaves open.

    The defaults are the documented behaviour (the Swagger file, spec §2-§7); each
    convenience beyond it (App Link ``get`` for people and companies, any ``direct``
    form, ``"none"`` for empty enums, the ``pending`` project stage, project segment
    keys without the listing's leading ``-``) is an opt-in value here.
    """

    keywords_mode: Literal["replace", "merge"] = "replace"
    noop_bumps_last_changed: bool = False
    merge_new_sync_key: bool = True
    update_without_match: Literal["create", "error"] = "create"
    direct_id_forms: Literal["any", "documented"] = "documented"
    app_link_get: Literal["all", "projects"] = "projects"
    empty_enum_as_none: bool = False
    project_pending_stage: bool = False
    project_segment_keys: Literal["dashed", "plain"] = "dashed"
    profile_key: Literal["profile", "user"] = "profile"
    find_lastchanged_desc: bool = True
    timeline_bumps_last_changed: bool = False
    # The timeline's open questions (timeline.md §8), each at its documented or most cautious reading.
    communication_update_matches: Literal["none", "threadid"] = "none"
    content_repost_replaces: bool = True
    content_update_flag: Literal["events", "all", "none"] = "events"
    event_future_allowed: bool = True
    unknown_reference_creates_person: bool = False
    check_user: bool = False
    value_validation: Literal["reject", "store"] = "reject"
    webhook_time_scale: float = 1.0
    webhook_timeout_s: float = 10.0


@dataclass(frozen=True)
class FaultSettings:
    """Injected misbehaviour for the client's tests; all randomness comes from ``seed``.

    ``*_next`` counters hit the next N API requests; ``*_rate`` values are
    probabilities per request. ``paths`` limits faults (not latency) to API paths
    starting with one of the prefixes; empty means every ``/v1/`` path.
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None
    rate_limit_retry_after: bool = True
    rate_limit_next: int = 0
    retry_after_s: float = 1.0
    error_rate: float = 0.0
    error_next: int = 0
    error_status: int = 503
    timeout_rate: float = 0.0
    timeout_next: int = 0
    slow_reply_s: float = 15.0
    drop_rate: float = 0.0
    drop_next: int = 0
    malformed_rate: float = 0.0
    malformed_next: int = 0
    paths: tuple[str, ...] = ()
    seed: int = 0


S = TypeVar("S", BehaviourSettings, FaultSettings)


def names(cls: type[BehaviourSettings | FaultSettings]) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def updated(current: S, changes: Mapping[str, Any]) -> S:
    """``current`` with ``changes`` applied; unknown names and wrong types raise ``ValueError``."""
    known = {f.name: f for f in fields(current)}
    hints = get_type_hints(type(current))
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(known))}")
        default = getattr(type(current)(), key)
        clean[key] = _coerce(key, value, default)
        if get_origin(hints[key]) is Literal and clean[key] not in get_args(hints[key]):
            allowed = ", ".join(repr(a) for a in get_args(hints[key]))
            raise ValueError(f"{key} must be one of {allowed}")
    return replace(current, **clean)


def as_dict(settings: BehaviourSettings | FaultSettings) -> dict[str, Any]:
    out = asdict(settings)
    if isinstance(settings, FaultSettings):
        out["paths"] = list(settings.paths)
    return out


def _coerce(key: str, value: Any, default: Any) -> Any:
    if key == "paths":
        if isinstance(value, str):
            return (value,) if value else ()
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError("paths must be a list of path prefixes")
    if key == "rate_limit_per_second" or key == "rate_limit_burst":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{key} must be a positive number or null")
        return int(value) if key == "rate_limit_burst" else float(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"{key} must be true or false")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{key} must be a non-negative number")
        if key.endswith("_rate") and value > 1:
            raise ValueError(f"{key} is a probability between 0 and 1")
        return type(default)(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(f"{key} must be a string")
        return value
    return value
