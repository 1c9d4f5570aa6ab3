"""The ``[pairs.NAME.external]`` table of a Tryton pair."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import ConnectorSettings

# Tryton opportunity states -> Cloze project stage keys. Several states may read as one
# stage; a write of that stage goes to the state of the same name, else the first listed.
DEFAULT_STAGE_MAP: dict[str, str] = {
    "lead": "future",
    "opportunity": "current",
    "converted": "pending",
    "won": "won",
    "lost": "lost",
    "cancelled": "lost",
}

_DATABASE = re.compile(r"^[A-Za-z0-9_.-]+$")


class TrytonSettings(ConnectorSettings):
    """How to reach one Tryton database, and how its parties read as people and companies."""

    url: str = Field(description="server root, e.g. https://erp.example.com (no database name, no /rpc/)")
    database: str = Field(description="database name (the <db> of /<db>/rpc/)")
    auth: Literal["session", "rest_key"] = Field(
        default="session",
        description="'session': JSON-RPC login with username/password (server-enforced edit conflicts); "
                    "'rest_key': the 8.x REST API with a user application key")
    username: str | None = Field(default=None, description="login for auth = 'session'")
    password: SecretStr | None = Field(default=None, description="password for auth = 'session' (env:/file:/credential:)")
    rest_key: SecretStr | None = Field(default=None, description="res.user.application key for auth = 'rest_key'")
    language: str = Field(default="en", description="language code sent at login")
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    verify_tls: bool = True
    requests_per_second: float | None = Field(default=None, gt=0, description="pace requests; None: no pacing")
    page_size: int = Field(default=200, ge=1, le=5000, description="records per read")
    cursor_overlap: float = Field(
        default=5.0, ge=0, description="seconds each poll re-reads before its cursor: Tryton stamps write_date "
                                       "with the transaction's start, so a slow transaction can commit a change "
                                       "dated before one already read")
    server_timezone: str = Field(default="UTC", description="time zone of the server's naive timestamps")
    company_category: str = Field(
        default="Company", min_length=1,
        description="top-level party category marking a party as a company; every other party is a person")
    person_category: str | None = Field(
        default=None, description="if set, only parties in this top-level category are people (others are left alone)")
    skip_internal_parties: bool = Field(
        default=True, description="leave out the parties of the Tryton companies and their employees")
    name_split: Literal["first_word", "last_word"] = Field(
        default="first_word",
        description="how a person's party name splits: 'first_word' (first = first word, last = the rest) or "
                    "'last_word' (last = last word, first = the rest)")
    cloze_ref_prefix: str = Field(
        default="cloze:", min_length=1,
        description="prefix of the party identifier code (and opportunity reference) holding the Cloze identity")
    cloze_ref_identifier_type: str | None = Field(
        default=None, description="party identifier type for the Cloze identity; stock Tryton only accepts its "
                                  "listed tax/id types or none, so the default is none")
    delete_mode: Literal["archive", "delete"] = Field(
        default="archive", description="parties: 'archive' sets active=False (restorable), 'delete' removes them")
    company_id: int | None = Field(default=None, ge=1, description="company of new opportunities; default: the user's")
    currency_code: str | None = Field(default=None, description="currency of new opportunities; default: the company's")
    employee_id: int | None = Field(default=None, ge=1,
                                    description="employee for opportunities moved past 'lead'; default: the user's")
    stage_map: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_STAGE_MAP),
        description="opportunity state -> project stage key; {} reports Tryton's own state keys")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not _DATABASE.match(value):
            raise ValueError("must be a plain database name (letters, digits, '_', '-', '.')")
        return value

    @field_validator("server_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("stage_map")
    @classmethod
    def _stages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEFAULT_STAGE_MAP))
        if unknown:
            raise ValueError(f"unknown opportunity states {unknown}; known: {sorted(DEFAULT_STAGE_MAP)}")
        return {k: v.strip().lower() for k, v in value.items()}

    @model_validator(mode="after")
    def _credentials(self) -> TrytonSettings:
        if self.auth == "session" and not (self.username and self.password):
            raise ValueError("auth = 'session' needs username and password")
        if self.auth == "rest_key" and not self.rest_key:
            raise ValueError("auth = 'rest_key' needs rest_key")
        if self.person_category is not None and self.person_category == self.company_category:
            raise ValueError("person_category and company_category must differ")
        return self

    def state_for_stage(self, stage: str) -> str:
        """The opportunity state a project stage is written as."""
        stage = stage.strip().lower()
        if not self.stage_map:
            return stage
        states = [state for state, mapped in self.stage_map.items() if mapped == stage]
        if stage in states:
            return stage
        if states:
            return states[0]
        raise ValueError(f"no opportunity state maps to stage {stage!r} (stage_map)")

    def stage_for_state(self, state: str) -> str:
        return self.stage_map.get(state, state) if self.stage_map else state
