"""``custom:<field>`` keys: plain fields of a Tryton model read and written as they are.

Only fields of plain types qualify (char, text, selection, integer, float, numeric,
date, datetime, boolean); a relation field named in the pair's mapping is a config
error, reported the first time the field is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import Problem
from connectors.errors import ConfigError
from connectors.model import CUSTOM_PREFIX, custom_key
from connectors.tryton.client import TrytonClient
from connectors.tryton.values import PLAIN_TYPES, read_plain, write_plain


class PlainFields:
    """The custom fields the pair maps for one model."""

    def __init__(self, client: TrytonClient, model: str, names: Sequence[str]) -> None:
        self.client = client
        self.model = model
        self.names = tuple(dict.fromkeys(names))
        self._types: dict[str, str] | None = None

    def types(self) -> dict[str, str]:
        if self._types is None:
            defs = self._definitions()
            for problem in self.problems(defs):
                raise ConfigError(problem.what, field=problem.where, hint=problem.fix)
            self._types = {name: str(defs[name]["type"]) for name in self.names}
        return self._types

    def _definitions(self) -> dict[str, Any]:
        return dict(self.client.fields_get(self.model, list(self.names))) if self.names else {}

    def problems(self, defs: Mapping[str, Any] | None = None) -> list[Problem]:
        """What is wrong with the mapped fields: a field the model lacks, or one that is not plain."""
        defs = self._definitions() if defs is None else defs
        out = []
        for name in self.names:
            ttype = (defs.get(name) or {}).get("type")
            if ttype is None:
                out.append(Problem(f"Tryton model {self.model} has no field {name!r}",
                                   "custom fields name plain fields of the model, e.g. custom:code", custom_key(name)))
            elif ttype not in PLAIN_TYPES:
                out.append(Problem(f"field {name!r} of {self.model} is a {ttype}; only plain fields "
                                   f"({', '.join(sorted(PLAIN_TYPES))}) can be synced",
                                   "map a plain field of the model instead", custom_key(name)))
        return out

    def read(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {custom_key(name): read_plain(ttype, row.get(name)) for name, ttype in self.types().items()}

    def write(self, key: str, text: str | None) -> tuple[str, Any]:
        """``custom:<field>`` and canonical text -> ``(field, wire value)``; raises ``ValueError``."""
        name = key[len(CUSTOM_PREFIX):]
        ttype = self.types().get(name)
        if ttype is None:
            raise ValueError(f"{key} is not a mapped custom field of {self.model}")
        return name, write_plain(ttype, text)
