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
    """Every test on the real Tryton server goes to one worker (``--dist loadgroup``), and first:
    one server instead of one per worker, and its installation (a fresh machine builds Tryton's
    environment) overlaps the rest of the suite instead of coming last."""
    def on_tryton(item: pytest.Item) -> bool:
        return "tryton_server" in getattr(item, "fixturenames", ())

    for item in items:
        if on_tryton(item):
            item.add_marker(pytest.mark.xdist_group("tryton"))
    items.sort(key=lambda item: not on_tryton(item))  # stable: the rest keeps its order
