"""Command-line entries of the daemon distribution, found by ``sessionwarden`` through the
``sessionwarden.commands`` entry-point group (each takes the arguments after its command name
and returns the exit status):

    sessionwarden daemon [--config PATH] [--check]
    sessionwarden alerts dead-letters [--json] [--retry ID ... | --all] [--config PATH]

Also ``sessionwarden-daemon [--config PATH]`` and ``python -m sessionwarden_daemon``.
The configuration is the shared one (`sessionwarden.config`): ``--config PATH``, else
``$SESSIONWARDEN_CONFIG``, else ``/etc/sessionwarden/config.toml`` when it exists;
``SESSIONWARDEN_<SECTION>__<KEY>`` variables override it. Exit codes: 0 done, 2 bad
configuration or usage, or Redis unreachable (``alerts``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import IO, Any

from sessionwarden import config as swconfig
from sessionwarden.errors import SessionWardenError

from .settings import DaemonConfig, load_config


def _config(path: str | None, err: IO[str], prog: str, *, operator: bool = False,
            overrides: dict[str, Any] | None = None) -> DaemonConfig | None:
    try:
        return load_config(path, operator=operator, overrides=overrides)
    except ValueError as exc:  # ConfigError: one line naming the key
        err.write(f"{prog}: error: {exc}\n")
        return None


def daemon_main(argv: list[str] | None = None) -> int:
    """``sessionwarden daemon``: run until SIGTERM (exit 0)."""
    parser = argparse.ArgumentParser(prog="sessionwarden daemon",
                                     description="Sweep expired sessions and deliver alerts.")
    parser.add_argument("--config", metavar="PATH", help="the shared TOML file ([redis], "
                        "[sessions], [daemon], [alerts], [alerts.email], ...); default: "
                        f"${swconfig.CONFIG_ENV}, else {swconfig.DEFAULT_PATH} if it exists")
    parser.add_argument("--check", action="store_true",
                        help="only validate the configuration and exit")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = _config(args.config, sys.stderr, "sessionwarden daemon")
    if config is None:
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if config.alerts.email.enabled and config.alerts.email.action_url and not (
            config.shared.sessions.secret):
        sys.stderr.write("sessionwarden daemon: error: alerts.email.action_url needs the "
                         "deployment secret (SESSIONWARDEN_SECRET) to sign revoke links\n")
        return 2
    if args.check:
        sys.stdout.write("configuration ok\n")
        return 0
    from .app import Daemon
    daemon = Daemon(config)
    code = daemon.run()
    if not daemon.jobs_finished():
        # a send still running after the grace period (a hung sink): its alert stays
        # unacknowledged and is delivered after the restart; do not wait for its timeout
        logging.getLogger("sessionwarden.daemon").warning(
            "a send is still running after SIGTERM; exiting without waiting for it")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def alerts_main(argv: list[str] | None = None, *, stdout: IO[str] | None = None,
                stderr: IO[str] | None = None) -> int:
    """``sessionwarden alerts dead-letters [--json] [--retry ID ... | --all]``."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = argparse.ArgumentParser(prog="sessionwarden alerts")
    sub = parser.add_subparsers(dest="what", required=True)
    dead = sub.add_parser("dead-letters", help="list (or re-queue) deliveries given up")
    dead.add_argument("--config", metavar="PATH")
    dead.add_argument("--redis-url", metavar="URL")
    dead.add_argument("--json", action="store_true")
    which = dead.add_mutually_exclusive_group()
    which.add_argument("--retry", metavar="ID", nargs="+", help="re-queue these dead letters")
    which.add_argument("--all", action="store_true", help="re-queue every dead letter")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # an operator: lists and re-queues, signs nothing, so it needs no secret
    config = _config(args.config, err, "sessionwarden alerts", operator=True,
                     overrides={"redis.url": swconfig.Override(args.redis_url, "--redis-url")})
    if config is None:
        return 2
    mgr = config.shared.manager(operator=True)
    try:
        if args.retry or args.all:
            count = mgr.requeue_dead_letters(None if args.all else args.retry, actor="cli")
            out.write(f"re-queued {count} dead letter(s)\n")
            return 0
        letters = mgr.dead_letters(limit=10_000)
        if args.json:
            json.dump([{"id": d.id, "alert_id": d.alert_id, "sink": d.sink,
                        "attempts": d.attempts, "error": d.error, "at": d.at.isoformat(),
                        "event": d.event.to_dict() if d.event else None} for d in letters],
                      out, ensure_ascii=True, indent=2)
            out.write("\n")
            return 0
        for d in letters:
            kind = d.event.type if d.event else "?"
            user = (d.event.user_id if d.event else "?").encode("unicode_escape").decode()
            out.write(f"{d.id}  {d.at:%Y-%m-%d %H:%M:%S}  {d.sink:<8} {kind:<18} "
                      f"{user}  attempts={d.attempts}  {d.error}\n")
        out.write(f"{len(letters)} dead letter(s)\n")
        return 0
    except (SessionWardenError, ValueError) as exc:
        err.write(f"sessionwarden alerts: error: {exc}\n")
        return 2
    finally:
        mgr.close()
