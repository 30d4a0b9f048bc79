"""``sessionwarden``: look at and end sessions from a terminal.

The CLI only reads and revokes; it never creates or validates a session. Commands::

    sessionwarden users [--prefix P | --recent] [--limit N] [--json]
    sessionwarden sessions USER [--json]
    sessionwarden revoke USER SESSION_ID [--reason R]
    sessionwarden revoke-all USER [--reason R] [--yes]
    sessionwarden lock USER --reason R
    sessionwarden unlock USER --reason R
    sessionwarden revoke-everyone --reason R      (asks for the word "everyone" on stdin)
    sessionwarden events [--limit N] [--follow] [--json]
    sessionwarden config check [--json]

Every command reads the shared configuration (`sessionwarden.config`): the TOML file given by
``--config PATH``, else ``$SESSIONWARDEN_CONFIG``, else ``/etc/sessionwarden/config.toml`` when
it exists, overridden by ``SESSIONWARDEN_<SECTION>__<KEY>`` variables. Connection options
(accepted before or after the command) override it: ``--redis-url`` (above
``$SESSIONWARDEN_REDIS__URL``, ``$REDIS_URL``, ``redis.url`` in the file, and
``redis://localhost:6379/0``) and ``--key-prefix`` (above ``$SESSIONWARDEN_SESSIONS__KEY_PREFIX``,
``$SESSIONWARDEN_PREFIX``, ``sessions.key_prefix`` in the file, and ``sw``; it is the
`Settings.key_prefix` of the application whose sessions you want to see).

Exit codes: 0 done; 1 nothing to do (no such live session, revoke-all or revoke-everyone not
confirmed, unlock of an account that is not locked);
2 error (bad input, Redis unreachable, usage error), reported as one line
``sessionwarden: error: <message>`` on stderr with nothing on stdout; 130 interrupted
(``events --follow`` ends with 0 on Ctrl-C: that is how it is meant to stop).

Terminal safety: the CLI does not trust what it reads from Redis. The library cleans display
text before storing it, but a corrupted or hostile record (written by something else with
access to Redis) could hold terminal escape sequences. Every string that reaches the terminal
goes through `shown`, which renders non-printable characters (C0/C1 controls including ESC,
bidi overrides and other format characters, line separators, unassigned code points, lone
surrogates) as visible ``\\xNN`` / ``\\uNNNN`` / ``\\UNNNNNNNN`` escapes; ``--json`` output is
written with ``ensure_ascii=True`` and is therefore plain ASCII. A backslash is shown as
itself, so a user id such as ``DOMAIN\\alice`` can be copied back into a command; use ``--json``
where the difference between a literal ``\\x1b`` and an escaped ESC matters.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any, NoReturn

import redis

from . import config as swconfig
from .commands import dispatch_external
from .connection import RedisSettings
from .core import MAX_LIST, MAX_REASON_LENGTH
from .display import shown
from .durations import parse_duration
from .errors import SessionWardenError, StoreUnavailable
from .manager import SessionManager
from .models import Event, SessionView, ago
from .sanitize import MAX_USER_ID_BYTES

PROG = "sessionwarden"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_KEY_PREFIX = "sw"
REDIS_URL_ENV = "REDIS_URL"
KEY_PREFIX_ENV = "SESSIONWARDEN_PREFIX"
MAX_CELL = 40  # display columns of a table cell; longer (hostile) values are cut ...
MAX_ID_CELL = 1100  # ... except ids (<= 256 bytes when valid), which must stay copyable
FOLLOW_BLOCK_MS = 1000
FOLLOW_BATCH = 100

#: Errors reported as one ``sessionwarden: error:`` line (exit 2) instead of a traceback.
#: The manager turns Redis failures into `StoreUnavailable` / `SessionWardenError`;
#: ``redis.RedisError`` stays listed for what redis-py raises before a manager exists
#: (e.g. a malformed ``--redis-url``).
EXPECTED_ERRORS = (SessionWardenError, StoreUnavailable, ValueError, TypeError,
                   redis.RedisError)


# -- terminal safety ------------------------------------------------------------------------


def _width(text: str) -> int:
    """Terminal columns of already-`shown` text (wide East Asian characters take two)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _cell(value: object, cap: int = MAX_CELL) -> str:
    """A shown table cell, cut to ``cap`` columns so one huge record cannot wreck a table."""
    text = shown(value)
    if _width(text) <= cap:
        return text
    out, used = [], 0
    for ch in text:
        w = _width(ch)
        if used + w > cap - 3:
            break
        out.append(ch)
        used += w
    return "".join(out) + "..."


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Aligned lines; the first column is an id (user or session) and is cut only when absurd."""
    cells = [list(headers)] + [
        [_cell(v, MAX_ID_CELL if i == 0 else MAX_CELL) for i, v in enumerate(row)]
        for row in rows
    ]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(row[:-1])]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return lines


def _json(document: Any, *, lines: bool = False) -> str:
    """JSON text: ASCII only (``ensure_ascii``), so nothing in it can drive a terminal."""
    if lines:
        return json.dumps(document, ensure_ascii=True, separators=(",", ":"), default=str)
    return json.dumps(document, ensure_ascii=True, indent=2, default=str)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _proof(view: SessionView, now: datetime) -> str:
    """The last proof of identity: its strength and how long ago ("mfa 5 min ago")."""
    when = ago(view.authenticated_at, now) if view.authenticated_at is not None else "-"
    return f"{view.assurance} {when}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _LogToStderr(logging.Handler):
    """Library warnings (e.g. "skipped corrupt device <fingerprint>") quote Redis content: show
    them on our stderr through `shown` instead of Python's last-resort handler."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream
        self.seen: set[str] = set()  # `events --follow` would repeat one corrupt entry's warning

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = shown(record.getMessage())
            if message not in self.seen:
                self.seen.add(message)
                self.stream.write(f"{PROG}: warning: {message}\n")
        except Exception:  # a log line must never break the command
            self.handleError(record)


