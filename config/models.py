"""The shape of the config file, as pydantic models.

Every table forbids unknown keys (typos are the most common mistake), every model
is frozen, and validation errors never echo input values (secrets may be in them).
Pairs are *named tables* (``[pairs.main]``) so that errors read ``pairs.main.key``.
Each side's connector table (``[pairs.NAME.cloze]``, ``[pairs.NAME.external]``) is
validated by that connector's own ``Settings`` model in :mod:`config.loader`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.activity import DEFAULT_KINDS, ActivityKind
from connectors.entities import ENTITY_KINDS, MatchRule

Direction = Literal["both", "to_cloze", "to_external", "none"]
Policy = Literal["cloze_wins", "external_wins", "newest_wins", "manual"]
DeletePolicy = Literal["delete", "unlink", "ignore"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """``30``, ``"30s"``, ``"5m"``, ``"1h"`` -> seconds."""
    if isinstance(value, bool):
        # ValueError, not TypeError: pydantic reports a ValueError as the field's validation error.
        raise ValueError("expected a duration such as 30, '30s', '5m' or '1h'")  # noqa: TRY004
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("expected a duration such as 30, '30s', '5m' or '1h'")


Seconds = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class FieldMapping(Strict):
    """One mapped field of an entity.

    A built-in canonical field (``emails``, ``stage``...) needs only ``direction``
    and optionally ``policy``. A custom field (a key starting with ``custom.``)
    names the native field on each side (``cloze``, ``external``) and its ``kind``.
    ``values`` translates enumerated values, Cloze key -> external key.
    """

    direction: Direction = "both"
    policy: Policy | None = Field(default=None, description="overrides the entity's conflict policy")
    cloze: str | None = Field(default=None, description="custom fields: the Cloze custom field id")
    external: str | None = Field(default=None, description="custom fields: the external property name")
    kind: Literal["text", "longtext", "enum", "number", "date", "tags", "set"] | None = None
    values: dict[str, str] = Field(default_factory=dict, description="value map, Cloze value -> external value")
    more_external_values: dict[str, str] = Field(
        default_factory=dict,
        description="further external values read as a Cloze value (external -> Cloze; never written back)",
    )

    @field_validator("values")
    @classmethod
    def _bijective(cls, v: dict[str, str]) -> dict[str, str]:
        targets = list(v.values())
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"value map must be one-to-one; external values used twice: {', '.join(dupes)}")
        return v


class Filters(Strict):
    """Which records are in scope for *creating* a counterpart (linked records keep syncing)."""

    segment: list[str] = Field(default_factory=list, description="Cloze segment keys; empty = any")
    stage: list[str] = Field(default_factory=list, description="Cloze stage keys; empty = any")
    tags: list[str] = Field(default_factory=list, description="record must carry one of these tags; empty = any")


class EntityConfig(Strict):
    """How one entity kind (person, company, project...) of a pair syncs."""

    enabled: bool = True
    create_in_cloze: bool = Field(default=True, description="create Cloze records for unlinked external ones")
    create_in_external: bool = Field(default=True, description="create external records for unlinked Cloze ones")
    policy: Policy = Field(default="newest_wins", description="conflict policy for fields with none of their own")
    match_on: list[MatchRule] | None = Field(
        default=None,
        description="how existing records are matched on first sync; default: the kind's own rules "
        "(email for person, domain for company, none for project)",
    )
    filters: Filters = Field(default_factory=Filters)
    app_url: str = Field(
        default="", description="App URL template for this entity ({id}); overrides pairs.NAME.app_url")
    fields: dict[str, FieldMapping] | None = Field(
        default=None,
        description="mapped fields; default: every field both sides support, both ways, except stage and "
        "segment, whose values differ between systems (map them with a 'values' table)",
    )


def _declared_kind(name: str) -> str:
    if name not in ENTITY_KINDS:
        raise ValueError(f"unknown entity kind {name!r}; known: {', '.join(ENTITY_KINDS)}")
    return name


EntityKind = Annotated[str, AfterValidator(_declared_kind)]
"""A table name under ``[pairs.NAME.entities]``: a kind declared in :mod:`connectors.entities`."""


class SafetyConfig(Strict):
    """The delete safety cap: a run over either limit deletes nothing and says why."""

    max_deletes: int = Field(default=50, ge=0, description="most linked records one run may delete or unlink")
    max_delete_share: float = Field(default=0.10, ge=0, le=1, description="most share of a pair's links per run")
    min_deletes_for_share: int = Field(
        default=5, ge=0, description="the share limit applies only above this many deletes (small pairs)"
    )


class ScheduleConfig(Strict):
    interval: Seconds = Field(default=300.0, description="incremental sync every N seconds ('5m' works)")
    jitter: Seconds = Field(default=10.0, description="random delay added to each incremental run")
    reconcile_cron: str | None = Field(
        default="0 3 * * *", description="full reconcile schedule, crontab's five fields; weekdays 0/7 = Sunday"
    )
    timezone: str = "UTC"

    @field_validator("interval", "jitter", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("interval")
    @classmethod
    def _min_interval(cls, v: float) -> float:
        if v < 5:
            raise ValueError("interval must be at least 5 seconds")
        return v


class LimitsConfig(Strict):
    """Bounds on one run of a pair; a run past any of them stops with a typed error naming it."""

    run_deadline: Seconds = Field(
        default=86400.0, description="longest one run may take ('24h': a daily reconcile never meets the next one)"
    )
    request_deadline: Seconds = Field(
        default=120.0, description="longest one HTTP request may take, its whole reply included"
    )
    max_reply_mb: float = Field(default=64.0, gt=0, description="largest reply read from a side, in MB")
    max_records: int = Field(
        default=200_000, ge=1, description="most records of one entity one side may send in one run (held in memory)"
    )

    @field_validator("run_deadline", "request_deadline", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("run_deadline", "request_deadline")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be more than 0 seconds")
        return v


class ChangeNotificationsConfig(Strict):
    """Which sides' change notifications trigger a sync of the records they name (with ``daemon.webhooks.enabled``)."""

    cloze: bool = Field(default=True, description="Cloze webhooks at /webhooks/cloze/<pair> (`syncd webhooks subscribe`)")
    external: bool = Field(
        default=False, description="the external CRM's own notifications at /webhooks/external/<pair>, where its "
                                   "connector has them (HubSpot: webhooks = true and webhook_client_secret)")


