"""`sessionwarden demo --headless` end to end, as a user runs it: on both embedded stores (a
private redis-server on a unix socket; fakeredis's TCP server with redis-server hidden from
PATH) and on a Redis of the user's own (REDIS_URL). Each scripted incident must raise an alert
of its kind on the incident's user — read from the demo's Redis by this test, not from what
the demo prints about itself — and SIGINT must leave no process and no file behind.

The checks name the alert *types* each incident should raise, never counts or severities:
detection thresholds and grouping may change without breaking the demo."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

pytest.importorskip("sessionwarden_console.demo.run")
from sessionwarden_console.demo.tenant import HOMES
from sessionwarden_console.demo.traffic import EXPECT, event_kinds

from sessionwarden import SessionManager, Settings

ROOT = Path(__file__).resolve().parent.parent
INCIDENT = re.compile(r" incident (\S+)\s+user=(\S+)")
DEADLINE = 60.0  # generous for a loaded 2-core machine; a normal run needs ~8 s


class Demo:
    """The demo as a child process, its output read line by line in a thread."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sessionwarden", "demo", "--headless", "--users", "40",
             "--every", "0.5", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        self.queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        for line in self.lines:
            if m := regex.search(line):
                return m
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if m := regex.search(line):
                return m
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))

    def drain(self) -> None:
        while True:
            try:
                line = self.queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    def incidents(self) -> list[tuple[str, str]]:
        self.drain()
        return [(m.group(1), m.group(2)) for line in self.lines if (m := INCIDENT.search(line))]

    def children(self) -> list[int]:
        """Processes whose parent is the demo (from /proc)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found


def demo_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k != "REDIS_URL" and not k.startswith("SESSIONWARDEN_")}
    env.update(TMPDIR=str(tmp), PYTHONUNBUFFERED="1", **extra)
    return env


def alerts_by_user(url: str, prefix: str = "sw") -> dict[str, set[str]]:
    mgr = SessionManager.from_url(url, Settings(key_prefix=prefix), operator=True)
    try:
        seen: dict[str, set[str]] = {}
        for event in mgr.recent_events(5000):
            seen.setdefault(event.user_id, set()).update(event_kinds(event))
        return seen
    finally:
        mgr.close()


def check_every_kind(demo: Demo, url: str, prefix: str = "sw") -> dict[str, str]:
    """Waits until each scripted kind has an incident whose user has an alert of one of the
    kind's expected types in the demo's Redis; returns kind -> that user."""
    deadline = time.monotonic() + DEADLINE
    proved: dict[str, str] = {}
    while time.monotonic() < deadline and len(proved) < len(EXPECT):
        seen = alerts_by_user(url, prefix)
        for kind, user in demo.incidents():
            if kind not in proved and seen.get(user, set()) & EXPECT[kind]:
                proved[kind] = user
        time.sleep(0.5)
    missing = sorted(set(EXPECT) - set(proved))
    assert not missing, f"no alert for {missing}; output:\n" + "\n".join(demo.lines)
    return proved


def stop_cleanly(demo: Demo, tmp: Path, children: list[int]) -> None:
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=30) == 0, "\n".join(demo.lines)
    demo.wait_for(r"^stopped: .*nothing left running")
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), f"child {pid} left running"
    assert list(tmp.iterdir()) == [], "files left behind"
    assert not any("Traceback" in line for line in demo.lines), "\n".join(demo.lines)


def follow_not_me_link(demo: Demo) -> None:
    """The printed email's "Not you?" link works: the page asks first, the POST signs out."""
    link = demo.wait_for(r"Not you\? (http://127\.0\.0\.1:\d+/not-me\?t=\S+)").group(1)
    with urllib.request.urlopen(link, timeout=10) as page:  # a GET only asks
        assert b"<form method=post" in page.read()
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
    body = urllib.parse.urlencode({"t": token}).encode()
    with urllib.request.urlopen(link.split("?")[0], data=body, timeout=10) as page:
        assert b"session(s) signed out" in page.read()
    demo.wait_for(r"not-me   the account owner used an email link")


def test_demo_on_a_private_redis_server(redis_server: str, tmp_path: Path) -> None:
    demo = Demo(demo_env(tmp_path))
    try:
        demo.wait_for(r"store    a private redis-server \(pid \d+\) on the unix socket")
        url = demo.wait_for(r"^\S+\s+REDIS_URL=(unix://\S+)").group(1)
        assert url.startswith(f"unix://{tmp_path}/")
        children = demo.children()
        assert children, "the redis-server child is not running"
        check_every_kind(demo, url)
        demo.wait_for(r"log-sink \{\"alert_id\"")  # the daemon's log sink delivered
        follow_not_me_link(demo)
        stop_cleanly(demo, tmp_path, children)
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()


