"""Connectors: one sub-package per system, behind the interface in ``connectors.base``."""
