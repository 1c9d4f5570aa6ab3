"""Connectors: one sub-package per system, behind the interface in ``connectors.base``.

The bottom layer of the project lives here too and imports nothing above it:
``connectors.errors`` (the error tree), ``connectors.scrub`` (the secret scrubber),
``connectors.values`` (value normalisers), ``connectors.model`` (the record model) and
``connectors.entities`` (the entity kinds). Nothing under ``connectors`` imports ``syncd``.
"""
