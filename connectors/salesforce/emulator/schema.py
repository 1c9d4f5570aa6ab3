"""The emulated org's objects and fields: types, required fields, picklists, references, External IDs.

Field names and types follow Salesforce's object reference for Contact, Account, Opportunity,
OpportunityContactRole and Lead, and for the activities Task, Event, TaskRelation and EventRelation;
only the fields a CRM sync touches are modelled. A polymorphic reference (``WhoId``, ``WhatId``,
``RelationId``) names its targets joined by ``|``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# System fields every object has; never writable through the API.
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                 "SystemModstamp")


@dataclass(frozen=True)
class Stage:
    """One OpportunityStage row: writing ``StageName`` derives the other three fields from it."""

    name: str
    probability: int
    is_closed: bool
    is_won: bool
    forecast: str


STAGES = (
    Stage("Prospecting", 10, False, False, "Pipeline"),
    Stage("Qualification", 10, False, False, "Pipeline"),
    Stage("Needs Analysis", 20, False, False, "Pipeline"),
    Stage("Value Proposition", 50, False, False, "Pipeline"),
    Stage("Id. Decision Makers", 60, False, False, "Pipeline"),
    Stage("Perception Analysis", 70, False, False, "Pipeline"),
    Stage("Proposal/Price Quote", 75, False, False, "Pipeline"),
    Stage("Negotiation/Review", 90, False, False, "Commit"),
    Stage("Closed Won", 100, True, True, "Closed"),
    Stage("Closed Lost", 0, True, False, "Omitted"),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
CLOSED_TASK_STATUSES = ("Completed",)
# TaskSubtype's values (INFERRED: an org's describe is the authority); Task when none is given.
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
ACTIVITIES = ("Task", "Event")
RELATIONS = {"TaskRelation": "Task", "EventRelation": "Event"}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str  # id | reference | string | email | phone | url | textarea | picklist | boolean | date | datetime
    #            | currency | double | percent | int
    length: int = 0
    required: bool = False  # nillable=false and not defaulted: REQUIRED_FIELD_MISSING on create
    createable: bool = True
    updateable: bool = True
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    default: object = None


def _read_only(name: str, type_: str, length: int = 0, reference_to: str | None = None,
               relationship_name: str | None = None) -> FieldDef:
    return FieldDef(name, type_, length, createable=False, updateable=False, reference_to=reference_to,
                    relationship_name=relationship_name)


def _sys(key_object: str) -> list[FieldDef]:
    ro = _read_only
    return [
        ro("Id", "id", 18),
        ro("IsDeleted", "boolean"),
        ro("MasterRecordId", "reference", 18, key_object, "MasterRecord"),
        ro("CreatedDate", "datetime"),
        ro("CreatedById", "reference", 18, "User"),
        ro("LastModifiedDate", "datetime"),
        ro("LastModifiedById", "reference", 18, "User"),
        ro("SystemModstamp", "datetime"),
        FieldDef("OwnerId", "reference", 18, reference_to="User", relationship_name="Owner"),
    ]


_ADDRESS = ("Street", "City", "State", "PostalCode", "Country")
_INDUSTRIES = ("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
               "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
               "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
               "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
               "Telecommunications", "Transportation", "Utilities", "Other")


def _address(prefix: str) -> list[FieldDef]:
    return [FieldDef(prefix + part, "textarea" if part == "Street" else "string", 255 if part == "Street" else 80)
            for part in _ADDRESS]


def _objects() -> dict[str, tuple[str, list[FieldDef]]]:
    contact = [
        FieldDef("FirstName", "string", 40), FieldDef("LastName", "string", 80, required=True),
        FieldDef("Salutation", "picklist", 40, picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        FieldDef("Name", "string", 121, createable=False, updateable=False),
        FieldDef("Title", "string", 128), FieldDef("Department", "string", 80),
        FieldDef("Email", "email", 80), FieldDef("Phone", "phone", 40), FieldDef("MobilePhone", "phone", 40),
        FieldDef("HomePhone", "phone", 40), FieldDef("OtherPhone", "phone", 40), FieldDef("Fax", "phone", 40),
        *_address("Mailing"), FieldDef("Description", "textarea", 32000),
        FieldDef("AccountId", "reference", 18, reference_to="Account", relationship_name="Account"),
        FieldDef("LeadSource", "picklist", 40, picklist=("Web", "Phone Inquiry", "Partner Referral", "Other")),
    ]
    account = [
        FieldDef("Name", "string", 255, required=True), FieldDef("Website", "url", 255),
        FieldDef("Phone", "phone", 40), FieldDef("Fax", "phone", 40),
        FieldDef("Industry", "picklist", 255, picklist=_INDUSTRIES),
        FieldDef("Type", "picklist", 255, picklist=("Prospect", "Customer - Direct", "Customer - Channel",
                                                    "Channel Partner / Reseller", "Installation Partner",
                                                    "Technology Partner", "Other")),
        FieldDef("Description", "textarea", 32000), *_address("Billing"), *_address("Shipping"),
        FieldDef("NumberOfEmployees", "int"), FieldDef("AnnualRevenue", "currency"),
        FieldDef("ParentId", "reference", 18, reference_to="Account", relationship_name="Parent"),
    ]
    opportunity = [
        FieldDef("Name", "string", 120, required=True),
        FieldDef("StageName", "picklist", 255, required=True, picklist=tuple(s.name for s in STAGES), restricted=True),
        FieldDef("CloseDate", "date", required=True), FieldDef("Amount", "currency"),
        FieldDef("Probability", "percent"), FieldDef("ForecastCategoryName", "picklist", 40,
                                                     picklist=("Omitted", "Pipeline", "Best Case", "Commit", "Closed")),
        FieldDef("IsClosed", "boolean", createable=False, updateable=False),
        FieldDef("IsWon", "boolean", createable=False, updateable=False),
        FieldDef("AccountId", "reference", 18, reference_to="Account", relationship_name="Account"),
        FieldDef("Description", "textarea", 32000), FieldDef("NextStep", "string", 255),
        FieldDef("Type", "picklist", 255, picklist=("Existing Customer - Upgrade", "Existing Customer - Replacement",
                                                    "Existing Customer - Downgrade", "New Customer")),
        FieldDef("LeadSource", "picklist", 40, picklist=("Web", "Phone Inquiry", "Partner Referral", "Other")),
    ]
    ocr = [
        FieldDef("OpportunityId", "reference", 18, required=True, updateable=False, reference_to="Opportunity",
                 relationship_name="Opportunity"),
        FieldDef("ContactId", "reference", 18, required=True, reference_to="Contact", relationship_name="Contact"),
        FieldDef("Role", "picklist", 40, picklist=("Business User", "Decision Maker", "Economic Buyer",
                                                   "Economic Decision Maker", "Evaluator", "Executive Sponsor",
                                                   "Influencer", "Technical Buyer", "Other")),
        FieldDef("IsPrimary", "boolean", default=False),
    ]
    lead = [
        FieldDef("FirstName", "string", 40), FieldDef("LastName", "string", 80, required=True),
        FieldDef("Name", "string", 121, createable=False, updateable=False),
        FieldDef("Company", "string", 255, required=True), FieldDef("Title", "string", 128),
        FieldDef("Email", "email", 80), FieldDef("Phone", "phone", 40), FieldDef("MobilePhone", "phone", 40),
        FieldDef("Website", "url", 255), FieldDef("Description", "textarea", 32000),
        FieldDef("Status", "picklist", 40, picklist=("Open - Not Contacted", "Working - Contacted",
                                                     "Closed - Converted", "Closed - Not Converted"),
                 restricted=True, default="Open - Not Contacted"),
        FieldDef("Industry", "picklist", 255, picklist=_INDUSTRIES),
        FieldDef("Street", "textarea", 255), FieldDef("City", "string", 40), FieldDef("State", "string", 80),
        FieldDef("PostalCode", "string", 20), FieldDef("Country", "string", 80),
        FieldDef("IsConverted", "boolean", createable=False, updateable=False, default=False),
        FieldDef("ConvertedContactId", "reference", 18, createable=False, updateable=False, reference_to="Contact"),
        FieldDef("ConvertedAccountId", "reference", 18, createable=False, updateable=False, reference_to="Account"),
        FieldDef("ConvertedOpportunityId", "reference", 18, createable=False, updateable=False,
                 reference_to="Opportunity"),
    ]
    who = FieldDef("WhoId", "reference", 18, reference_to="Contact|Lead", relationship_name="Who")
    what = FieldDef("WhatId", "reference", 18, reference_to="Account|Opportunity", relationship_name="What")
    activity = [who, what, FieldDef("Subject", "string", 255), FieldDef("Description", "textarea", 32000),
                _read_only("AccountId", "reference", 18, "Account", "Account"),
                _read_only("IsArchived", "boolean")]
    task = [
        *activity, FieldDef("ActivityDate", "date"),
        FieldDef("Status", "picklist", 40, picklist=TASK_STATUSES, restricted=True, default="Not Started"),
        FieldDef("Priority", "picklist", 40, picklist=("High", "Normal", "Low"), restricted=True, default="Normal"),
        _read_only("IsClosed", "boolean"),
        # Set on create only (a restricted picklist the API cannot change afterwards).
        FieldDef("TaskSubtype", "picklist", 40, picklist=TASK_SUBTYPES, restricted=True, updateable=False),
        FieldDef("CallDurationInSeconds", "int"),
        FieldDef("CallType", "picklist", 40, picklist=("Internal", "Inbound", "Outbound"), restricted=True),
        FieldDef("CallDisposition", "string", 255), _read_only("CompletedDateTime", "datetime"),
    ]
    event = [
        *activity, FieldDef("StartDateTime", "datetime"), FieldDef("EndDateTime", "datetime"),
        FieldDef("ActivityDateTime", "datetime"), FieldDef("DurationInMinutes", "int"),
        FieldDef("IsAllDayEvent", "boolean", default=False), FieldDef("Location", "string", 255),
        FieldDef("EventSubtype", "picklist", 40, picklist=("Event",), restricted=True, updateable=False),
        FieldDef("IsPrivate", "boolean", default=False),
        FieldDef("ShowAs", "picklist", 40, picklist=("Busy", "OutOfOffice", "Free"), default="Busy"),
    ]

    def relation(parent: str) -> list[FieldDef]:
        return [FieldDef(f"{parent}Id", "reference", 18, required=True, updateable=False, reference_to=parent,
                         relationship_name=parent),
                FieldDef("RelationId", "reference", 18, required=True, updateable=False,
                         reference_to="Contact|Lead|Account|Opportunity", relationship_name="Relation"),
                FieldDef("IsWhat", "boolean", createable=False, updateable=False, default=False)]

    user = [_read_only("Username", "string", 80), _read_only("Email", "email", 128),
             _read_only("FirstName", "string", 40), _read_only("LastName", "string", 80),
             _read_only("Name", "string", 121), _read_only("IsActive", "boolean")]
    stage = [_read_only("ApiName", "string", 255), _read_only("MasterLabel", "string", 255),
             _read_only("IsActive", "boolean"), _read_only("IsClosed", "boolean"), _read_only("IsWon", "boolean"),
             _read_only("DefaultProbability", "percent"), _read_only("ForecastCategoryName", "string", 40),
             _read_only("SortOrder", "int")]
    return {
        "OpportunityStage": ("01J", stage),
        "Contact": ("003", contact), "Account": ("001", account), "Opportunity": ("006", opportunity),
        "OpportunityContactRole": ("00K", ocr), "Lead": ("00Q", lead),
        "User": ("005", user), "Task": ("00T", task), "Event": ("00U", event),
        "TaskRelation": ("0RT", relation("Task")), "EventRelation": ("0RE", relation("Event")),
    }


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    writable: bool = True  # OpportunityStage is query-only

    def field(self, name: str) -> FieldDef | None:
        """A field by name, case-insensitively (as SOQL and the REST API match names)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)

    def relationship(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        return next((f for f in self.fields.values()
                     if f.relationship_name and f.relationship_name.lower() == lowered), None)


MERGEABLE = ("Account", "Contact", "Lead")
READ_ONLY_OBJECTS = ("OpportunityStage", "User")  # query-only here (users are made in Setup)
LABELS = {"OpportunityContactRole": "Opportunity Contact Role", "OpportunityStage": "Opportunity Stage",
          "TaskRelation": "Task Relation", "EventRelation": "Event Relation"}


def stage_rows() -> list[dict[str, object]]:
    """The OpportunityStage table the restricted StageName picklist is drawn from."""
    return [{"ApiName": s.name, "MasterLabel": s.name, "IsActive": True, "IsClosed": s.is_closed, "IsWon": s.is_won,
             "DefaultProbability": float(s.probability), "ForecastCategoryName": s.forecast, "SortOrder": i + 1}
            for i, s in enumerate(STAGES)]


def build(external_id_field: str, external_id_objects: tuple[str, ...]) -> dict[str, ObjectDef]:
    """The org's schema; ``external_id_field`` (text, External ID, Unique) is added to ``external_id_objects``."""
    out: dict[str, ObjectDef] = {}
    for name, (prefix, fields) in _objects().items():
        all_fields = [f for f in _sys(name) if name in MERGEABLE or f.name != "MasterRecordId"]
        if name in ("OpportunityContactRole", "OpportunityStage", "User", *RELATIONS):
            all_fields = [f for f in all_fields if f.name != "OwnerId"]
        all_fields += fields
        if name in external_id_objects and external_id_field:
            all_fields.append(FieldDef(external_id_field, "string", 255, external_id=True, unique=True, custom=True))
        out[name] = ObjectDef(name, prefix, {f.name: f for f in all_fields}, writable=name not in READ_ONLY_OBJECTS)
    return out


def object_name(defs: dict[str, ObjectDef], segment: str) -> str | None:
    """The object's API name for a path segment or FROM name, matched case-insensitively."""
    lowered = segment.lower()
    return next((n for n in defs if n.lower() == lowered), None)
