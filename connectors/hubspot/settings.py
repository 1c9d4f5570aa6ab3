"""The ``[pairs.NAME.external]`` table of a HubSpot pair."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.http import RetrySettings

_VERSION = re.compile(r"^(v3|\d{4}-\d{2})$")
_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*$")


class HubSpotSettings(RetrySettings):
    """How to reach one HubSpot account and which of its properties carry the synced fields."""

    base_url: str = Field(default="https://api.hubapi.com", description="API root; an emulator's URL in tests")
    token: SecretStr = Field(description="bearer token: a Service Key, a legacy private-app token or an OAuth token")
    token_kind: Literal["service_key", "private_app", "oauth"] = Field(
        default="service_key", description="recorded for diagnostics; Service Keys cannot receive webhooks")
    api_version: str = Field(
        default="2026-03", description="'2026-03' style date version (paths /crm/objects/2026-03/...) or 'v3'")
    batch_size: int = Field(default=100, ge=1, le=100, description="records per batch call")
    search_page_size: int = Field(default=200, ge=1, le=200, description="records per search page")
    list_page_size: int = Field(default=100, ge=1, le=100, description="records per list page")
    requests_per_10s: int = Field(
        default=100, ge=1, description="the account's burst limit (Free/Starter 100, Pro/Enterprise 190); "
                                       "lowered automatically from X-HubSpot-RateLimit-* headers")
    search_per_second: float = Field(default=4.0, gt=0, description="search requests per second (HubSpot: 4-5)")
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    verify_tls: bool = True
    portal_id: int | None = Field(
        default=None, gt=0, description="the account's Hub ID; with it, App Links open the HubSpot record")
    app_host: str = Field(default="https://app.hubspot.com",
                          description="HubSpot's web app root (EU accounts: https://app-eu1.hubspot.com)")
    change_overlap_seconds: float = Field(
        default=30.0, ge=0, description="each poll re-reads this much before its cursor: search results can lag "
                                        "behind writes by a few seconds")
    identity_property: str = Field(default="cloze_syncd_id", description="unique property holding the Cloze identity")
    tags_property: str | None = Field(default="cloze_syncd_tags", description="';'-joined Cloze tags; None: no tags")
    create_properties: bool = Field(default=True, description="create the identity/tags/notes properties if missing")
    person_stage_property: str | None = "lifecyclestage"
    person_segment_property: str | None = "hs_lead_status"
    person_notes_property: str | None = Field(default=None, description="a text property for person notes; None: off")
    company_stage_property: str | None = "lifecyclestage"
    company_segment_property: str | None = "type"
    company_industry_property: str | None = "industry"
    project_stage_property: str | None = "dealstage"
    project_segment_property: str | None = None
    project_value_property: str = "amount"
    read_associations: bool = Field(default=True, description="read person/project relation fields")
    webhook_client_secret: SecretStr | None = Field(
        default=None, description="the app's client secret, which signs its webhook requests "
                                  "(X-HubSpot-Signature-v3); with pairs.NAME.change_notifications.external = true")
    webhook_max_age_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="refuse a webhook request whose timestamp is older (HubSpot: 5 min)")
    write_additional_emails: bool = Field(
        default=True, description="write extra e-mail addresses to hs_additional_emails; off: only the primary "
                                  "address is written and the others are reported as dropped")

    @model_validator(mode="after")
    def _webhooks_need_an_app(self) -> HubSpotSettings:
        if self.webhook_client_secret is not None and self.token_kind == "service_key":
            raise ValueError("webhook_client_secret: Service Keys cannot receive webhooks; set token_kind to "
                             "'private_app' or 'oauth' for the app whose client secret this is")
        return self

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must be 'v3' or a date version such as '2026-03'")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator(
        "identity_property", "tags_property", "person_stage_property", "person_segment_property",
        "person_notes_property", "company_stage_property", "company_segment_property", "company_industry_property",
        "project_stage_property", "project_segment_property", "project_value_property")
    @classmethod
    def _property_name(cls, value: str | None) -> str | None:
        if value is not None and not _PROPERTY.match(value):
            raise ValueError("must be a HubSpot internal property name (lower case letters, digits, _)")
        return value

    @property
    def webhooks_available(self) -> bool:
        """Service Keys have no webhooks; private apps and OAuth apps may."""
        return self.token_kind != "service_key"
