"""``sessionwarden audit`` and the lookup of commands other distributions add, kept apart
from `sessionwarden.cli` so they can be wired in with two calls (see `dispatch_external` and
`add_audit_command`).

    sessionwarden audit [--user U] [--since 7d] [--limit N] [--json]

Other distributions register commands in the ``sessionwarden.commands`` entry-point group:
each entry point is a callable taking the arguments after the command name and returning the
exit status (``sessionwarden-daemon`` registers ``daemon`` and ``alerts``).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import entry_points
from typing import IO, Any

ENTRY_POINT_GROUP = "sessionwarden.commands"
#: command -> the distribution that provides it, for the "install ..." message
KNOWN_EXTERNAL = {"daemon": "sessionwarden-daemon", "alerts": "sessionwarden-daemon"}
_SINCE = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def external_command(name: str) -> Callable[[list[str]], int] | None:
    """The entry point registered for ``name`` in `ENTRY_POINT_GROUP`, loaded, or ``None``."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    return None


def dispatch_external(argv: list[str], stderr: IO[str]) -> int | None:
    """Run ``argv[0]`` if it is a command of another distribution: its exit status; 2 with
    "install <distribution>" when that distribution is missing; ``None`` when ``argv[0]`` is
    not such a command (the caller parses ``argv`` itself)."""
    if not argv or argv[0].startswith("-"):
        return None
    name = argv[0]
    command = external_command(name)
    if command is not None:
        return int(command(argv[1:]) or 0)
    if name in KNOWN_EXTERNAL:
        stderr.write(f"sessionwarden: error: '{name}' is provided by the "
                     f"{KNOWN_EXTERNAL[name]} package: pip install {KNOWN_EXTERNAL[name]}\n")
        return 2
    return None


def since(value: str) -> timedelta:
    """``30s`` / ``15m`` / ``12h`` / ``7d`` (argparse type)."""
    found = _SINCE.match(value.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a duration such as 30m or 7d")
    return timedelta(seconds=int(found.group(1)) * _UNIT[found.group(2)])


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="U", default=None,
                        help="only this user's trail (its last ~200 entries)")
    parser.add_argument("--since", type=since, default=None, metavar="AGE",
                        help="only entries newer than AGE (30m, 12h, 7d)")
    parser.add_argument("--limit", type=int, default=100, metavar="N",
                        help="at most N entries, 1 to 10000 (default 100)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


AUDIT_SUMMARY = "show the audit trail (revocations, acknowledgements, link uses, dead letters)"
AUDIT_DESCRIPTION = (
    "Show the audit trail, newest first: what actors did and why — revocations (with actor\n"
    "and reason), alert acknowledgements, uses of \"not you?\" links, dead letters. Kept apart\n"
    "from the event stream with its own retention (400 days by default, trimmed by the\n"
    "daemon).\n\n--json: {\"entries\": [AuditEntry.to_dict()]}")


def _shown(value: Any) -> str:
    return str(value).encode("unicode_escape").decode("ascii") if value is not None else "-"


def run_audit(manager: Any, args: argparse.Namespace, out: IO[str]) -> int:
    """Print the trail; returns the exit status (``ValueError`` for bad input propagates)."""
    entries = manager.audit_trail(user_id=args.user, since=args.since, limit=args.limit)
    if args.json:
        json.dump({"entries": [e.to_dict() for e in entries]}, out, ensure_ascii=True,
                  indent=2)
        out.write("\n")
        return 0
    for e in entries:
        out.write(f"{e.at:%Y-%m-%d %H:%M:%S}  {_shown(e.kind):<22} actor={_shown(e.actor)} "
                  f"user={_shown(e.user_id)} session={_shown(e.session_id)} "
                  f"reason={_shown(e.reason)}\n")
    out.write(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}\n")
    return 0
