"""Every point where Cloze's documentation leaves the client's behaviour open, as one setting each.

Cloze's public API reference leaves a number of behaviours unstated. Rather
than bake a guess into the code, each guess is a named field here with the
default we believe in and the section of the project's Cloze API notes
("spec §N") it comes from. A deployment that learns otherwise changes the setting in the config
file (``[pairs.NAME.cloze.api_assumptions]``); nothing else needs to change.

The emulator's own choices (how *it* behaves where the spec is open) are
listed in ``EMULATOR_CHOICES.md`` next to this file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.model import Entity


class ClozeApiAssumptions(BaseModel):
    """How the client speaks to the parts of the Cloze API that are not pinned down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direct_id_form: Literal["auto", "plain", "prefixed"] = Field(
        default="auto",
        description=(
            "spec §2.3 / §11.6: how a `direct` id is written as `uniqueid` on get and delete. "
            "'prefixed' sends `direct:<id>`, 'plain' sends `<id>`, 'auto' sends `direct:<id>` for "
            "projects (documented) and `<id>` for people and companies (documented as a plain id)."
        ),
    )
    keywords_write: Literal["replace", "merge"] = Field(
        default="replace",
        description=(
            "spec §2.4 / §11.1: what an update's `keywords` array does. 'replace' (observed live): the "
            "client sends the complete new list, so removals work. 'merge': the client sends only "
            "additions, and a tag removal is reported as a failed write because it cannot be expressed."
        ),
    )
    update_identity: Literal["direct", "synckey", "both"] = Field(
        default="direct",
        description=(
            "spec §2.4 / §11.2: which identifier an update body carries to name its target record. "
            "`direct` is stable; `syncKey` churns on merges (spec §2.5); 'both' sends the two."
        ),
    )
    app_link_lookup: Literal["documented", "get", "scan"] = Field(
        default="documented",
        description=(
            "spec §2.3: how a record is found by its App Link. 'documented': projects with "
            "`get?uniqueid=<source>:<uniqueid>` (documented for projects only), people and companies "
            "from the feed (the connector reads the full feed at most once per run and indexes the App "
            "Links it carries). 'get': the get form for every kind (undocumented for people and companies; "
            "one call per lookup). 'scan': the feed for every kind, projects included."
        ),
    )
    not_found_errorcodes: tuple[int, ...] = Field(
        default=(62,),
        description="spec §3: errorcodes (HTTP 200) that mean 'no such record' on get and delete.",
    )
    auth_errorcodes: tuple[int, ...] = Field(
        default=(1,),
        description=(
            "spec §11.9: errorcodes that mean refused credentials when they come with HTTP 200 instead "
            "of 401 (errorcode 1 is 'The API key was not found')."
        ),
    )
    clear_enum_value: str = Field(
        default="none",
        description="spec §2.5: the value written to clear a stage, segment or step (Cloze reads back 'none').",
    )
    string_element_removal: Literal["archived_object", "unsupported"] = Field(
        default="archived_object",
        description=(
            "spec §2.4: company `domains[]` are plain strings with no `archived` flag. 'archived_object' "
            "removes one by sending `{value: <domain>, archived: true}`; 'unsupported' reports the "
            "removal as a failed write instead."
        ),
    )
    relation_unlink: Literal["archived_ref", "unsupported"] = Field(
        default="archived_ref",
        description=(
            "spec §2.5: unlinking a company from a person, or a client person/company from a project, "
            "is not documented. 'archived_ref' sends the reference with `archived: true` (the element "
            "convention of every other array); 'unsupported' reports the removal as a failed write."
        ),
    )
    project_value_field: str = Field(
        default="value",
        description="spec §2.5: the custom field id that holds a project's deal value (`{id:'value', type:'currency'}`).",
    )
    project_value_type: str = Field(
        default="currency", description="spec §2.5: the type sent with the deal value."
    )
    read_back_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description=(
            "spec §2.1: create/update return no id. The connector learns a batch's results from one feed "
            "read after the batch; a written record missing from it (a write that changed nothing, or an "
            "account that indexes asynchronously) is looked up by a documented identifier (direct id, "
            "e-mail, phone, domain; App Link for projects) up to this many times before the write is "
            "reported as unconfirmed."
        ),
    )

    def app_link_by_get(self, entity: Entity) -> bool:
        """Whether a record of ``entity`` is looked up by App Link with ``get`` (else from the feed)."""
        return self.app_link_lookup == "get" or (self.app_link_lookup == "documented" and entity == "project")

    def direct_uniqueid(self, entity: Entity, direct_id: str) -> str:
        """The ``uniqueid`` value that addresses a record by its ``direct`` id."""
        if direct_id.startswith("direct:"):
            return direct_id
        prefixed = self.direct_id_form == "prefixed" or (
            self.direct_id_form == "auto" and entity == "project"
        )
        return f"direct:{direct_id}" if prefixed else direct_id