# -- argument parsing -----------------------------------------------------------------------


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse writing to the streams given to `main` (and escaping what it echoes back, e.g.
    "unrecognized arguments: ..."), raising `_Exit` instead of calling ``sys.exit``."""

    def __init__(self, *args: Any, streams: tuple[IO[str], IO[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._streams = streams

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        if not message:
            return
        if file is None or file is sys.stdout:
            file = self._streams[0]
        elif file is sys.stderr:
            file = self._streams[1]
        file.write("\n".join(shown(line) for line in message.split("\n")))

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, sys.stderr)
        raise _Exit(status)


def _age(text: str) -> timedelta:
    try:
        age = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if age <= timedelta(0):
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return age


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_LIST:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_LIST}, got {value}")
    return value


_USER_HELP = (
    f"the user id exactly as the application passed it to create_session (1 to "
    f"{MAX_USER_ID_BYTES} UTF-8 bytes, no control characters; an empty, longer or otherwise "
    "malformed id is an error, exit 2). Put -- before an id that starts with '-'"
)
_REASON_HELP = (
    f"why, recorded in the session_revoked event (control characters removed, cut to "
    f"{MAX_REASON_LENGTH} characters)"
)
_JSON_HELP = "print one JSON document (ASCII, stable keys) instead of a table"
_INCIDENT_REASON_HELP = (
    f"why (required), recorded in the audit trail and the event (control characters removed, "
    f"cut to {MAX_REASON_LENGTH} characters)"
)
EVERYONE_WORD = "everyone"

_EPILOG = """\
notes:
  --config, --redis-url and --key-prefix may be given before or after the command.
  The configuration file is --config, else $SESSIONWARDEN_CONFIG, else
  /etc/sessionwarden/config.toml if it exists; SESSIONWARDEN_<SECTION>__<KEY>
  variables override it (see `sessionwarden config check`).
  The CLI needs no secret (it never computes fingerprints or signs links).

