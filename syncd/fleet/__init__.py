"""Many pairs over many worker processes: ``syncd worker`` on procrastinate, state on PostgreSQL.

- :mod:`syncd.fleet.app`: the procrastinate app on the state database, its schema, and how a
  run is queued (one waiting run per pair and kind, through procrastinate's queueing lock).
- :mod:`syncd.fleet.due`: when a pair's next run is due (pure: interval, cron, hash jitter).
- :mod:`syncd.fleet.tick`: the periodic tick that turns the schedule into queued runs, and the
  reaper that fails the jobs of dead workers and makes their pairs due again.
- :mod:`syncd.fleet.accounts`: which pairs the tick leaves alone because their account is busy.
- :mod:`syncd.fleet.tasks`: the tasks a worker runs (``run_pair``, ``tick``, ``reap``).
- :mod:`syncd.fleet.worker`: the worker process (signals, ``/metrics``, ``/healthz``, webhooks).

Safety does not come from the queue: a run holds its pair's epoch-fenced lease
(:mod:`state.lease`) and a job that finds the pair busy ends at once as skipped. The
queue may deliver late or twice; nothing breaks.
"""
