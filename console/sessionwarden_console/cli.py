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
    p.add_argument("--config", metavar="PATH", help="the shared TOML configuration "
                   "([redis], [sessions], [console]; default $SESSIONWARDEN_CONFIG, else "
                   "/etc/sessionwarden/config.toml when it exists); SESSIONWARDEN_<SECTION>__"
                   "<KEY> and REDIS_URL override it")
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
        cfg, console = config_mod.load(args.config)
    except ValueError as exc:  # ConfigError: one line naming the key and where it came from
        print(f"sessionwarden console: {exc}", file=sys.stderr)
        return 2
    from .app import ConsoleApp
    from .data import ConsoleData
    from .text import visible

    operator = (args.operator or console.operator or default_operator()).strip()
    if not operator:
        print("sessionwarden console: --operator: must not be blank", file=sys.stderr)
        return 2
    # An operator manager ([redis] timeouts, pool and TLS applied): it lists, revokes and
    # reads, never issues, so production without a secret is fine.
    try:
        manager = cfg.manager(operator=True)
    except ValueError as exc:
        print(f"sessionwarden console: {exc}", file=sys.stderr)
        return 2
    app = ConsoleApp(ConsoleData(manager, operator=visible(operator, 40)), console,
                     read_only=args.read_only, notify_desktop=args.notify)
    try:
        app.run()
    finally:
        manager.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
