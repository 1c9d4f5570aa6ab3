"""Account-level reads: the account the token belongs to, deal pipelines with their stages, and owners.

``GET /account-info/v3/details`` (and its date-versioned form) has the documented required
fields; ``portalId`` is the emulator's ``portal_id`` setting, so two emulators can stand for
two accounts.

Pipelines let a caller check that the deal-stage ids a configuration maps to exist
(``GET /crm/v3/pipelines/deals``); owners are the users records can be assigned to.
The emulated account has HubSpot's default sales pipeline and one owner.
"""

from __future__ import annotations

from typing import Any

from connectors.hubspot.emulator import schema
from connectors.hubspot.emulator.call import Call, Reply
from connectors.hubspot.emulator.errors import bad_request, not_found

_CREATED = "2019-08-06T02:41:08.007Z"
# HubSpot's default sales pipeline: stage id, label, win probability.
_DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
)
OWNER = {
    "id": "75123456", "email": "owner@example.com", "firstName": "Olive", "lastName": "Owner",
    "userId": 9_100_001, "userIdIncludingInactive": 9_100_001, "type": "PERSON",
    "createdAt": _CREATED, "updatedAt": _CREATED, "archived": False, "teams": [],
}


def _stage(index: int, stage_id: str, label: str, probability: str) -> dict[str, Any]:
    closed = "true" if stage_id in ("closedwon", "closedlost") else "false"
    return {"id": stage_id, "label": label, "displayOrder": index, "archived": False,
            "metadata": {"isClosed": closed, "probability": probability},
            "createdAt": _CREATED, "updatedAt": _CREATED, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}


def _pipelines(type_: str) -> list[dict[str, Any]]:
    if type_ != schema.DEALS:
        return []
    stages = [_stage(i, *s) for i, s in enumerate(_DEAL_STAGES)]
    return [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
             "stages": stages, "createdAt": _CREATED, "updatedAt": _CREATED}]


def _pipeline(type_: str, pipeline_id: str) -> dict[str, Any]:
    found = next((p for p in _pipelines(type_) if p["id"] == pipeline_id), None)
    if found is None:
        raise not_found(f"Unable to find pipeline {pipeline_id} for object type {schema.TYPE_IDS[type_]}")
    return found


def list_pipelines(call: Call, type_: str) -> Reply:
    return Reply(200, {"results": _pipelines(type_)})


def get_pipeline(call: Call, type_: str, pipeline_id: str) -> Reply:
    return Reply(200, _pipeline(type_, pipeline_id))


def list_stages(call: Call, type_: str, pipeline_id: str) -> Reply:
    return Reply(200, {"results": _pipeline(type_, pipeline_id)["stages"]})


def get_stage(call: Call, type_: str, pipeline_id: str, stage_id: str) -> Reply:
    stage = next((s for s in _pipeline(type_, pipeline_id)["stages"] if s["id"] == stage_id), None)
    if stage is None:
        raise not_found(f"Unable to find stage {stage_id} in pipeline {pipeline_id}")
    return Reply(200, stage)


def list_owners(call: Call) -> Reply:
    email = call.arg("email")
    owners = [OWNER] if email in (None, "", OWNER["email"]) else []
    return Reply(200, {"results": owners})


def get_owner(call: Call, owner_id: str) -> Reply:
    key = "userId" if call.arg("idProperty") == "userId" else "id"
    if str(OWNER[key]) != owner_id:
        raise not_found(f"Owner {owner_id} was not found")
    return Reply(200, OWNER)


SCOPES = tuple(f"crm.{area}.{type_}.{access}" for type_ in (schema.CONTACTS, schema.COMPANIES, schema.DEALS)
               for area in ("objects", "schemas") for access in ("read", "write"))
"""The scopes a token holds unless the ``missing_scopes`` setting takes some away."""


def token_info(call: Call) -> Reply:
    """``POST /oauth/v2/private-apps/get/access-token-info`` with ``{"tokenKey": ...}``: the token's scopes."""
    body = call.body if isinstance(call.body, dict) else {}
    if not body.get("tokenKey"):
        raise bad_request("tokenKey is required")
    scopes = [s for s in SCOPES if s not in call.settings.missing_scopes]
    return Reply(200, {"userId": 9_100_001, "hubId": call.settings.portal_id, "appId": 3_100_001,
                       "scopes": scopes, "trialScopes": [], "trialScopeToScopeGroupIds": {}})


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
