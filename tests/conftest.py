"""Shared test settings: hypothesis profiles (small by default, larger with SYNCD_HYPOTHESIS=long)."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SYNCD_HYPOTHESIS", "default"))

import logging

import structlog

# Tests assert on log events with structlog.testing.capture_logs(); printing every
# event would only slow the property tests down.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the suite over xdist workers (``--dist loadgroup``) without paying set-ups twice:

    - every test on the real Tryton server goes to one worker, and first: one server instead of one
      per worker, and its installation (a fresh machine builds Tryton's environment) overlaps the rest
      of the suite instead of coming last;
    - the tests of a module with a module-scoped fixture go to one worker, which builds it once
      (damaged state databases, seeded worlds: up to a minute each).
    """
    def on_tryton(item: pytest.Item) -> bool:
        return "tryton_server" in getattr(item, "fixturenames", ())

    def module_scoped(item: pytest.Item) -> bool:
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
        return any(d.scope == "module" for ds in defs.values() for d in ds)

    for item in items:
        if on_tryton(item):
            item.add_marker(pytest.mark.xdist_group("tryton"))
        elif module_scoped(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=lambda item: not on_tryton(item))  # stable: the rest keeps its order
