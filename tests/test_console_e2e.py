"""End to end: the real console (``python -m sessionwarden_console``, what
``sessionwarden console`` runs) in tmux against a real redis-server; keys typed with
send-keys, the screen read with capture-pane."""

from __future__ import annotations

import os
import shlex
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


DEADLINE = 60.0  # generous: a loaded 2-core machine starts Python + Textual slowly


class Tmux:
    """A private tmux server (``-L``): another tmux on the machine (another engineer's tests,
    a developer's own) never shares its environment or its sessions with this one."""

    def __init__(self, name: str) -> None:
        self.socket = name
        self.session = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=check,
                              capture_output=True, text=True)

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def wait_for(self, text: str, *, absent: str | None = None,
                 timeout: float = DEADLINE) -> str:
        """Poll the screen until ``text`` is on it (and ``absent`` is not): a deadline, never
        a fixed sleep."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if text in screen and (absent is None or absent not in screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.05)

    def keys(self, *sent: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", self.session, *(["-l"] if literal else []), *sent)

    def retry(self, key: str, until: str, *, every: float = 3.0,
              timeout: float = DEADLINE) -> str:
        """Send ``key`` until ``until`` shows: only for keys that are harmless when repeated
        (enter on a list that opens the row: once open, enter there does nothing)."""
        deadline = time.monotonic() + timeout
        while True:
            self.keys(key)
            try:
                return self.wait_for(until, timeout=min(every, max(deadline - time.monotonic(),
                                                                   0.1)))
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def type_into(self, text: str, *, until: str, empty: str, every: float = 5.0,
                  timeout: float = DEADLINE) -> str:
        """Type ``text`` into a focused box until ``until`` shows. Typing again is done only
        while the box is visibly still empty (its placeholder ``empty`` shown), so a retry
        can never double the text (seen once in a full-suite run: the keys never arrived)."""
        deadline = time.monotonic() + timeout
        while True:
            self.keys(text, literal=True)
            try:
                return self.wait_for(until, timeout=every)
            except AssertionError:
                if empty not in self.capture() or time.monotonic() > deadline:
                    raise

    def exited(self) -> bool:
        """The console's process has ended (the pane stays: remain-on-exit)."""
        shown = self.run("display-message", "-p", "-t", self.session, "#{pane_dead}",
                         check=False)
        return shown.returncode != 0 or shown.stdout.strip() == "1"

    def kill(self) -> None:
        self.run("kill-server", check=False)


def test_search_open_revoke_in_tmux(real_backend: Backend, tmp_path) -> None:
    writer = SessionManager(redis.Redis.from_url(real_backend.url), Settings(secret=TEST_SECRET))
    writer.create_session("zoe-e2e", user_agent=MAC_CHROME, ip=IP_US)
    time.sleep(0.02)  # the iPhone session is the most recently active: the first row
    target = writer.create_session("zoe-e2e", user_agent=IPHONE_SAFARI, ip=IP_US)
    writer.create_session("yann", user_agent=MAC_CHROME, ip=IP_US)
    tmux = Tmux(f"swe2e{os.getpid()}")
    # the variables on the command line itself: a tmux server passes its own environment
    config = tmp_path / "absent.toml"
    command = " ".join(shlex.quote(part) for part in (
        "env", f"REDIS_URL={real_backend.url}", "TERM=xterm-256color", "SESSIONWARDEN_SECRET=",
        f"SESSIONWARDEN_CONFIG={tmp_path / 'sw.toml'}", sys.executable, "-m",
        "sessionwarden_console", "--operator", "e2e-op"))
    config.with_name("sw.toml").write_text("")  # no /etc file, no stray variables' file
    tmux.run("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "80", "-y",
             "24", command)
    tmux.run("set-option", "-t", tmux.session, "remain-on-exit", "on")  # a crash stays visible
    try:
        tmux.wait_for("yann")
        tmux.keys("/")
        tmux.wait_for("searching: ")  # the search box has focus
        screen = tmux.type_into("zoe", until="users starting with zoe",
                                empty="/ search users by prefix")
        assert "yann" not in screen
        tmux.keys("Enter")  # to the results
        tmux.wait_for("users starting with zoe", absent="searching:")
        tmux.retry("Enter", until="2 live sessions")
        # the first row is the most recently active session: the iPhone one
        tmux.keys("r")
        tmux.wait_for("Revoke this session?")
        tmux.keys("phone stolen", literal=True)
        tmux.wait_for("phone stolen")  # typed into the reason field
        tmux.keys("Enter")
        tmux.wait_for("1 live session")
        tmux.keys("q")
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not tmux.exited():
            time.sleep(0.05)
        assert tmux.exited()  # the console exited on q
    finally:
        tmux.kill()
    live = [v.session_id for v in writer.get_active_sessions("zoe-e2e")]
    assert target.session_id not in live and len(live) == 1
    entry = writer.audit_trail(user_id="zoe-e2e")[0]
    assert (entry.actor, entry.reason, entry.session_id) == (
        "console:e2e-op", "phone stolen", target.session_id)
