"""Shared test settings: hypothesis profiles (small by default, larger with SYNCD_HYPOTHESIS=long)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SYNCD_HYPOTHESIS", "default"))

import logging

import pytest
import structlog

# Tests assert on log events with structlog.testing.capture_logs(); printing every
# event would only slow the property tests down.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

# The longest tests (each a chain of real runs: kill points, random walks against a real Tryton,
# paced emulators) are handed to the workers first, so that none of them starts near the end and
# leaves the other workers idle while it finishes. Order only: what runs is unchanged.
FIRST = (
    "tests/crash/test_kill_salesforce.py",
    "tests/tryton/test_properties.py",
    "tests/state/test_shared_account.py",
    "tests/security/",
    "tests/crash/",
    "tests/fleet/",
    "tests/tryton/",
    "tests/salesforce/test_e2e.py",
    "tests/e2e/test_hubspot_reconcile.py",
    "tests/state/test_cli_state.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(FIRST) if item.nodeid.startswith(prefix)), len(FIRST))

    items.sort(key=rank)  # stable: collection order within each group
