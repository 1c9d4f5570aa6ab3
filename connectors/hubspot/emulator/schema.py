"""HubSpot's object types, built-in properties and association types, as the emulator knows them.

Only what the connector and common clients touch is modelled; names, types and
enumeration options are HubSpot's own (see ``connectors/hubspot/API_NOTES.md``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.emulator import engagements as eng

CONTACTS = "contacts"
COMPANIES = "companies"
DEALS = "deals"
RECORD_TYPES = (CONTACTS, COMPANIES, DEALS)
OBJECT_TYPES = (*RECORD_TYPES, *eng.TYPES)

TYPE_IDS = {CONTACTS: "0-1", COMPANIES: "0-2", DEALS: "0-3", **eng.TYPE_IDS}
_ALIASES = {
    "contacts": CONTACTS, "contact": CONTACTS, "0-1": CONTACTS,
    "companies": COMPANIES, "company": COMPANIES, "0-2": COMPANIES,
    "deals": DEALS, "deal": DEALS, "0-3": DEALS, **eng.ALIASES,
}
SINGULAR = {CONTACTS: "contact", COMPANIES: "company", DEALS: "deal", **eng.SINGULAR}

# The property that carries each type's last-modified time (contacts differ).
MODIFIED_PROPERTY = {CONTACTS: "lastmodifieddate", COMPANIES: "hs_lastmodifieddate", DEALS: "hs_lastmodifieddate",
                     **eng.MODIFIED_PROPERTY}
CREATED_PROPERTY = "createdate"

# Properties a read returns when the caller names none (HubSpot's documented defaults).
DEFAULT_READ = {
    CONTACTS: ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    COMPANIES: ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    DEALS: ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
            "hs_object_id", "pipeline"),
    **eng.DEFAULT_READ,
}
# Properties every read includes in addition to the requested ones.
ALWAYS_READ = {
    CONTACTS: ("createdate", "hs_object_id", "lastmodifieddate"),
    COMPANIES: ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    DEALS: ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    **eng.ALWAYS_READ,
}
# The free-text ``query`` of a search looks in these.
QUERY_PROPERTIES = {
    CONTACTS: ("firstname", "lastname", "email", "phone", "hs_additional_emails", "mobilephone", "company"),
    COMPANIES: ("website", "phone", "name", "domain"),
    DEALS: ("dealname", "pipeline", "dealstage", "description", "dealtype"),
    **eng.QUERY_PROPERTIES,
}
GROUPS = {CONTACTS: "contactinformation", COMPANIES: "companyinformation", DEALS: "dealinformation", **eng.GROUPS}


def object_type(name: str) -> str | None:
    """The canonical plural type for a path segment (``contacts``, ``contact``, ``0-1``)."""
    return _ALIASES.get(name.lower())


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_type: str
    to_type: str
    name: str
    label: str | None = None
    category: str = "HUBSPOT_DEFINED"


# HUBSPOT_DEFINED association types between the three objects (HubSpot's own ids).
ASSOCIATION_TYPES = (
    AssociationType(279, CONTACTS, COMPANIES, "contact_to_company_unlabeled"),
    AssociationType(280, COMPANIES, CONTACTS, "company_to_contact_unlabeled"),
    AssociationType(1, CONTACTS, COMPANIES, "contact_to_company", "Primary"),
    AssociationType(2, COMPANIES, CONTACTS, "company_to_contact", "Primary"),
    AssociationType(3, DEALS, CONTACTS, "deal_to_contact"),
    AssociationType(4, CONTACTS, DEALS, "contact_to_deal"),
    AssociationType(341, DEALS, COMPANIES, "deal_to_company_unlabeled"),
    AssociationType(342, COMPANIES, DEALS, "company_to_deal_unlabeled"),
    AssociationType(5, DEALS, COMPANIES, "deal_to_company", "Primary"),
    AssociationType(6, COMPANIES, DEALS, "company_to_deal", "Primary"),
    *(AssociationType(i, f, t, name) for i, f, t, name in eng.association_rows()),
)
ASSOCIATION_BY_ID = {(a.type_id, a.from_type, a.to_type): a for a in ASSOCIATION_TYPES}
DEFAULT_ASSOCIATION = {
    (CONTACTS, COMPANIES): 279, (COMPANIES, CONTACTS): 280,
    (DEALS, CONTACTS): 3, (CONTACTS, DEALS): 4,
    (DEALS, COMPANIES): 341, (COMPANIES, DEALS): 342,
    **{(f, t): i for i, f, t, _ in eng.association_rows()},
}
# Each type id's counterpart in the opposite direction (associations are stored both ways).
INVERSE_ASSOCIATION = {279: 280, 280: 279, 1: 2, 2: 1, 3: 4, 4: 3, 341: 342, 342: 341, 5: 6, 6: 5,
                       **{a: b for _, _, a, b in eng.ASSOCIATIONS}, **{b: a for _, _, a, b in eng.ASSOCIATIONS}}


@dataclass
class PropertyDef:
    """One property definition, shaped like the properties API's."""

    name: str
    label: str
    type: str  # string | number | datetime | date | enumeration | bool
    field_type: str
    group_name: str
    options: list[dict[str, Any]] = field(default_factory=list)
    has_unique_value: bool = False
    read_only_value: bool = False
    hubspot_defined: bool = True
    description: str = ""
    created_at: str = "2019-08-06T02:41:08.007Z"
    updated_at: str = "2019-08-06T02:41:08.007Z"

    def option_values(self) -> set[str]:
        return {str(o["value"]) for o in self.options}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only_value,
            "archived": False,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
        }