exit codes:
  0  done
  1  nothing done: no such live session, revoke-all / revoke-everyone not
     confirmed, or unlock of an account that is not locked
  2  error (one line on stderr, nothing on stdout): bad input, Redis unavailable,
     usage error
  130 interrupted (events --follow exits 0 on Ctrl-C)

Everything read from Redis is printed with non-printable characters escaped
(\\x1b, \\u202e, ...), so a corrupted or hostile record cannot control the terminal.
"""


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS,
        help=f"configuration file (default: ${swconfig.CONFIG_ENV}, else "
             f"{swconfig.DEFAULT_PATH} if it exists); a missing file is an error, exit 2")
    group.add_argument(
        "--redis-url", metavar="URL", default=argparse.SUPPRESS,
        help=f"Redis to connect to (default: $SESSIONWARDEN_REDIS__URL, else ${REDIS_URL_ENV}, "
             f"else redis.url of the configuration, else {DEFAULT_REDIS_URL}); an unreachable "
             "server is an error after the socket timeout (2 s), exit 2")
    group.add_argument(
        "--key-prefix", metavar="PREFIX", default=argparse.SUPPRESS,
        help="key prefix of the application's Settings (default: "
             f"$SESSIONWARDEN_SESSIONS__KEY_PREFIX, else ${KEY_PREFIX_ENV}, else "
             f"sessions.key_prefix of the configuration, else {DEFAULT_KEY_PREFIX!r}); 1-32 "
             "characters from A-Z a-z 0-9 _ . : -")


def build_parser(stdout: IO[str], stderr: IO[str]) -> argparse.ArgumentParser:
    streams = (stdout, stderr)
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG, streams=streams, formatter_class=formatter, epilog=_EPILOG,
        description="Inspect and revoke SessionWarden sessions stored in Redis.",
    )
    _connection_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description,
                                  formatter_class=formatter, streams=streams)
        _connection_options(sub)
        return sub

    users = command(
        "users", "list user ids (by prefix, or by last sign-in)",
        "List user ids known to SessionWarden (users that signed in at least once).\n\n"
        "Without --recent: ids in lexical (byte) order, optionally only those starting with\n"
        f"--prefix (a prefix longer than {MAX_USER_ID_BYTES} bytes is an error, exit 2).\n"
        "With --recent: the most recent sign-ins first, with the time of each.\n"
        "At most --limit ids are shown; the footer says when the limit was reached.\n\n"
        "--json: {\"order\": \"lexical\", \"prefix\": P, \"users\": [{\"user_id\"}]} or\n"
        "        {\"order\": \"recent\", \"users\": [{\"user_id\", \"last_login_at\"}]}",
    )
    which = users.add_mutually_exclusive_group()
    which.add_argument("--prefix", default="", metavar="P",
                       help="only user ids starting with P (default: all)")
    which.add_argument("--recent", action="store_true",
                       help="order by last sign-in, newest first, and show its time")
    users.add_argument("--limit", type=_limit, default=50, metavar="N",
                       help=f"show at most N users, 1 to {MAX_LIST} (default 50)")
    users.add_argument("--json", action="store_true", help=_JSON_HELP)

    sessions = command(
        "sessions", "list a user's live sessions",
        "List the live sessions of USER, most recently active first: session id, device,\n"
        "browser, OS, IP, place, last activity (relative), the last proof of identity\n"
        "(its assurance and age: \"mfa 5 min ago\") and expiry (UTC), then a count.\n"
        "A user without live sessions (or unknown to SessionWarden) prints\n"
        "\"no live sessions for USER\" and exits 0. Overlong values read from Redis (other than\n"
        f"the session id) are cut to {MAX_CELL} columns in the table, never in --json.\n\n"
        "--json: {\"user_id\", \"count\", \"sessions\": [SessionView.to_dict()]}",
    )
    sessions.add_argument("user", metavar="USER", help=_USER_HELP)
    sessions.add_argument("--json", action="store_true", help=_JSON_HELP)

    revoke = command(
        "revoke", "end one session",
        "End one live session of USER and record a session_revoked event with actor\n"
        "\"cli:<login name>\". Prints \"revoked SESSION_ID\". A session that is not live (never\n"
        "existed, expired, already revoked, or belongs to another user) prints\n"
        "\"no live session SESSION_ID for USER\" on stderr and exits 1. A SESSION_ID that is\n"
        "not a SessionWarden session id at all (27 characters of A-Z a-z 0-9 _ -) is an\n"
        "error, exit 2.",
    )
    revoke.add_argument("user", metavar="USER", help=_USER_HELP)
    revoke.add_argument("session_id", metavar="SESSION_ID",
                        help="the session id as `sessions USER` shows it")
    revoke.add_argument("--reason", default=None, help=_REASON_HELP)

    revoke_all = command(
        "revoke-all", "end every session of a user",
        "End every live session of USER (actor \"cli:<login name>\") and print\n"
        "\"revoked N session(s)\" (N may be 0). On a terminal it asks for confirmation first\n"
        "(anything but y/yes aborts: exit 1, nothing revoked). When stdin is not a terminal\n"
        "(scripts, pipes) it refuses to run without --yes (exit 2): there is nobody to ask.",
    )
    revoke_all.add_argument("user", metavar="USER", help=_USER_HELP)
    revoke_all.add_argument("--reason", default=None, help=_REASON_HELP)
    revoke_all.add_argument("--yes", "-y", action="store_true",
                            help="do not ask for confirmation (required when stdin is not a TTY)")

    lock = command(
        "lock", "lock an account: end its sessions, refuse new ones",
        "Lock USER (actor \"cli:<login name>\"): every live session ends at once (each\n"
        "tombstoned and audited like a revocation) and the application's create_session\n"
        "raises AccountLocked until `unlock USER`. Prints \"locked USER: N session(s) ended\"\n"
        "(or \"USER was already locked\"). The lock shows in `users` and `sessions USER`.",
    )
    lock.add_argument("user", metavar="USER", help=_USER_HELP)
    lock.add_argument("--reason", required=True, help=_INCIDENT_REASON_HELP)

    unlock = command(
        "unlock", "unlock an account locked with `lock`",
        "Unlock USER (actor \"cli:<login name>\"): sign-ins are accepted again; sessions\n"
        "ended by the lock stay ended. An account that is not locked prints\n"
        "\"USER is not locked\" on stderr and exits 1 (nothing written).",
    )
    unlock.add_argument("user", metavar="USER", help=_USER_HELP)
    unlock.add_argument("--reason", required=True, help=_INCIDENT_REASON_HELP)

    everyone = command(
        "revoke-everyone", "sign out every session of every user (breach response)",
        "Sign out everyone (actor \"cli:<login name>\"): every session of every user that\n"
        "exists now is refused by every application process within a second, and the\n"
        "daemon's sweep then ends them in the background. Users can sign in again at once.\n"
        f"It asks for the word {EVERYONE_WORD!r} on stdin (typed, or piped by a script that\n"
        "means it); anything else aborts: exit 1, nothing revoked. There is no flag to skip\n"
        "the word.",
    )
    everyone.add_argument("--reason", required=True, help=_INCIDENT_REASON_HELP)

    audit = command(
        "audit", "show the audit trail (revocations, acknowledgements, link uses)",
        "Show the audit trail, newest first: what actors did and why: revocations (with actor\n"
        "and reason), alert acknowledgements, uses of \"not you?\" links, dead letters. It is\n"
        "kept apart from the event stream, with its own retention (the daemon's).\n\n"
        "--json: {\"entries\": [{\"id\", \"kind\", \"actor\", \"user_id\", \"session_id\",\n"
        "         \"reason\", \"at\", \"details\"}]}",
    )
    audit.add_argument("--user", metavar="USER", default=None,
                       help="only this user's own trail (its last ~200 entries)")
    audit.add_argument("--since", type=_age, default=None, metavar="AGE",
                       help="only entries newer than AGE (30m, 12h, 7d)")
    audit.add_argument("--limit", type=_limit, default=100, metavar="N",
                       help=f"at most N entries, 1 to {MAX_LIST} (default 100)")
    audit.add_argument("--json", action="store_true", help=_JSON_HELP)

    events = command(
        "events", "show the event log (optionally follow it)",
        "Show the newest --limit events, oldest first like a log: time (UTC), severity, type,\n"
        "user, session id, and the actor and reason when the event has them. Events that\n"
        "cannot be decoded are skipped with a warning on stderr.\n\n"
        "--follow: then keep waiting for new events and print each as it arrives, until\n"
        "Ctrl-C (exit 0). If Redis becomes unreachable while following: error, exit 2.\n\n"
        "--json: {\"events\": [Event.to_dict()]}; with --follow one JSON object per line\n"
        "(JSON Lines) instead, for the first batch too.",
    )
    events.add_argument("--limit", type=_limit, default=20, metavar="N",
                        help=f"how many recent events to show first, 1 to {MAX_LIST} "
                             "(default 20)")
    events.add_argument("--follow", "-f", action="store_true",
                        help="keep printing new events until interrupted")
    events.add_argument("--json", action="store_true",
                        help="machine-readable output (a document; JSON Lines with --follow)")

    config = command(
        "config", "check the shared configuration",
        "Commands about the configuration shared by the CLI, the daemon, the console and\n"
        "applications (see `config check --help`).",
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="COMMAND",
                                            required=True)
    check = config_commands.add_parser(
        "check", help="validate and print the effective configuration",
        description="Validate the configuration (file, environment, options) and print every\n"
        "key with its effective value and where it came from: default, file, env (with the\n"
        "variable's name) or argument. Secrets are masked (secret/password/token keys, and\n"
        "passwords inside URLs such as redis://:***@host). Sections of distributions that\n"
        "are not installed (e.g. [daemon]) are listed as not validated. Does not connect\n"
        "to Redis.\n\n"
        "Exit 0 when valid; 2 when not, with one line on stderr naming the key, the value,\n"
        "where it came from and what was expected.\n\n"
        "--json: {\"valid\": true, \"file\", \"keys\": {KEY: {\"value\", \"source\",\n"
        "\"origin\"}}, \"unvalidated\": {SECTION: REASON}}",
        formatter_class=formatter, streams=streams)
    _connection_options(check)
    check.add_argument("--json", action="store_true", help=_JSON_HELP)
    return parser


# -- commands -------------------------------------------------------------------------------


def _actor() -> str:
    """``cli:<login name>``: who revoked, as far as this process can tell."""
    try:
        login = getpass.getuser()
    except Exception:  # no LOGNAME/USER and no passwd entry (containers)
        return "cli"
    return f"cli:{login}" if login else "cli"


class _Run:
    def __init__(self, manager: SessionManager, args: argparse.Namespace, out: IO[str],
                 err: IO[str], stdin: IO[str], stop: threading.Event | None) -> None:
        self.manager, self.args = manager, args
        self.out, self.err, self.stdin, self.stop = out, err, stdin, stop

    def say(self, line: str = "") -> None:
        self.out.write(line + "\n")

    def users(self) -> int:
        a = self.args
        if a.recent:
            summaries = self.manager.recent_users(limit=a.limit)
            if a.json:
                self.say(_json({"order": "recent", "users": [
                    {"user_id": s.user_id,
                     "last_login_at": s.last_login_at.isoformat() if s.last_login_at else None,
                     "locked_at": s.locked_at.isoformat() if s.locked_at else None}
                    for s in summaries]}))
                return 0
            now = datetime.now(UTC)
            rows = [(s.user_id, _when(s.last_login_at) + (
                f" ({ago(s.last_login_at, now)})" if s.last_login_at else ""))
                for s in summaries]
            locks = {s.user_id: s.locked_at for s in summaries if s.locked_at}
            headers: tuple[str, ...] = ("USER", "LAST SIGN-IN")
            count = len(summaries)
        else:
            ids = self.manager.users(a.prefix, limit=a.limit)
            locked = {u.user_id: u.locked_at for u in self.manager.locked_users(limit=MAX_LIST)}
            locks = {u: locked[u] for u in ids if u in locked}
            if a.json:
                self.say(_json({"order": "lexical", "prefix": a.prefix, "users": [
                    {"user_id": u,
                     "locked_at": locks[u].isoformat() if u in locks else None}
                    for u in ids]}))
                return 0
            rows = [(u,) for u in ids]
            headers = ("USER",)
            count = len(ids)
        if not count:
            self.say(f"no users starting with {shown(a.prefix)}" if a.prefix else "no users")
            return 0
        if locks:  # a column only when a listed account is locked
            headers = (*headers, "LOCKED")
            rows = [(*row, f"LOCKED since {_when(locks[row[0]])}" if row[0] in locks else "")
                    for row in rows]
        for line in _table(headers, rows):
            self.say(line)
        more = " (limit reached: --limit N shows more)" if count == a.limit else ""
        self.say(f"{count} user{'s' if count != 1 else ''}{more}")
        return 0

    def sessions(self) -> int:
        user = self.args.user
        views = self.manager.get_active_sessions(user)
        locked = self.manager.lock_state(user)
        if self.args.json:
            self.say(_json({"user_id": user, "count": len(views),
                            "locked_at": locked.isoformat() if locked else None,
                            "sessions": [v.to_dict() for v in views]}))
            return 0
        if locked is not None:
            self.say(f"account {shown(user)} is LOCKED since {_when(locked)} "
                     "(`sessionwarden unlock` lifts it)")
        if not views:
            self.say(f"no live sessions for {shown(user)}")
            return 0
        now = datetime.now(UTC)
        rows = [(v.session_id, v.device, v.browser, v.os, v.ip, v.place,
                 ago(v.last_active_at, now), _proof(v, now), _when(v.expires_at))
                for v in views]
        headers = ("SESSION ID", "DEVICE", "BROWSER", "OS", "IP", "PLACE", "LAST ACTIVE",
                   "AUTHENTICATED", "EXPIRES")
        for line in _table(headers, rows):
            self.say(line)
        self.say(f"{len(views)} live session{'s' if len(views) != 1 else ''}")
        return 0

    def revoke(self) -> int:
        a = self.args
        if self.manager.revoke_session(a.user, a.session_id, actor=_actor(), reason=a.reason):
            self.say(f"revoked {shown(a.session_id)}")
            return 0
        self.err.write(f"{PROG}: no live session {shown(a.session_id)} for {shown(a.user)}\n")
        return 1

    def revoke_all(self) -> int:
        a = self.args
        if not a.yes:
            if not _isatty(self.stdin):
                raise _Refused("revoke-all: stdin is not a terminal, so nobody can confirm; "
                               "pass --yes to revoke every session of the user")
            count = len(self.manager.get_active_sessions(a.user))
            if count:
                self.err.write(f"revoke all {count} live session(s) of {shown(a.user)}? [y/N] ")
                self.err.flush()
                answer = self.stdin.readline().strip().lower()
                if answer not in ("y", "yes"):
                    self.err.write(f"{PROG}: aborted, nothing revoked\n")
                    return 1
        revoked = self.manager.revoke_all_sessions(a.user, actor=_actor(), reason=a.reason)
        self.say(f"revoked {revoked} session(s)")
        return 0

    def lock(self) -> int:
        a = self.args
        was = self.manager.lock_state(a.user)
        ended = self.manager.lock_user(a.user, actor=_actor(), reason=a.reason)
        if was is not None:
            self.say(f"{shown(a.user)} was already locked (since {_when(was)}); "
                     f"{ended} session(s) ended")
        else:
            self.say(f"locked {shown(a.user)}: {ended} session(s) ended")
        return 0

    def unlock(self) -> int:
        a = self.args
        if self.manager.unlock_user(a.user, actor=_actor(), reason=a.reason):
            self.say(f"unlocked {shown(a.user)}")
            return 0
        self.err.write(f"{PROG}: {shown(a.user)} is not locked\n")
        return 1

    def revoke_everyone(self) -> int:
        self.err.write(f"this signs out EVERY session of EVERY user. Type {EVERYONE_WORD!r} to "
                       "confirm: ")
        self.err.flush()
        if self.stdin.readline().strip() != EVERYONE_WORD:
            self.err.write(f"{PROG}: aborted, nothing revoked\n")
            return 1
        epoch = self.manager.revoke_everyone(actor=_actor(), reason=self.args.reason)
        self.say(f"signed out everyone: every session created until {_stamp(epoch)} is "
                 "refused; the daemon's sweep ends them in the background")
        return 0

    def events(self) -> int:
        a = self.args
        recent = list(reversed(self.manager.recent_events(a.limit)))
        if a.json and not a.follow:
            self.say(_json({"events": [e.to_dict() for e in recent]}))
            return 0
        self._print_events(recent)
        if not a.follow:
            if not recent:
                self.say("no events")
            return 0
        return self._follow(recent[-1].id if recent else "0-0")

    def audit(self) -> int:
        a = self.args
        entries = self.manager.audit_trail(user_id=a.user, since=a.since, limit=a.limit)
        if a.json:
            self.say(_json({"entries": [e.to_dict() for e in entries]}))
            return 0
        for e in entries:
            self.say(f"{e.at:%Y-%m-%d %H:%M:%S}  {shown(e.kind):<22} actor={shown(e.actor)} "
                     f"user={shown(e.user_id or '-')} session={shown(e.session_id or '-')} "
                     f"reason={shown(e.reason or '-')}")
        self.say(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
        return 0

    def _socket_timeout(self) -> float:
        """The reply timeout of the manager's connection (a client the caller built keeps its
        own, unknown here: assume the default)."""
        options = self.manager.redis_settings
        return (options or RedisSettings()).socket_timeout

    def _follow(self, last_id: str) -> int:
        block_ms = min(FOLLOW_BLOCK_MS,
                       max(1, int(self._socket_timeout() * 500)))
        with contextlib.suppress(KeyboardInterrupt):
            while not (self.stop is not None and self.stop.is_set()):
                page = self.manager.events_after(last_id, limit=FOLLOW_BATCH, block_ms=block_ms)
                self._print_events(page.events)
                last_id = page.cursor  # moves past entries that did not decode, too
        return 0

    def _print_events(self, events: Sequence[Event]) -> None:
        for event in events:
            if self.args.json:
                self.say(_json(event.to_dict(), lines=True))
            else:
                self.say(_event_line(event))
        self.out.flush()


def _event_line(event: Event) -> str:
    parts = [_stamp(event.at), f"{shown(event.severity):<8}", f"{shown(event.type):<18}",
             f"user={shown(event.user_id)}", f"session={shown(event.session_id or '-')}"]
    details = event.details if isinstance(event.details, dict) else {}
    for key in ("actor", "reason"):
        value = details.get(key)
        if value is not None and value != "":
            parts.append(f"{key}={shown(value)}")
    return "  ".join(parts)


class _Refused(Exception):
    """A command that will not run as invoked (exit 2, like a usage error)."""


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


#: The CLI's environment aliases: the shared ones plus $SESSIONWARDEN_PREFIX, which the CLI has
#: always read (below $SESSIONWARDEN_SESSIONS__KEY_PREFIX, above the file).
CLI_ALIASES = {**swconfig.ENV_ALIASES, KEY_PREFIX_ENV: "sessions.key_prefix"}


def _load_config(args: argparse.Namespace, *, operator: bool = True) -> swconfig.Config:
    """The shared configuration, with --redis-url / --key-prefix on top.

    The CLI never needs the secret: without one its manager is an operator manager (list,
    revoke, read), which is all the CLI does, so ``production`` without a secret is fine here.
    A secret that *is* configured is validated like any other key. `config check` loads with
    ``operator=False``: it judges the configuration exactly as an application would.
    """
    overrides = {
        "redis.url": swconfig.Override(getattr(args, "redis_url", None), "--redis-url"),
        "sessions.key_prefix": swconfig.Override(getattr(args, "key_prefix", None),
                                                 "--key-prefix"),
    }
    return swconfig.load(getattr(args, "config", None), env=os.environ, overrides=overrides,
                         aliases=CLI_ALIASES, operator=operator)


def _make_manager(cfg: swconfig.Config) -> SessionManager:
    """The one place the CLI builds its manager."""
    return cfg.manager(operator=True)


def _config_check(args: argparse.Namespace, out: IO[str]) -> int:
    cfg = _load_config(args, operator=False)
    doc = cfg.describe()
    if args.json:
        out.write(_json({"valid": True, **doc}) + "\n")
        return 0
    if cfg.path is None:
        out.write("# configuration file: none (defaults and environment only)\n")
    else:
        out.write(f"# configuration file: {shown(cfg.path)}\n")
    rows = []
    for key, item in doc["keys"].items():
        value = item["value"]
        text = "(unset)" if value is None else json.dumps(value, ensure_ascii=True)
        source = item["source"] + (f" {item['origin']}" if item["origin"] else "")
        section = key.split(".", 1)[0]
        rows.append((section, f"{key} = {shown(text)}", shown(source)))
    width = max((len(r[1]) for r in rows), default=0)
    for section in doc["unvalidated"]:
        if not any(r[0] == section for r in rows):
            rows.append((section, f"[{section}] (empty)", ""))
    notes = doc["unvalidated"]
    previous = None
    for section, line, source in rows:
        if section != previous and section in notes:
            out.write(f"# [{section}] {notes[section]}\n")
        previous = section
        out.write(f"{line.ljust(width)}  # {source}\n" if source else line + "\n")
    if cfg.values.get("sessions.secret") is None:
        out.write("# note: sessions.secret is unset: fine for the CLI and the console (they only "
                  "look and revoke); an application or the daemon cannot issue or validate "
                  "sessions without it\n")
    out.write("# valid\n")
    return 0


_COMMANDS: dict[str, Callable[[_Run], int]] = {
    "users": _Run.users,
    "sessions": _Run.sessions,
    "revoke": _Run.revoke,
    "revoke-all": _Run.revoke_all,
    "lock": _Run.lock,
    "unlock": _Run.unlock,
    "revoke-everyone": _Run.revoke_everyone,
    "events": _Run.events,
    "audit": _Run.audit,
}


@contextlib.contextmanager
def _library_warnings(stream: IO[str]) -> Iterator[None]:
    logger = logging.getLogger("sessionwarden")
    handler = _LogToStderr(stream)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def main(argv: list[str] | None = None, *, manager: SessionManager | None = None,
         stdout: IO[str] | None = None, stderr: IO[str] | None = None,
         stdin: IO[str] | None = None, stop: threading.Event | None = None) -> int:
    """Run the CLI; returns the exit status (see the module docstring).

    ``manager``, the streams and ``stop`` are for tests and embedding: a given manager is used
    as is (and not closed); ``stop`` ends ``events --follow`` within about a second when set.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    inp = stdin if stdin is not None else sys.stdin
    argv = sys.argv[1:] if argv is None else argv
    if (status := dispatch_external(argv, err)) is not None:  # daemon, alerts, console
        return status
    parser = build_parser(out, err)
    try:
        args = parser.parse_args(argv)
    except _Exit as done:
        return done.status
    built = None
    try:
        with _library_warnings(err):
            if args.command == "config":
                return _config_check(args, out)
            if manager is None:
                manager = built = _make_manager(_load_config(args))
            return _COMMANDS[args.command](_Run(manager, args, out, err, inp, stop))
    except (*EXPECTED_ERRORS, _Refused) as exc:
        err.write(f"{PROG}: error: {shown(exc)}\n")
        return 2
    except KeyboardInterrupt:
        err.write("\n")
        return 130
    except BrokenPipeError:  # e.g. `sessionwarden events | head`
        _silence(out)
        return 1
    finally:
        if built is not None:
            with contextlib.suppress(Exception):
                built.close()


def _silence(stream: IO[str]) -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does
    not raise again."""
    with contextlib.suppress(Exception):
        if stream is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
