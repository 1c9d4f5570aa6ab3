"""A local, stateful emulator of HubSpot's CRM API: contacts, companies and deals (with merge and
``propertiesWithHistory``), associations and their labels, properties, deal pipelines, owners, and,
when ``webhook_target_url`` is set, signed webhook deliveries of every change (``webhooks.py``).

Used by the HubSpot connector's tests, by the sandbox, and by anyone who wants to
try cloze-syncd without a HubSpot account::

    with HubSpotEmulator(token="pat-test", search_result_cap=50) as hs:
        HubSpot(access_token="pat-test", host=hs.url)  # or the cloze-syncd connector with base_url=hs.url
"""

from connectors.hubspot.emulator.call import Stats
from connectors.hubspot.emulator.server import DEFAULT_TOKEN, HubSpotEmulator, serve_forever
from connectors.hubspot.emulator.settings import EmulatorSettings, FaultSettings

__all__ = ["DEFAULT_TOKEN", "EmulatorSettings", "FaultSettings", "HubSpotEmulator", "Stats", "serve_forever"]
