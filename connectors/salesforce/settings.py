"""The ``[pairs.NAME.external]`` table of a Salesforce pair."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.http import RetrySettings

_VERSION = re.compile(r"^\d{2,3}\.0$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

DEFAULT_API_VERSION = "66.0"  # Spring '26; GET /services/data/ must list it


class SalesforceSettings(RetrySettings):
    """How to reach one Salesforce org and which of its fields carry the synced values."""

    auth: Literal["jwt", "client_credentials", "refresh_token", "session"] = Field(
        default="jwt", description="jwt (server to server, the default), client_credentials, refresh_token, or "
                                   "session (a fixed access token and instance_url, for tests)")
    login_url: str = Field(default="https://login.salesforce.com",
                           description="token endpoint host: https://test.salesforce.com for sandboxes; the My "
                                       "Domain URL for client_credentials")
    client_id: str | None = Field(default=None, description="the connected app's consumer key")
    client_secret: SecretStr | None = Field(default=None, description="consumer secret (client_credentials, "
                                                                      "refresh_token)")
    username: str | None = Field(default=None, description="the integration user (jwt)")
    private_key_file: str | None = Field(default=None, description="PEM private key whose certificate is uploaded "
                                                                   "to the connected app (jwt)")
    audience: str | None = Field(default=None, description="JWT aud; default: login_url")
    refresh_token: SecretStr | None = Field(default=None, description="initial refresh token; rotated ones are "
                                                                      "kept in refresh_token_file")
    refresh_token_file: str | None = Field(default=None, description="where a rotated refresh token is kept "
                                                                     "(0600); default: next to the state database")
    session_id: SecretStr | None = Field(default=None, description="a fixed access token (auth = 'session')")
    instance_url: str | None = Field(default=None, description="the org's URL; default: from the token reply")
    org_id: str | None = Field(default=None, description="if set, refuse any other org (from the token's id URL)")
    api_version: str = Field(default=DEFAULT_API_VERSION, description="checked against GET /services/data/")
    identity_field: str = Field(default="Cloze_Syncd_Id__c",
                                description="External ID + Unique text field holding the Cloze identity")
    batch_size: int = Field(default=200, ge=1, le=200, description="records per sObject Collections call")
    query_batch_size: int = Field(default=2000, ge=200, le=2000, description="rows per query page")
    poll_overlap_seconds: float = Field(default=300.0, ge=0, description="each poll re-reads this much before the "
                                                                         "previous poll began")
    daily_budget_percent: float = Field(default=25.0, gt=0, le=100,
                                        description="stop the pair when this run's own calls reach this share of "
                                                    "the org's daily API allowance")
    org_usage_stop_percent: float = Field(default=90.0, gt=0, le=100,
                                          description="stop when the org's total usage reaches this share")
    duplicate_rules: Literal["report", "allow"] = Field(
        default="report", description="report: a duplicate rule's block is a record error; allow: save anyway "
                                      "(Sforce-Duplicate-Rule-Header allowSave=true, for 'alert' rules)")
    call_options_client: str = Field(default="cloze-syncd", description="Sforce-Call-Options client tag")
    leads: bool = Field(default=False, description="also sync unconverted Leads as people: read, and updated "
                                                    "when edited in Cloze (new people are always created as "
                                                    "Contacts); a converted lead hands its Cloze record to its "
                                                    "contact")
    default_close_days: int = Field(default=30, ge=0, description="CloseDate for a new project without one")
    missing_last_name: str = Field(default="[unknown]", description="LastName for a new person without one")
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    verify_tls: bool = True
    recycle_bin_days: float = Field(default=15.0, gt=0, description="how long deletes stay visible to queryAll")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.removeprefix("v")
        if not _VERSION.match(value):
            raise ValueError("must look like '66.0'")
        return value

    @field_validator("login_url", "instance_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local emulator)")
        return value.rstrip("/")

    @field_validator("identity_field")
    @classmethod
    def _api_name(cls, value: str) -> str:
        if not _API_NAME.match(value):
            raise ValueError("must be a field API name such as Cloze_Syncd_Id__c")
        return value

    @model_validator(mode="after")
    def _flow_settings(self) -> SalesforceSettings:
        needs: dict[str, tuple[str, ...]] = {
            "jwt": ("client_id", "username", "private_key_file"),
            "client_credentials": ("client_id", "client_secret"),
            "refresh_token": ("client_id", "client_secret", "refresh_token"),
            "session": ("session_id", "instance_url"),
        }
        missing = [name for name in needs[self.auth] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"auth = {self.auth!r} needs {', '.join(missing)}")
        return self
