"""Salesforce support: a local emulator of Salesforce's REST API (``connectors.salesforce.emulator``).

The id helpers in :mod:`connectors.salesforce.ids` are shared by the emulator and any client code.
"""
