"""The config checks that need the sync core: the whole config as the commands and the daemon read it.

:func:`config.loader.load_config` validates the file itself (shape, connector tables,
schedules, secrets). :func:`load_config` here adds the check that each pair's field
mapping fits what its connectors hold, built by the same code a run uses
(:func:`syncd.core.mapping.build_entity_mapping`), so a config that passes
``syncd config check`` maps the same way at run time. All problems are still listed in
one pass, sorted by line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from config import loader
from config.loader import LoadedConfig, Where
from config.models import PairConfig
from connectors.base import Connector, ConnectorContext, ConnectorSettings
from connectors.errors import SyncdError
from connectors.model import Side
from syncd.core.mapping import build_entity_mapping


def load_config(path: Path, *, resolve_secrets: bool = True) -> LoadedConfig:
    """Read and validate ``path``, field mappings included; raise ConfigError listing every problem."""
    return loader.load_config(path, resolve_secrets=resolve_secrets, pair_checks=(check_fields,))


def check_fields(
    pair_name: str,
    pair: PairConfig,
    settings: Mapping[str, ConnectorSettings],
    classes: Mapping[str, type[Connector]],
    where: Where,
) -> list[str]:
    """The pair's field mapping against the fields its two connectors hold, as ``key.path: problem``."""
    problems: list[str] = []
    connectors: dict[str, Connector] = {}
    try:
        sides: tuple[Side, ...] = ("cloze", "external")
        for side in sides:
            ctx = ConnectorContext(pair=pair_name, side=side, app_id=pair.app_id)
            connectors[side] = classes[side](settings[side], ctx)
        for entity, ecfg in pair.entities.items():
            if not ecfg.enabled:
                continue
            loc = ("pairs", pair_name, "entities", entity)
            missing = [s for s in ("cloze", "external") if entity not in connectors[s].entities()]
            if missing:
                if ecfg.fields:
                    problems.append(where(loc, f"the {' and '.join(missing)} connector does not sync {entity} records"))
                continue
            _, found = build_entity_mapping(
                entity,
                ecfg,
                connectors["cloze"].fields(entity),
                connectors["external"].fields(entity),
                path=".".join(loc),
            )
            problems.extend(f"{p}" for p in found)
    except SyncdError as exc:
        problems.append(where(("pairs", pair_name), str(exc)))
    finally:
        for conn in connectors.values():
            conn.close()
    return problems
