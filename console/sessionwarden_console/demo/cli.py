"""``sessionwarden demo [--headless] [--users N] [--every SECONDS] [--store KIND]``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sessionwarden demo",
        description="The whole system on an embedded store: a seeded tenant, live traffic "
        "with scripted incidents, the daemon and the console. With REDIS_URL set, that Redis "
        "under a key prefix of the demo's own (deleted at exit).")
    p.add_argument("--headless", action="store_true",
                   help="run store, traffic and daemon only; print the REDIS_URL for "
                   "`sessionwarden console` in another terminal")
    p.add_argument("--users", type=int, default=200, metavar="N",
                   help="users to seed (default 200)")
    p.add_argument("--every", type=float, default=20.0, metavar="SECONDS",
                   help="seconds between scripted incidents (default 20)")
    p.add_argument("--store", choices=("auto", "redis-server", "fakeredis"), default="auto",
                   help="auto: REDIS_URL, else redis-server on PATH, else fakeredis")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="stop by itself after S seconds")
    p.add_argument("--screenshot", metavar="PATH.svg",
                   help="save the console's alert feed (SVG) once it shows every scripted "
                   "incident, then stop")
    return p


def missing_dependencies() -> list[str]:
    """What of the ``[demo]`` extra is not installed (fakeredis is checked when it is needed:
    only without redis-server)."""
    missing = []
    for module in ("sessionwarden_daemon", "aiosmtpd"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 1 <= args.users <= 100_000:
        print("sessionwarden demo: --users: expected 1 to 100000", file=sys.stderr)
        return 2
    if not 0.2 <= args.every <= 3600:
        print("sessionwarden demo: --every: expected 0.2 to 3600 seconds", file=sys.stderr)
        return 2
    missing = missing_dependencies()
    if missing:
        print(f"sessionwarden demo: {', '.join(missing)} missing: pip install "
              "'sessionwarden-console[demo]'", file=sys.stderr)
        return 2
    from .run import Options, run

    return run(Options(headless=args.headless, users=args.users, every=args.every,
                       store=args.store, seconds=args.seconds, screenshot=args.screenshot))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
