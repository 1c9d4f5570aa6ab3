"""Single-host behaviour is the same with the state on PostgreSQL: a selection of the engine suites
(healing after deletes, merges and restores; links read by need) runs again in a pytest subprocess
with ``SYNCD_TEST_STATE=postgresql``, every world's state on a new PostgreSQL database (see
``tests/engine/harness.py``). The selection is small, to keep CI's time in bounds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pgserver import PostgresServer

REPO = Path(__file__).resolve().parents[2]
SELECTION = ("tests/engine/test_healing.py", "tests/engine/test_links_by_need.py")

pytestmark = pytest.mark.timeout(600)


@pytest.mark.slow
def test_engine_suites_pass_with_the_state_on_postgresql(postgres: PostgresServer) -> None:
    # The ``postgres`` fixture only proves a server can start here (else skip, or fail in CI);
    # the suites start their own, in their own process.
    env = {**os.environ, "SYNCD_TEST_STATE": "postgresql", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
                           *SELECTION], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=580, check=False)
    tail = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, tail
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None and int(passed.group(1)) >= 20 and "skipped" not in done.stdout, tail
