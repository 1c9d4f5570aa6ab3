"""``python -m connectors.salesforce.emulator`` runs a seeded org over HTTPS until stopped."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys

import httpx

from tests.salesforce.conftest import CERT, KEY


def test_module_entry_serves_a_seeded_org_over_tls() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "connectors.salesforce.emulator", "--port", "0", "--seed",
                             "--session", "s-1", "--tls-cert", str(CERT), "--tls-key", str(KEY)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(CERT)), timeout=10) as client:
            reply = client.get(f"{url}/services/data/v66.0/query", params={"q": "SELECT COUNT() FROM Account"},
                               headers={"Authorization": "Bearer s-1"})
            assert reply.json()["totalSize"] == 10
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
