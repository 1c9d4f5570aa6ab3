"""The SQLite-file CRM as a plug-in: registered through an entry point, synced with the Cloze emulator by
``syncd reconcile`` in a subprocess, both ways, then checked by ``syncd doctor``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from connectors.cloze.client import ClozeClient
from connectors.cloze.emulator import ClozeEmulator
from tests.kit.sqlite_crm import create_crm

ROOT = Path(__file__).resolve().parents[2]
SYNCD = [sys.executable, "-m", "syncd.cli"]
CLOZE_KEY, CRM_KEY, USER = "e2e-cloze-key-91ab", "e2e-crm-key-4d2c", "ops@example.com"


def install_plugin(site: Path) -> None:
    """What ``pip install`` of a package declaring the entry point leaves behind: a dist-info directory."""
    info = site / "sqlitecrm_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sqlitecrm-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[syncd.connectors]\nsqlitecrm = tests.kit.sqlite_crm:SqliteCrmConnector\n")


def test_a_sqlite_crm_syncs_with_cloze_end_to_end(tmp_path: Path) -> None:
    crm = tmp_path / "crm.sqlite"
    create_crm(crm, CRM_KEY)
    with sqlite3.connect(crm) as db:  # someone already keeps a person in the CRM
        db.execute("UPDATE meta SET seq = 1")
        db.execute("INSERT INTO people (first, last, emails, seq) VALUES ('Grace', 'Hopper', ?, 1)",
                   (json.dumps(["grace@navy.example"]),))
    db.close()
    install_plugin(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)]),
           "E2E_CLOZE_KEY": CLOZE_KEY, "E2E_CRM_KEY": CRM_KEY}
    with ClozeEmulator(api_key=CLOZE_KEY, user=USER) as cloze:
        client = ClozeClient(CLOZE_KEY, base_url=cloze.url, user=USER, rate_per_second=None)
        client.create("person", {"name": "Ada Lovelace", "emails": [{"value": "ada@engines.example"}]})
        config = tmp_path / "config.toml"
        config.write_text(f"""
[state]
path = "{tmp_path / 'state.db'}"

[pairs.main]
app_id = "crm.example.com"
app_name = "File CRM"

[pairs.main.cloze]
base_url = "{cloze.url}"
api_key = "env:E2E_CLOZE_KEY"
user = "{USER}"

[pairs.main.external]
connector = "sqlitecrm"
path = "{crm}"
api_key = "env:E2E_CRM_KEY"

[pairs.main.entities.person.fields]
first = {{}}
last = {{}}
emails = {{}}

[pairs.main.entities.company]
enabled = false

[pairs.main.entities.project]
enabled = false
""")
        ran = subprocess.run([*SYNCD, "reconcile", "--config", str(config), "--json"], capture_output=True, text=True,
                             env=env, timeout=180, check=False)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        doctor = subprocess.run([*SYNCD, "doctor", "--config", str(config)], capture_output=True, text=True,
                                env=env, timeout=120, check=False)
        assert doctor.returncode == 0 and "pairs.main.external: ok" in doctor.stdout, doctor.stdout + doctor.stderr
        people = {(p.get("emails") or [{}])[0].get("value"): p for page in client.iter_find("person") for p in page}
        client.close()
    assert "grace@navy.example" in people, f"the CRM's person did not reach Cloze: {sorted(people)}"
    assert any(link.get("source") == "crm.example.com" for link in people["grace@navy.example"].get("appLinks", []))
    with sqlite3.connect(crm) as db:
        rows = {json.loads(e)[0]: (first, ref) for first, e, ref in db.execute("SELECT first, emails, cloze_ref FROM people")}
    db.close()
    assert rows["ada@engines.example"][0] == "Ada" and rows["ada@engines.example"][1], rows
    assert rows["grace@navy.example"][1], "the CRM's own person must carry its Cloze identity after the sync"
