"""A walk through the library: the incident from the brief, end to end.

Alice signs in on her laptop and phone; an attacker signs in with her password from abroad;
the alerts fire; she changes her password, which revokes every session but the current one;
the attacker's copied token is refused and reported.

Uses $REDIS_URL when set; otherwise starts a throwaway redis-server on a free loopback port
(Debian: apt-get install redis-server) and stops it at the end. Run: `make quickstart`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import redis

from sessionwarden import SessionManager, Settings, require_fresh

LAPTOP = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36")
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
ATTACKER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91")


@contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("demo: set REDIS_URL or install redis-server (apt-get install "
                         "redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", workdir],
                                stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            for _ in range(100):
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait()


KEY_PREFIX = "swdemo"  # the demo's keys stay apart from an application's ("sw")


def cli_commands(url: str) -> list[str]:
    """Shell commands that look at the demo's data with the `sessionwarden` CLI, runnable as
    printed from the directory the demo was started in: the CLI installed next to this
    Python (`.venv/bin/sessionwarden` under `make quickstart`), else `python -m sessionwarden`."""
    script = Path(sys.executable).with_name("sessionwarden")
    if script.exists():
        relative = os.path.relpath(script)
        program = shlex.quote(relative if not relative.startswith("..") else str(script))
    else:
        program = f"{shlex.quote(sys.executable)} -m sessionwarden"
    options = f"--redis-url {shlex.quote(url)} --key-prefix {KEY_PREFIX}"
    return [f"{program} {options} sessions alice@example.com", f"{program} {options} events"]


def show_sessions(mgr: SessionManager, user: str, current: str | None = None) -> None:
    for view in mgr.get_active_sessions(user, current_token=current):
        marker = "*" if view.current else " "
        print(f"   {marker} {view.session_id}  {view.label}  ({view.ip})")


def main() -> None:
    with redis_url() as url:
        settings = Settings(secret=os.environ.get("SESSIONWARDEN_SECRET", "demo-" + "x" * 40),
                            key_prefix=KEY_PREFIX)
        mgr = SessionManager.from_url(url, settings)
        print(f"SessionWarden demo on {url}\n")

        print("1. Alice signs in on her laptop (San Francisco) and her phone:")
        laptop = mgr.create_session("alice@example.com", user_agent=LAPTOP, ip="8.8.8.8",
                                    city="San Francisco", email="alice@example.com")
        mgr.create_session("alice@example.com", user_agent=PHONE, ip="8.8.4.4",
                           city="San Francisco")
        show_sessions(mgr, "alice@example.com", laptop.token)

        print("\n2. An attacker signs in with her password from the Netherlands:")
        attacker = mgr.create_session("alice@example.com", user_agent=ATTACKER,
                                      ip="193.0.6.139")
        show_sessions(mgr, "alice@example.com", laptop.token)

        print("\n3. Alerts on the event stream:")
        for event in reversed(mgr.recent_events(20)):
            if event.severity != "info":
                print(f"   [{event.severity:>6}] {event.type}: {event.details['reason']}")

        print("\n4. Alice changes her password on the laptop: every other session ends.")
        count = mgr.revoke_all_sessions("alice@example.com", except_token=laptop.token,
                                        actor="alice@example.com", reason="password changed")
        print(f"   revoked {count} session(s); left:")
        show_sessions(mgr, "alice@example.com", laptop.token)

        print("\n5. The attacker replays the session's token from a script: refused, and "
              "reported:")
        result = mgr.validate_session(attacker.token, ip="193.0.6.139",
                                      user_agent="python-requests/2.32.3")
        print(f"   validate_session(attacker token) -> {result}")
        latest = mgr.recent_events(1)[0]
        print(f"   [{latest.severity:>6}] {latest.type}: {latest.details['reason']}")

        print("\n6. Alice changes her email: a sensitive action, so the app asks for a fresh "
              "second factor first (sudo mode):")
        session = mgr.validate_session(laptop.token, ip="8.8.8.8", user_agent=LAPTOP)
        assert session is not None
        decision = require_fresh(session, within=timedelta(minutes=10), assurance="mfa")
        print(f"   require_fresh(session, assurance='mfa') -> ok={decision.ok} "
              f"({decision.reason}: signed in with {decision.assurance})")
        mgr.reauthenticate(laptop.token, assurance="mfa")  # she entered her one-time code
        rotated = mgr.rotate_session(laptop.token)  # a new cookie after the step-up
        assert rotated is not None
        decision = require_fresh(rotated.session, assurance="mfa")
        print(f"   after reauthenticate + rotate_session: ok={decision.ok} ({decision.reason}); "
              f"same session {rotated.session_id == laptop.session_id}, old token "
              f"-> {mgr.validate_session(laptop.token, user_agent=LAPTOP)}")

        if os.environ.get("REDIS_URL"):
            print("\nThe data stays in this Redis; look at it with the CLI:")
            for command in cli_commands(url):
                print(f"   {command}")
        else:
            print("\nThe throwaway redis-server stops now. To keep the data and look at it with "
                  "the CLI, run the walk-through on your own Redis: "
                  "REDIS_URL=redis://localhost:6379/0 make quickstart")
        mgr.close()


if __name__ == "__main__":
    main()