class ActivitiesConfig(Strict):
    """``[pairs.NAME.activities]``: the external CRM's timeline activities, written one way into Cloze.

    The table's presence switches the feed on (``enabled`` turns it off again); the kinds and
    what each becomes in Cloze are declared in :mod:`connectors.activity`.
    """

    enabled: bool = True
    kinds: list[ActivityKind] = Field(
        default_factory=lambda: list(DEFAULT_KINDS),
        description="kinds to copy; meetings, e-mails and texts are opt-in (Cloze reads calendars and mailboxes)")
    call_as: Literal["content", "communication"] = Field(
        default="content", description="a call as a keyed note, or as a communication (sent once, never updated)")
    meeting_as: Literal["event", "communication"] = Field(
        default="event", description="a meeting as a keyed event, or as a communication once it has happened")
    email_as: Literal["content", "communication"] = "content"
    email_body: Literal["none", "preview", "full"] = Field(
        default="none", description="what of an e-mail's body reaches Cloze (preview: cut to 1 KB)")
    on_delete: Literal["ignore", "tombstone"] = Field(
        default="ignore", description="a deleted activity's Cloze copy stays (ignore) or has its text scrubbed")
    backfill_days: int = Field(default=90, ge=0, description="history read on the first run, in days")
    ref_wait: Seconds = Field(default=86400.0, description="how long an activity waits for its records to link")
    max_attempts: int = Field(default=5, ge=1, description="refusals of one activity before it is parked")
    owner_as: Literal["from", "none"] = Field(
        default="from", description="an activity's CRM owner as Cloze's 'from' when the owner is a Cloze user")
    owner_users: list[str] = Field(
        default_factory=list, description="e-mails of the Cloze team's users besides the API user")
    max_writes_per_run: int = Field(default=500, ge=1, description="most Cloze writes of activities in one run")
    run_share: float = Field(
        default=0.5, gt=0, le=1, description="share of the schedule interval the activity pass may take in a run")

    @field_validator("ref_wait", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("kinds")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each kind may be listed once")
        return v


class PairConfig(Strict):
    """One Cloze account joined to one external CRM account."""

    app_id: str = Field(description="App ID: lower-case domain naming the external system, never changed once set")
    app_name: str = Field(default="", description="App Name shown in Cloze")
    app_url: str = Field(
        default="", description="App URL template for every entity ({id}, {entity}); default: the connector's own")
    delete_policy: DeletePolicy = "unlink"
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    entities: dict[EntityKind, EntityConfig] = Field(
        default_factory=dict, validate_default=True, description="per entity kind ([pairs.NAME.entities.person]...); a kind left out syncs "
        "with the defaults")
    change_notifications: ChangeNotificationsConfig = Field(default_factory=ChangeNotificationsConfig)
    activities: ActivitiesConfig | None = Field(default=None, description="timeline activities; absent: off")
    cloze: dict[str, Any] = Field(description="the Cloze account: settings of the 'cloze' connector")
    external: dict[str, Any] = Field(description="the external CRM: 'connector' plus that connector's settings")

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, v: str) -> str:
        if v != v.lower() or not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", v):
            raise ValueError("App ID must be a lower-case domain such as 'hubspot.com'")
        return v

    @field_validator("entities")
    @classmethod
    def _every_kind(cls, v: dict[str, EntityConfig]) -> dict[str, EntityConfig]:
        """Every declared kind gets a table, in declaration order: a kind not configured syncs with the defaults."""
        return {kind: v.get(kind) or EntityConfig() for kind in ENTITY_KINDS}

    @model_validator(mode="after")
    def _external_connector(self) -> PairConfig:
        if not isinstance(self.external.get("connector"), str):
            raise ValueError("external.connector must name a connector, e.g. 'hubspot'")  # noqa: TRY004 - pydantic reports a ValueError
        return self