def test_demo_on_fakeredis_without_redis_server(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH without redis-server (or anything else)
    bin_dir.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    demo = Demo(demo_env(tmp, PATH=str(bin_dir)))
    try:
        demo.wait_for(r"store    fakeredis's TCP server in this process on 127\.0\.0\.1:\d+")
        url = demo.wait_for(r"^\S+\s+REDIS_URL=(redis://127\.0\.0\.1:\d+/0)").group(1)
        check_every_kind(demo, url)
        assert demo.children() == []
        stop_cleanly(demo, tmp, [])
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()


def test_demo_on_redis_url_keeps_to_its_own_prefix(real_backend, tmp_path: Path) -> None:
    """With REDIS_URL, the demo writes under a prefix of its own, leaves the other keys alone
    and deletes its own at exit (SIGTERM here)."""
    client = redis.Redis.from_url(real_backend.url)
    client.set("app:precious", "keep me")
    before = {k for k in client.scan_iter("*") if not k.startswith(b"swdemo-")}
    demo = Demo(demo_env(tmp_path, REDIS_URL=real_backend.url))
    try:
        prefix = demo.wait_for(r"REDIS_URL under the key prefix (swdemo-[0-9a-f]{6})").group(1)
        printed = demo.wait_for(r"in another terminal: (.*) console$").group(1)
        assert f"SESSIONWARDEN_SESSIONS__KEY_PREFIX={prefix} " in printed
        proved = check_every_kind(demo, real_backend.url, prefix)
        # the printed command works as printed (here with `users` for the console, from
        # where the demo was started, in an environment of its own)
        words = shlex.split(printed)
        assignments = [w for w in words if re.fullmatch(r"[A-Z_]+=.*", w)]
        program = words[len(assignments):]
        env = {k: v for k, v in os.environ.items()
               if k != "REDIS_URL" and not k.startswith("SESSIONWARDEN_")}
        env.update(a.split("=", 1) for a in assignments)
        users = subprocess.run([*program, "users", "--prefix", proved["takeover"]],
                               env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                               check=False)
        assert users.returncode == 0 and proved["takeover"] in users.stdout, users
        assert client.exists(f"{prefix}:events")
        demo.proc.send_signal(signal.SIGTERM)
        assert demo.proc.wait(timeout=30) == 0, "\n".join(demo.lines)
        demo.wait_for(r"^stopped: .*the demo's keys deleted")
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
    assert list(client.scan_iter(f"{prefix}:*")) == []
    after = {k for k in client.scan_iter("*") if not k.startswith(b"swdemo-")}
    assert after == before and client.get("app:precious") == b"keep me"
    assert list(tmp_path.iterdir()) == []
    client.delete("app:precious")
    client.close()


def test_demo_cities_are_where_their_networks_are() -> None:
    """The seeded addresses' registry country is the city's (the library's offline lookup
    agrees with the country hint the demo passes, as behind a trusted CDN)."""
    import random

    import iptocc

    rng = random.Random(3)
    for city in HOMES:
        for _ in range(5):
            assert iptocc.country_code(city.ip(rng)) == city.country, city


def test_demo_without_its_extra_says_what_to_install() -> None:
    probe = ("import sys; sys.modules['aiosmtpd'] = None; "
             "from sessionwarden.cli import main; sys.exit(main(['demo', '--headless']))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2
    assert "aiosmtpd missing: pip install 'sessionwarden-console[demo]'" in done.stderr
    assert "store" not in done.stdout  # nothing was started


def test_demo_refuses_bad_arguments() -> None:
    done = subprocess.run([sys.executable, "-m", "sessionwarden", "demo", "--users", "0"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--users: expected 1 to 100000" in done.stderr


def test_demo_screenshot_shows_every_scripted_kind(tmp_path: Path) -> None:
    """`--screenshot` (how docs/images/console.svg is made): Textual's SVG of the console's
    alert feed on the live demo, taken once an alert of every scripted kind is in it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    svg = tmp_path / "console.svg"
    done = subprocess.run(
        [sys.executable, "-m", "sessionwarden", "demo", "--users", "20", "--every", "0.5",
         "--store", "fakeredis", "--screenshot", str(svg)], env=demo_env(tmp),
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = svg.read_text()
    assert text.lstrip().startswith("<svg")
    for kind in ("impossible_travel", "revoked_token_used", "shared_account",
                 "session_expired"):
        assert kind in text, kind
    assert list(tmp.iterdir()) == []


def test_demo_console_opens_on_the_seeded_tenant() -> None:
    """The console the demo opens (its own subclass: styles found, the demo named on screen,
    Ctrl+C quits), on a seeded tenant (fakeredis), shows the users and the alert feed."""
    import asyncio

    import fakeredis
    from sessionwarden_console.demo.run import Options, demo_console
    from sessionwarden_console.demo.store import Store
    from sessionwarden_console.demo.tenant import seed
    from textual.widgets import DataTable

    from sessionwarden.settings import RULE_SEVERITIES, DetectionSettings

    server = fakeredis.FakeServer()
    quiet = Settings(secret="demo-test-" + "x" * 32,
                     detection=DetectionSettings(disabled=frozenset(RULE_SEVERITIES)))
    users = seed(lambda clock: SessionManager(fakeredis.FakeRedis(server=server), quiet,
                                              clock=clock), 12)
    viewer = SessionManager(fakeredis.FakeRedis(server=server), Settings(), operator=True)
    app = demo_console(viewer, Store("redis://fake", "sw", "test", "fakeredis"),
                       Options(every=7))

    async def go() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.screen.query_one("#users", DataTable)
            for _ in range(100):
                await pilot.pause(0.05)
                if table.row_count:
                    break
            assert table.row_count == len(users)
            assert app.sub_title == "demo · fakeredis"
            await pilot.press("a")
            feed = app.screen.query_one("#feed", DataTable)
            for _ in range(100):
                await pilot.pause(0.05)
                if feed.row_count:
                    break
            assert feed.row_count > 0  # the seeded sign-ins
            await pilot.press("ctrl+c")  # stops the demo (Textual's default only asks)
            await pilot.pause(0.2)
            assert not app.is_running

    asyncio.run(go())
    viewer.close()
