"""Shared test settings: hypothesis profiles (small by default, larger with SYNCD_HYPOTHESIS=long)."""

import os
from importlib.metadata import version

import pytest
from hypothesis import HealthCheck, settings
from packaging.version import Version

settings.register_profile("default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SYNCD_HYPOTHESIS", "default"))

import logging

import structlog

# Tests assert on log events with structlog.testing.capture_logs(); printing every
# event would only slow the property tests down.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group markers into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order the workers take tests in (``--dist loadgroup``).

    - Every test on the real Tryton server goes to one worker, first: one server instead of one
      per worker, and its installation (a fresh machine builds Tryton's environment) overlaps the
      rest of the suite instead of coming last.
    - Then the tests marked ``slow``: started early, their waits overlap the many short tests
      instead of leaving one worker busy after the others have finished.
    """
    def on_tryton(item: pytest.Item) -> bool:
        return "tryton_server" in getattr(item, "fixturenames", ())

    for item in items:
        if on_tryton(item):
            item.add_marker(pytest.mark.xdist_group("tryton"))
    items.sort(key=lambda item: (not on_tryton(item), item.get_closest_marker("slow") is None))  # stable


def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``--dist loadgroup`` where it does not group (pytest 9.2 with pytest-xdist up to 3.8:
    pytest-xdist#1386). The Tryton tests would then start a server on every worker and the suite
    would run minutes longer, with nothing failing."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    if Version(version("pytest")) >= Version("9.2") and Version(version("pytest-xdist")) < Version("3.9"):
        raise pytest.UsageError(f"pytest {version('pytest')} with pytest-xdist {version('pytest-xdist')}: "
                                "--dist loadgroup does not group tests (pytest-xdist#1386); install the "
                                "versions pyproject.toml asks for (pip install -e '.[test]')")
