"""The Cloze side of cloze-syncd: API client, connector, emulator and sample data.

- :mod:`connectors.cloze.client`     ``ClozeClient``, the REST client (on ``connectors.http.ApiSession``)
- :mod:`connectors.cloze.connector`  ``ClozeConnector`` and its ``ClozeSettings``
- :mod:`connectors.cloze.choices`    every assumption about undocumented API behaviour, one setting each
- :mod:`connectors.cloze.emulator`   ``ClozeEmulator``, a stateful local Cloze API
- :mod:`connectors.cloze.seed`       deterministic small-business sample records
"""

from connectors.cloze.choices import ClozeApiAssumptions
from connectors.cloze.client import ClozeClient
from connectors.cloze.connector import ClozeConnector, ClozeSettings

__all__ = ["ClozeApiAssumptions", "ClozeClient", "ClozeConnector", "ClozeSettings"]
