"""The API walk-through (`make quickstart`) runs end to end on a real redis-server."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_demo_tells_the_incident(redis_server: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_server}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Windows/Edge — Netherlands" in out
    assert "[  high] impossible_travel" in out
    # one assessment: a new device in a new country, far away: every finding of it is high
    assert "[  high] new_country: first sign-in from Netherlands (NL)" in out
    assert "revoked 2 session(s); left:" in out
    assert "validate_session(attacker token) -> None" in out
    assert "[  high] revoked_token_used" in out
    assert "require_fresh(session, assurance='mfa') -> ok=False (weak" in out
    assert "after reauthenticate + rotate_session: ok=True (fresh); same session True, old " \
           "token -> None" in out
    assert "\x1b" not in out


def test_quickstart_closing_hint_works_as_printed(real_backend) -> None:
    """`make quickstart` (REDIS_URL set) ends with CLI commands; run them exactly as printed, from
    the repository, in an environment without REDIS_URL or SESSIONWARDEN_* variables."""
    env = {k: v for k, v in os.environ.items()
           if k != "REDIS_URL" and not k.startswith("SESSIONWARDEN_")}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          env={**env, "REDIS_URL": real_backend.url}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    tail = done.stdout.split("look at it with the CLI:\n", 1)[1].splitlines()
    commands = [line.strip() for line in tail if line.strip()]
    assert len(commands) == 2 and "sessions alice@example.com" in commands[0]

    sessions = subprocess.run(shlex.split(commands[0]), env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    assert sessions.returncode == 0, sessions.stderr
    assert "Mac/Chrome" in sessions.stdout  # the laptop session the demo kept
    assert sessions.stdout.splitlines()[-1] == "1 live session"

    events = subprocess.run(shlex.split(commands[1]), env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert events.returncode == 0, events.stderr
    assert "revoked_token_used" in events.stdout and "impossible_travel" in events.stdout


def test_quickstart_without_redis_url_says_how_to_keep_the_data(redis_server) -> None:
    # redis_server: only so a missing redis-server skips (or fails under REQUIRE_REDIS) like
    # the other demo tests; the demo starts its own.
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "REDIS_URL=redis://localhost:6379/0 make quickstart" in done.stdout
    assert "sessionwarden sessions" not in done.stdout  # no command that cannot work
