"""``python -m connectors.salesforce.emulator --port 8766 [--session S] [--seed] [--daily-limit N] [--tls-cert C --tls-key K]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.salesforce.emulator.server import DEFAULT_SESSION, serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.salesforce.emulator",
                                     description="Run a local Salesforce REST API emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--session", default=DEFAULT_SESSION, help="a fixed access token clients may send")
    parser.add_argument("--seed", action="store_true", help="load the demo small-business data set")
    parser.add_argument("--daily-limit", type=int, default=15_000, help="API calls per rolling 24 h; 0 turns it off")
    parser.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--jwt-public-key", help="PEM file whose key verifies JWT bearer assertions")
    args = parser.parse_args(argv)
    key = Path(args.jwt_public_key).read_text(encoding="utf-8") if args.jwt_public_key else None
    serve_forever(args.host, args.port, args.session, seed=args.seed, tls_cert=args.tls_cert, tls_key=args.tls_key,
                  daily_api_limit=args.daily_limit or None, jwt_public_key=key)


if __name__ == "__main__":
    main()
