"""The HubSpot connector (CRM v3 / date-versioned API) and its local emulator (:mod:`connectors.hubspot.emulator`)."""

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings

__all__ = ["HubSpotConnector", "HubSpotSettings"]
