"""``python -m bench.cpuprofile -o OUT -m MODULE ARGS...``: cProfile timed by the process's CPU clock.

``python -m cProfile`` times by the wall clock, so a request's wait for the server counts as the
client's own work; with ``time.process_time`` the profile shows only what the process computes.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[0] != "-o" or argv[2] != "-m":
        raise SystemExit("usage: python -m bench.cpuprofile -o OUT -m MODULE [ARGS...]")
    out, module = argv[1], argv[3]
    sys.argv = [module, *argv[4:]]
    profiler = cProfile.Profile(time.process_time)
    try:
        profiler.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    main(sys.argv[1:])
