"""The cyclic garbage collector in a ``syncd`` process of its own.

A ``syncd`` process's start-up (the imports, the config and its connectors, the state database)
leaves about 150,000 objects for the collector to follow, nearly all of them kept until the
process ends. Left in the collector's generations, every full collection walked them again, and
the interpreter's teardown at exit freed them one by one: in a reconcile of 1,000 people the two
cost about a quarter of the process's CPU (README, § Performance). :func:`start_up` keeps the
collector off while start-up makes them and then moves them to the permanent generation with
:func:`gc.freeze`, where no collection looks at them again; what a run makes afterwards is
collected as before. The cost: the cyclic garbage start-up leaves (about a thousand objects), and
the start-up config a daemon's reload replaces, are never freed. Both happen once.

Only in a process of its own (:func:`own_process`, called by the ``syncd`` entry point): a test
or a host that calls the CLI in its own process keeps its collector as it was, since freezing
would keep that process's garbage for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_own_process = False


def own_process() -> None:
    """Mark this process as ``syncd``'s own: :func:`start_up` may then freeze its heap."""
    global _own_process
    _own_process = True


@contextmanager
def start_up() -> Iterator[None]:
    """The block that builds what the process keeps to its end; frozen out of the collector after it.

    Left the same way on an error (a bad config exits from inside it): the collector is on again.
    """
    if not _own_process or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
