"""App URLs of the App Links written to Cloze: connector default per entity, overridable per pair and per entity."""

from __future__ import annotations

from typing import Any

from config.models import PairConfig
from connectors.base import ConnectorContext
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from syncd.app_urls import app_url


def _pair(**values: Any) -> PairConfig:
    return PairConfig(app_id="hubspot.com", cloze={}, external={"connector": "hubspot"}, **values)


def _hubspot(**settings: Any) -> HubSpotConnector:
    ctx = ConnectorContext(pair="p", side="external", app_id="hubspot.com")
    # no request is made: the App URL needs only the settings
    return HubSpotConnector(HubSpotSettings(base_url="http://127.0.0.1:9", token="t", **settings), ctx)


def test_hubspot_default_uses_object_type_ids_per_entity() -> None:
    hubspot = _hubspot(portal_id=4242)
    pair = _pair()
    assert app_url(pair, hubspot, "person", "51") == "https://app.hubspot.com/contacts/4242/record/0-1/51"
    assert app_url(pair, hubspot, "company", "52") == "https://app.hubspot.com/contacts/4242/record/0-2/52"
    assert app_url(pair, hubspot, "project", "53") == "https://app.hubspot.com/contacts/4242/record/0-3/53"
    eu = _hubspot(portal_id=7, app_host="https://app-eu1.hubspot.com")
    assert app_url(pair, eu, "person", "1") == "https://app-eu1.hubspot.com/contacts/7/record/0-1/1"


def test_without_portal_id_hubspot_gives_no_url() -> None:
    assert app_url(_pair(), _hubspot(), "person", "51") == ""


def test_pair_template_overrides_and_entity_template_overrides_both() -> None:
    hubspot = _hubspot(portal_id=4242)
    pair = _pair(app_url="https://crm.example.com/{entity}/{id}",
                 entities={"project": {"app_url": "https://crm.example.com/deals/{id}"}})
    assert app_url(pair, hubspot, "person", "51") == "https://crm.example.com/person/51"
    assert app_url(pair, hubspot, "project", "53") == "https://crm.example.com/deals/53"
    only_entity = _pair(entities={"company": {"app_url": "https://crm.example.com/org/{id}"}})
    assert app_url(only_entity, hubspot, "company", "52") == "https://crm.example.com/org/52"
    assert app_url(only_entity, hubspot, "person", "51") == "https://app.hubspot.com/contacts/4242/record/0-1/51"
