"""``python -m connectors.cloze.emulator`` in its own process, switched from this one over HTTP."""

from __future__ import annotations

import subprocess
import sys

import httpx

from connectors.cloze.client import ClozeClient
from connectors.http import RetryPolicy


def test_cli_serves_seeded_data_and_admin_switches() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.cloze.emulator",
            "--port",
            "0",
            "--seed",
            "30",
            "--api-key",
            "cli-key-1234",
            "--set",
            "keywords_mode=merge",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Cloze emulator listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip()
        with (
            ClozeClient(
                "cli-key-1234",
                base_url=url,
                rate_per_second=None,
                retry=RetryPolicy(attempts=3, initial=0.01),
            ) as client,
            httpx.Client(base_url=url) as admin,
        ):
            assert client.count("person") == 30
            assert admin.get("/_emulator/settings").json()["keywords_mode"] == "merge"
            admin.post("/_emulator/faults", json={"error_next": 1})
            assert client.count("company") > 0 and client.session.retries == 1
            assert admin.get("/_emulator/stats").json()["faults"] == {"error": 1}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
