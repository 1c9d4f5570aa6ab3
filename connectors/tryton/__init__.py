"""The Tryton connector: ``party.party`` <-> people and companies, ``sale.opportunity`` <-> projects."""

from connectors.tryton.connector import TrytonConnector
from connectors.tryton.settings import TrytonSettings

__all__ = ["TrytonConnector", "TrytonSettings"]
