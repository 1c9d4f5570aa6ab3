"""``python -m connectors.hubspot.emulator --port 8765 [--token T] [--seed] [--rate-limit N]``."""

from __future__ import annotations

import argparse

from connectors.hubspot.emulator.server import DEFAULT_TOKEN, serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.hubspot.emulator",
                                     description="Run a local HubSpot CRM API emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bearer token clients must send")
    parser.add_argument("--seed", action="store_true", help="load the demo small-business data set")
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per rolling 10 s; 0 turns it off")
    parser.add_argument("--search-cap", type=int, default=10_000, help="results one search query may page through")
    args = parser.parse_args(argv)
    serve_forever(args.host, args.port, args.token, seed=args.seed,
                  rate_limit_per_10s=args.rate_limit or None, search_result_cap=args.search_cap)


if __name__ == "__main__":
    main()
