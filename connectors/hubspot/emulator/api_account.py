"""``GET /account-info/v3/details`` (and its date-versioned form): the account the token belongs to.

The reply has the documented required fields; ``portalId`` is the emulator's
``portal_id`` setting, so two emulators can stand for two accounts.
"""

from __future__ import annotations

from connectors.hubspot.emulator.call import Call, Reply


def details(call: Call) -> Reply:
    return Reply(200, {
        "portalId": call.settings.portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    })