class StateConfig(Strict):
    path: Path | None = Field(
        default=None, description="SQLite file; default $STATE_DIRECTORY/state.db, else ./cloze-syncd-state.db"
    )
    url: str | None = Field(
        default=None,
        description="PostgreSQL database instead of the SQLite file: postgresql://USER@HOST[:PORT]/DB "
                    "(or an env:/file:/credential: reference to it, since it may carry a password)",
    )
    lock_timeout: float = Field(
        default=30.0, gt=0, le=3600,
        description="how long to wait for another process that holds the state database locked, then exit 75",
    )
    lease_ttl: float = Field(
        default=60.0, ge=5, le=3600,
        description="a run's pair lease lasts this long unless renewed (every sixth of it, and at every write)",
    )

    @field_validator("lock_timeout", "lease_ttl", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class LoggingConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"
    progress_interval: Seconds = Field(
        default=30.0, description="a long run logs a 'progress' line (phase, counts, rate, ETA) this often"
    )

    @field_validator("progress_interval", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class HttpListenerConfig(Strict):
    """The daemon's HTTP listener: /metrics, /healthz and the webhook receiver."""

    enabled: bool = True
    address: str = Field(default="127.0.0.1", description="listen address; loopback unless you put a proxy in front")
    port: int = Field(default=9464, ge=0, le=65535)
    allow_non_loopback: bool = False
    health_max_age: Seconds = Field(
        default=1800.0, description="/healthz fails when a pair has not synced successfully for this long"
    )
    max_connections: int = Field(
        default=256, ge=1, le=10_000,
        description="connections open at once; beyond it the oldest one still sending its request is closed",
    )
    header_timeout: Seconds = Field(default=10.0, gt=0, description="a request's headers must arrive within this")
    body_timeout: Seconds = Field(default=30.0, gt=0, description="a request's body must arrive within this")

    @field_validator("health_max_age", "header_timeout", "body_timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class WebhooksConfig(Strict):
    """The webhook listener: change notifications (Cloze's, an external CRM's) trigger a sync of the changed record."""

    enabled: bool = False
    public_url: str = Field(default="", description="the URL the services post to (your proxy in front of the listener)")
    secret: str | None = Field(default=None, description="shared secret carried in the subscription URL (env:/file:/credential:)")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    debounce: Seconds = Field(default=2.0, description="a burst for one record collapses into one sync")

    @field_validator("debounce", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class DaemonConfig(Strict):
    shutdown_timeout: Seconds = Field(default=60.0, description="graceful stop bound after SIGTERM")
    http: HttpListenerConfig = Field(default_factory=HttpListenerConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)

    @field_validator("shutdown_timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class FleetConfig(Strict):
    """``syncd worker``: many pairs over many processes, dispatched by procrastinate on the state database."""

    concurrency: int = Field(default=8, ge=1, le=200, description="runs one worker process does at once (threads)")
    tick: Seconds = Field(default=5.0, gt=0, le=60, description="how often the schedule is turned into queued runs")
    reap: Seconds = Field(default=10.0, gt=0, le=600, description="how often jobs of dead workers are failed")
    heartbeat: Seconds = Field(default=10.0, gt=0, le=600, description="a worker marks itself alive this often")
    stall_after: Seconds = Field(
        default=30.0, gt=0, le=3600, description="a worker silent this long is dead: its jobs are failed, its pairs due"
    )
    listen_notify: bool = Field(
        default=True, description="wake on LISTEN/NOTIFY (needs a direct connection; off behind PgBouncer's transaction mode)"
    )
    poll: Seconds = Field(
        default=0.5, gt=0, le=60,
        description="how often a worker looks for jobs without a notification (a delayed webhook run is found by a look)",
    )
    webhook_debounce: Seconds = Field(
        default=0.5, ge=0, le=600, description="a webhook's run starts this much later (a burst of deliveries is one run)"
    )

    @model_validator(mode="after")
    def _stall_past_heartbeat(self) -> FleetConfig:
        if self.stall_after <= self.heartbeat:
            raise ValueError("stall_after must be longer than heartbeat")
        return self

    @field_validator("tick", "reap", "heartbeat", "stall_after", "poll", "webhook_debounce", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class AppConfig(Strict):
    """The whole file."""

    state: StateConfig = Field(default_factory=StateConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    pairs: dict[str, PairConfig] = Field(description="named pairs: [pairs.NAME]")

    @field_validator("pairs")
    @classmethod
    def _names(cls, v: dict[str, PairConfig]) -> dict[str, PairConfig]:
        if not v:
            raise ValueError("at least one pair is needed: add a [pairs.NAME] table")
        for name in v:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
                raise ValueError(f"pair name {name!r} may use only letters, digits, '-' and '_'")
        return v
