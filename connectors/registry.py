"""Finds connector classes through the ``syncd.connectors`` entry-point group.

First-party connectors register in this project's ``pyproject.toml`` exactly as a
third-party package would register its own, so there is one discovery path.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from connectors.base import Connector
from connectors.errors import ConfigError

GROUP = "syncd.connectors"


def available() -> dict[str, EntryPoint]:
    """Every registered connector, by name, without importing any of them."""
    return dict(_registered())


@functools.cache
def _registered() -> dict[str, EntryPoint]:
    # Read once per process: scanning every installed distribution's metadata took 10 ms, twice per
    # pair a config names (a worker's config of 1,000 pairs: 20 s).
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str) -> type[Connector]:
    """Import and return the connector class registered as ``name``."""
    eps = available()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise ConfigError(
            f"unknown connector {name!r}",
            hint=f"registered connectors: {known} (a plug-in registers under the entry-point group {GROUP!r})",
        )
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"entry point {name!r} does not point at a Connector subclass: {eps[name].value}")
    if getattr(cls, "name", None) != name:
        raise ConfigError(
            f"connector class {cls.__qualname__} declares name {getattr(cls, 'name', None)!r}, "
            f"but is registered as {name!r}"
        )
    return cls
