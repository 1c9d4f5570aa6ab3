"""A probe of a child ``syncd`` process's garbage collector: loaded at the child's start as its
``sitecustomize``, it writes down at exit how many objects were frozen and whether collection is on
(``syncd/heap.py``). Shared by the reconcile, daemon and worker tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Loaded by the child interpreter at start (``sitecustomize``): at exit it writes down the collector's state.
PROBE = '''
import atexit, gc, json, os

def _report():
    with open(os.environ["HEAP_PROBE_OUT"], "w") as out:
        json.dump({"frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}, out)

atexit.register(_report)
'''

# The imports, the config and the state database alone make over 50,000 objects.
START_UP_OBJECTS = 20_000


def probe_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment that loads :data:`PROBE` into a child, and the file it writes."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE)
    out = tmp_path / "heap.json"
    return {"PYTHONPATH": f"{probe}:{REPO}", "HEAP_PROBE_OUT": str(out)}, out
