"""Run many short ``syncd`` commands at once (each is a new interpreter; running them side by side
keeps the suite within its time budget)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fault.world import REPO, SYNCD


def syncd_many(commands: Sequence[Sequence[str]], *, cwd: Path, env: Mapping[str, str] | None = None,
               workers: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """Each of ``commands`` (arguments after ``syncd``), run concurrently; results in the same order."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})

    def one(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SYNCD, *args], capture_output=True, text=True, timeout=120, env=full_env, cwd=cwd,
                              check=False)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, commands))
