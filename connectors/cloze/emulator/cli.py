"""Command line for the emulator: ``python -m connectors.cloze.emulator --port N --seed 200``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.cloze.emulator.app import DEFAULT_API_KEY, DEFAULT_USER, ClozeEmulator


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    api_key: str = DEFAULT_API_KEY,
    seed_count: int = 0,
    *,
    user: str = DEFAULT_USER,
    random_seed: int = 0,
    settings: Mapping[str, Any] | None = None,
    ready: Callable[[ClozeEmulator], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run an emulator until ``stop`` is set, or SIGINT/SIGTERM when running in the main thread.

    ``seed_count`` people (with companies and projects) are generated with
    ``random_seed``. The first line on stdout is ``Cloze emulator listening on <url>``.
    """
    stop = stop or threading.Event()
    emulator = ClozeEmulator(api_key, user, host=host, port=port, seed=random_seed, **dict(settings or {}))
    if seed_count > 0:
        emulator.seed(seed_count, seed=random_seed)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with emulator:
        counts = {k: len(emulator.records(k)) for k in ("person", "company", "project")}
        print(f"Cloze emulator listening on {emulator.url}", flush=True)
        print(
            f"records: {counts['person']} people, {counts['company']} companies, {counts['project']} projects; "
            f"admin: {emulator.url}/_emulator/stats",
            flush=True,
        )
        if ready is not None:
            ready(emulator)
        stop.wait()


def _setting(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.cloze.emulator", description="Serve an emulated Cloze API on this machine."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("CLOZE_EMULATOR_API_KEY", DEFAULT_API_KEY),
        help="the key clients must send (default: $CLOZE_EMULATOR_API_KEY or a fixed test key)",
    )
    parser.add_argument("--user", default=DEFAULT_USER, help="the account e-mail /v1/user/profile reports")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="COUNT",
        help="generate COUNT people plus companies and projects",
    )
    parser.add_argument("--random-seed", type=int, default=0, help="makes ids and generated data repeatable")
    parser.add_argument(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a behaviour or fault setting, e.g. --set keywords_mode=merge --set error_rate=0.1",
    )
    args = parser.parse_args(argv)
    try:
        serve_forever(
            args.host,
            args.port,
            args.api_key,
            args.seed,
            user=args.user,
            random_seed=args.random_seed,
            settings=dict(args.settings),
        )
    except (TypeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
