"""``sessionwarden console [--config PATH] [--read-only] [--operator NAME] [--notify]``, also
``python -m sessionwarden_console`` and ``sessionwarden-console``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

from . import config as config_mod


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER") or "operator"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sessionwarden console",
                                description="SessionWarden's security console (Textual).")
    p.add_argument("--config", metavar="PATH", help="TOML file: [redis] url, "
                   "[sessions] key_prefix, [console] (REDIS_URL in the environment wins)")
    p.add_argument("--read-only", action="store_true",
                   help="disable every mutating action (revoke, acknowledge)")
    p.add_argument("--operator", metavar="NAME",
                   help="who is at the keyboard, recorded in the audit trail "
                        "(default: the login user)")
    p.add_argument("--notify", action="store_true",
                   help="desktop notifications for high and critical alerts (plyer)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        start = config_mod.load(args.config)
    except ValueError as exc:
        print(f"sessionwarden console: {exc}", file=sys.stderr)
        return 2
    from sessionwarden import SessionManager, Settings

    from .app import ConsoleApp
    from .data import ConsoleData
    from .text import visible

    operator = (args.operator or start.console.operator or default_operator()).strip()
    if not operator:
        print("sessionwarden console: --operator: must not be blank", file=sys.stderr)
        return 2
    # An operator manager: no secret, so it can list, revoke and read, never issue.
    settings = Settings(key_prefix=start.key_prefix, secret=None, production=False)
    manager = SessionManager.from_url(start.redis_url, settings)
    app = ConsoleApp(ConsoleData(manager, operator=visible(operator, 40)), start.console,
                     read_only=args.read_only, notify_desktop=args.notify)
    try:
        app.run()
    finally:
        manager.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
