"""The App URL of an App Link written to Cloze: which template applies to a record.

First ``pairs.NAME.entities.ENTITY.app_url``, then ``pairs.NAME.app_url`` (one template
for every entity, ``{entity}`` = person/company/project), then the external connector's
own record URL for that entity (HubSpot's differ by object type id). ``{id}`` is the
external record id.
"""

from __future__ import annotations

from config.models import PairConfig
from connectors.base import Connector
from connectors.model import Entity


def app_url(pair: PairConfig, external: Connector, entity: Entity, external_id: str) -> str:
    template = pair.entities[entity].app_url or pair.app_url or external.default_app_url(entity)
    return template.format(id=external_id, entity=entity) if template else ""
