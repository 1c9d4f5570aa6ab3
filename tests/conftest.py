"""Shared test settings: hypothesis profiles (small by default, larger with SYNCD_HYPOTHESIS=long)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SYNCD_HYPOTHESIS", "default"))

import logging

import structlog

# Tests assert on log events with structlog.testing.capture_logs(); printing every
# event would only slow the property tests down.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