def _options(*values: str) -> list[dict[str, Any]]:
    return [
        {"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(values)
    ]


LIFECYCLE = _options("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                     "customer", "evangelist", "other")
LEAD_STATUS = _options("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
                       "CONNECTED", "BAD_TIMING")
COMPANY_TYPE = _options("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")
# A subset of HubSpot's company industry options.
INDUSTRY = _options("ACCOUNTING", "ARCHITECTURE_PLANNING", "BANKING", "BUILDING_MATERIALS", "COMMERCIAL_REAL_ESTATE",
                    "COMPUTER_SOFTWARE", "CONSTRUCTION", "CONSUMER_SERVICES", "DESIGN", "EDUCATION_MANAGEMENT",
                    "FINANCIAL_SERVICES", "FOOD_BEVERAGES", "HOSPITAL_HEALTH_CARE", "HOSPITALITY",
                    "INFORMATION_TECHNOLOGY_AND_SERVICES", "INSURANCE", "INTERNET", "LAW_PRACTICE",
                    "LEGAL_SERVICES", "MANAGEMENT_CONSULTING", "MARKETING_AND_ADVERTISING", "NONPROFIT_ORGANIZATION_MANAGEMENT",
                    "REAL_ESTATE", "RESTAURANTS", "RETAIL", "WHOLESALE")
DEAL_STAGES = _options("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
                       "contractsent", "closedwon", "closedlost")
PIPELINES = _options("default")
DEAL_TYPES = _options("newbusiness", "existingbusiness")


def _p(name: str, label: str, type_: str = "string", field_type: str = "text", *, group: str,
       options: list[dict[str, Any]] | None = None, read_only: bool = False) -> PropertyDef:
    return PropertyDef(name, label, type_, field_type, group, options or [], read_only_value=read_only)


def builtin_properties(object_type_name: str) -> list[PropertyDef]:
    """HubSpot's built-in properties of a type, as far as the emulator models them."""
    g = GROUPS[object_type_name]
    common = [
        _p("createdate", "Create Date", "datetime", "date", group=g, read_only=True),
        _p("hs_object_id", "Record ID", "number", "number", group=g, read_only=True),
    ]
    if object_type_name in eng.PROPERTIES:
        return common + [
            _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group=g, read_only=True),
            *(_p(n, label, t, ft, group=g, options=_options(*values) if values else None)
              for n, label, t, ft, values in eng.PROPERTIES[object_type_name]),
        ]
    if object_type_name == CONTACTS:
        return common + [
            _p("lastmodifieddate", "Last Modified Date", "datetime", "date", group=g, read_only=True),
            _p("email", "Email", group=g),
            _p("hs_additional_emails", "Additional email addresses", "string", "textarea", group=g),
            _p("firstname", "First Name", group=g),
            _p("lastname", "Last Name", group=g),
            _p("jobtitle", "Job Title", group=g),
            _p("company", "Company Name", group=g),
            _p("phone", "Phone Number", "string", "phonenumber", group=g),
            _p("mobilephone", "Mobile Phone Number", "string", "phonenumber", group=g),
            _p("address", "Street Address", group=g),
            _p("city", "City", group=g),
            _p("state", "State/Region", group=g),
            _p("zip", "Postal Code", group=g),
            _p("country", "Country/Region", group=g),
            _p("website", "Website URL", group=g),
            _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group=g, options=LIFECYCLE),
            _p("hs_lead_status", "Lead Status", "enumeration", "radio", group=g, options=LEAD_STATUS),
        ]
    if object_type_name == COMPANIES:
        return common + [
            _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group=g, read_only=True),
            _p("name", "Company name", group=g),
            _p("domain", "Company Domain Name", group=g),
            _p("hs_additional_domains", "Additional Domains", "string", "textarea", group=g),
            _p("website", "Website URL", group=g),
            _p("phone", "Phone Number", "string", "phonenumber", group=g),
            _p("address", "Street Address", group=g),
            _p("address2", "Street Address 2", group=g),
            _p("city", "City", group=g),
            _p("state", "State/Region", group=g),
            _p("zip", "Postal Code", group=g),
            _p("country", "Country/Region", group=g),
            _p("industry", "Industry", "enumeration", "select", group=g, options=INDUSTRY),
            _p("description", "Description", "string", "textarea", group=g),
            _p("numberofemployees", "Number of Employees", "number", "number", group=g),
            _p("annualrevenue", "Annual Revenue", "number", "number", group=g),
            _p("type", "Type", "enumeration", "select", group=g, options=COMPANY_TYPE),
            _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group=g, options=LIFECYCLE),
            _p("hs_lead_status", "Lead Status", "enumeration", "radio", group=g, options=LEAD_STATUS),
        ]
    return common + [
        _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group=g, read_only=True),
        _p("dealname", "Deal Name", group=g),
        _p("amount", "Amount", "number", "number", group=g),
        _p("closedate", "Close Date", "datetime", "date", group=g),
        _p("dealstage", "Deal Stage", "enumeration", "radio", group=g, options=DEAL_STAGES),
        _p("pipeline", "Pipeline", "enumeration", "select", group=g, options=PIPELINES),
        _p("dealtype", "Deal Type", "enumeration", "radio", group=g, options=DEAL_TYPES),
        _p("description", "Deal Description", "string", "textarea", group=g),
    ]


# -- time ----------------------------------------------------------------------------

def iso_from_ms(ms: int) -> str:
    """HubSpot's datetime rendering: ``2024-09-11T13:27:39.356Z``."""
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def ms_from_value(value: Any) -> int | None:
    """Epoch ms from what HubSpot accepts for a datetime: ms, ISO 8601, or a bare date."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        if _DATE.match(text):
            day = dt.date.fromisoformat(text)
            return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return round(stamp.timestamp() * 1000)
