"""A local, stateful emulator of Salesforce's REST API: Contact, Account, Opportunity,
OpportunityContactRole and Lead; SOQL ``query``/``queryAll`` with paging, sObject REST and
Collections, upsert by External ID, getUpdated/getDeleted, duplicate rules, the daily API budget,
and the OAuth token endpoint (JWT bearer, client credentials, refresh token)::

    with SalesforceEmulator(session_id="00D!test") as sf:
        Salesforce(instance_url=sf.url, session_id="00D!test")  # simple-salesforce needs tls_cert/tls_key

Run one by hand with ``python -m connectors.salesforce.emulator --seed``. Choices where Salesforce's
documentation leaves room are in ``connectors/salesforce/EMULATOR_CHOICES.md``.
"""

from connectors.salesforce.emulator.call import Stats
from connectors.salesforce.emulator.server import DEFAULT_SESSION, SalesforceEmulator, serve_forever
from connectors.salesforce.emulator.settings import EmulatorSettings, FaultSettings

__all__ = ["DEFAULT_SESSION", "EmulatorSettings", "FaultSettings", "SalesforceEmulator", "Stats", "serve_forever"]
