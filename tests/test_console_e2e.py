"""End to end: the real console (``python -m sessionwarden_console``, what
``sessionwarden console`` runs) in tmux against a real redis-server; keys typed with
send-keys, the screen read with capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import redis
from conftest import IP_US, IPHONE_SAFARI, MAC_CHROME, TEST_SECRET, Backend

from sessionwarden import SessionManager, Settings

pytest.importorskip("sessionwarden_console")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], check=True,
                          capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = capture(session)
        if text in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not on screen:\n{screen}")
        time.sleep(0.1)


def keys(session: str, *sent: str, literal: bool = False) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *(["-l"] if literal else []), *sent],
                   check=True)


def test_search_open_revoke_in_tmux(real_backend: Backend, tmp_path) -> None:
    writer = SessionManager(redis.Redis.from_url(real_backend.url), Settings(secret=TEST_SECRET))
    writer.create_session("zoe-e2e", user_agent=MAC_CHROME, ip=IP_US)
    time.sleep(0.02)  # the iPhone session is the most recently active: the first row
    target = writer.create_session("zoe-e2e", user_agent=IPHONE_SAFARI, ip=IP_US)
    writer.create_session("yann", user_agent=MAC_CHROME, ip=IP_US)
    session = f"swe2e{os.getpid()}"
    env = {**os.environ, "REDIS_URL": real_backend.url, "TERM": "xterm-256color",
           "SESSIONWARDEN_SECRET": ""}
    command = f"{sys.executable} -m sessionwarden_console --operator e2e-op"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    command], check=True, env=env)
    try:
        wait_for(session, "yann")
        keys(session, "/")
        time.sleep(0.5)  # the search box takes focus before the text arrives
        keys(session, "zoe", literal=True)
        screen = wait_for(session, "users starting with zoe")
        assert "yann" not in screen
        keys(session, "Enter")
        keys(session, "Enter")
        wait_for(session, "2 live sessions")
        # the first row is the most recently active session: the iPhone one
        keys(session, "r")
        wait_for(session, "Revoke this session?")
        time.sleep(0.3)
        keys(session, "phone stolen", literal=True)
        keys(session, "Enter")
        wait_for(session, "1 live session")
        keys(session, "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(
                ["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            time.sleep(0.1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    live = [v.session_id for v in writer.get_active_sessions("zoe-e2e")]
    assert target.session_id not in live and len(live) == 1
    entry = writer.audit_trail(user_id="zoe-e2e")[0]
    assert (entry.actor, entry.reason, entry.session_id) == (
        "console:e2e-op", "phone stolen", target.session_id)
