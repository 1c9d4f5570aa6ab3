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


# Modules whose module-scoped set-up costs up to a minute (a seeded world, reconciled, then damaged):
# built once on one worker instead of once per worker.
COSTLY_MODULE_SETUPS = ("tests/badinput/test_state_db.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the suite over xdist workers (``--dist loadgroup``) without paying set-ups twice:

    - every test on a real Tryton server goes to one worker, and first: one shared server instead of
      one per worker, and its installation (a fresh machine builds Tryton's environment) overlaps
      the rest of the suite instead of coming last;
    - the tests of a module in ``COSTLY_MODULE_SETUPS`` go to one worker, which builds its set-up once.
    """
    def on_tryton(item: pytest.Item) -> bool:
        return (item.nodeid.startswith(("tests/tryton/", "tests/kit/test_tryton.py"))
                or "tryton_server" in getattr(item, "fixturenames", ()))

    for item in items:
        module = item.nodeid.split("::")[0]
        if on_tryton(item):
            item.add_marker(pytest.mark.xdist_group("tryton"))
        elif module in COSTLY_MODULE_SETUPS:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=lambda item: not on_tryton(item))  # stable: the rest keeps its order
