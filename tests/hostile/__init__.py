"""The hostile-server kit: a loopback proxy that slows, loops, inflates, truncates, nests and mistypes replies.

- :mod:`tests.hostile.proxy`: :class:`HostileProxy`, a reverse proxy in front of any emulator;
  rules pick requests by method and path and answer them with a fault.
- :mod:`tests.hostile.faults`: the faults (``Slow``, ``Loop``, ``Endless``, ``Inflate``,
  ``Truncate``, ``Nest``, ``Mistype``, ``Html``, ``Status``) and the page makers an endless
  feed needs for Cloze and HubSpot.
- :mod:`tests.hostile.world`: both emulators with the proxy in front of one side, and
  ``syncd`` run as a subprocess that reports its exit code, time and peak memory.

A new connector gets the same suite by starting its emulator, pointing its URL setting
at ``HostileProxy(emulator.url).url`` and, for an endless feed, writing one page maker.
"""
