"""The daemon as a real process (``python -m sessionwarden_daemon --config ...``) against a
real redis-server, a real SMTP server on loopback (aiosmtpd), a small HTTP server that
verifies the signed webhook, and a stand-in ``notify-send`` on PATH that records what plyer
sends. Real-time settings are short (0.2 s) to keep the suite fast."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    TEST_SECRET,
    WINDOWS_EDGE,
    Backend,
    free_port,
    settings,
)

pytest.importorskip("sessionwarden_daemon")
from aiosmtpd.controller import Controller

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Hook:
    """Received webhook calls; answers with ``status`` (and Retry-After) when set."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200
        self.retry_after: str | None = None
        self.delay = 0.0


@pytest.fixture
def webhook() -> Iterator[tuple[Hook, str]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(hook.delay)
            if hook.status == 200:
                hook.calls.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                   "body": body})
            self.send_response(hook.status)
            if hook.retry_after:
                self.send_header("Retry-After", hook.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def verify(call: dict[str, Any]) -> dict[str, Any]:
    """What a receiver does: recompute the signature over timestamp and body, check freshness."""
    ts = call["headers"]["x-sessionwarden-timestamp"]
    expected = "v1=" + hmac.new(WEBHOOK_SECRET.encode(), ts.encode() + b"." + call["body"],
                                hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, call["headers"]["x-sessionwarden-signature"])
    assert abs(time.time() - int(ts)) < 300
    return json.loads(call["body"])


class Daemon:
    def __init__(self, tmp: Path, url: str, **sections: dict[str, Any]) -> None:
        self.tmp, self.url = tmp, url
        self.sections = sections
        self.procs: list[subprocess.Popen[bytes]] = []
        bin_dir = tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        self.notes = tmp / "notify-send.log"
        stand_in = bin_dir / "notify-send"
        stand_in.write_text(f"#!/bin/sh\nprintf '%s\\037' \"$@\" >> {self.notes}\n"
                            f"printf '\\n' >> {self.notes}\n")
        stand_in.chmod(0o755)
        self.env = {**os.environ, "SESSIONWARDEN_SECRET": TEST_SECRET,
                    "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
        self.env.pop("NOTIFY_SOCKET", None)

    def config(self) -> Path:
        daemon = {"sweep_interval": "0.2s", "heartbeat_interval": "0.2s",
                  "retention_interval": "0.5s", "claim_idle": "1s", "retry_base": "0.1s",
                  **self.sections.get("daemon", {})}
        alerts = {"sinks": ["log", "desktop", "email", "webhook"],
                  **self.sections.get("alerts", {})}
        lines = [f'[redis]\nurl = "{self.url}"\n', "[daemon]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in daemon.items()]
        lines.append("\n[alerts]")
        nested = {k: alerts.pop(k) for k in ("desktop", "email", "webhook") if k in alerts}
        lines += [f"{k} = {json.dumps(v)}" for k, v in alerts.items()]
        for name, table in nested.items():
            lines.append(f"\n[alerts.{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        path = self.tmp / "daemon.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, name: str = "d", env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{name}.out", "ab")  # noqa: SIM115
        err = open(self.tmp / f"{name}.err", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "sessionwarden_daemon", "--config",
                                 str(self.config())], stdout=out, stderr=err,
                                env={**self.env, **(env or {})})
        self.procs.append(proc)
        return proc

    def log_lines(self, name: str = "d") -> list[dict[str, Any]]:
        path = self.tmp / f"{name}.out"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stderr(self, name: str = "d") -> str:
        path = self.tmp / f"{name}.err"
        return path.read_text() if path.exists() else ""

    def notifications(self) -> list[list[str]]:
        if not self.notes.exists():
            return []
        return [line.split("\x1f")[:-1] for line in self.notes.read_text().splitlines()]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def daemon(tmp_path: Path, real_backend: Backend) -> Iterator[Daemon]:
    made = Daemon(tmp_path, real_backend.url or "")
    yield made
    made.close()


def alert_burst(mgr: Any, users: int, *, email: bool = True) -> None:
    for i in range(users):
        user = f"user{i}"
        kw = {"email": f"{user}@example.com"} if email else {}
        mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US, **kw)
        mgr.create_session(user, user_agent=IPHONE_SAFARI, ip=IP_NL, **kw)


def alert_ids(mgr: Any) -> list[str]:
    raw = mgr.client
    return [i.decode() for i, _ in raw.xrange(mgr.core.keys.alerts)]


def test_every_sink_gets_each_alert_escaped_signed_and_with_a_working_link(
        daemon: Daemon, real_backend: Backend, smtp: tuple[Mailbox, int],
        webhook: tuple[Hook, str]) -> None:
    box, port = smtp
    hook, url = webhook
    daemon.sections["alerts"] = {
        "desktop": {"enabled": True, "coalesce_window": "1s"},
        "email": {"enabled": True, "smtp_url": f"smtp://127.0.0.1:{port}",
                  "from": "Security <security@example.com>",
                  "action_url": "https://app.example.com/not-me?t={token}"},
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET, "timeout": "2s"},
    }
    mgr = real_backend.manager()
    proc = daemon.start()
    wait_for(lambda: mgr.client.exists(mgr.core.keys.alerts), what="the alert group")
    hostile = "<!channel> *bold* @here <@U123> eve"
    mgr.create_session(hostile, user_agent=MAC_CHROME, ip=IP_US, email="eve@example.com",
                       city="Lyon\u202e")
    mgr.create_session(hostile, user_agent=IPHONE_SAFARI, ip=IP_NL, email="eve@example.com")
    ids = alert_ids(mgr)
    assert len(ids) >= 2
    wait_for(lambda: len(hook.calls) >= len(ids) and len(box.messages) >= 2
             and len(daemon.log_lines()) >= len(ids), what="deliveries")
    # webhook: signed, the whole event, Slack text without markup
    payloads = [verify(c) for c in hook.calls]
    assert sorted(p["alert_id"] for p in payloads) == sorted(ids)
    for p in payloads:
        assert p["event"]["user_id"] == hostile
        text = p["text"]
        assert "<" not in text and ">" not in text.replace("&gt;", "")
        assert "<!channel>" not in text and "@here" not in text and "*bold*" not in text
        assert "&lt;!channel&gt;" in text
    # email: to the owner, fixed headers, the sentence, a link that revokes
    mails = [message_from_bytes(m[2], policy=policy.default) for m in box.messages]
    for (_from, rcpt, _raw), mail in zip(box.messages, mails, strict=True):
        assert rcpt == ["eve@example.com"]
        assert mail["Subject"] == "New sign-in to your account"
        assert mail.get_all("To") == ["eve@example.com"] and mail["Bcc"] is None
    bodies = [m.get_content() for m in mails]
    device_mail = next(b for b in bodies if "iPhone/Safari" in b)
    assert "New sign-in to your account: iPhone/Safari from Netherlands at " in device_mail
    assert " UTC. Not you? https://app.example.com/not-me?t=" in device_mail
    token = device_mail.split("not-me?t=")[1].split()[0]
    from urllib.parse import unquote
    assert mgr.revoke_from_alert(unquote(token)) == 1
    # log: one JSON line per alert
    assert sorted(line["alert_id"] for line in daemon.log_lines()) == sorted(ids)
    # desktop: the burst coalesced into one notification
    wait_for(daemon.notifications, what="a desktop notification")
    [(title, *_rest)] = daemon.notifications()
    assert title == f"SessionWarden: {len(ids)} new alerts"
    # heartbeat: delivered per sink
    beat = wait_for(lambda: [b for b in mgr.heartbeats()
                             if b.state["delivered"].get("webhook", 0) >= len(ids)],
                    what="heartbeat")[0]
    assert beat.state["consumer_lag"] == 0 and beat.state["version"]
    assert [e.kind for e in mgr.audit_trail()].count("session_revoked") == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_expired_sessions_leave_every_index_with_one_event_each(
        daemon: Daemon, real_backend: Backend) -> None:
    mgr = real_backend.manager(settings(idle_timeout=timedelta(seconds=1),
                                        touch_interval=timedelta(milliseconds=500)))
    raw = real_backend.raw()
    for i in range(5):
        mgr.create_session(f"exp{i}", user_agent=MAC_CHROME, ip=IP_US)
    daemon.start()
    wait_for(lambda: raw.zcard(mgr.core.keys.expiry_index) == 0, timeout=10,
             what="the expiry index to empty")
    expired = [e for e in mgr.recent_events(1000) if e.type == "session_expired"]
    assert sorted(e.user_id for e in expired) == [f"exp{i}" for i in range(5)]
    for i in range(5):
        record = raw.hgetall(mgr.core.keys.for_user(f"exp{i}").record)
        assert not [k for k in record if k.startswith(b"s:")]
        assert mgr.get_active_sessions(f"exp{i}") == []
    beat = wait_for(lambda: [b for b in mgr.heartbeats() if b.state["sessions_expired"] == 5],
                    what="the heartbeat")[0]
    assert beat.state["last_sweep"]


def test_two_daemons_sweep_without_double_events(daemon: Daemon,
                                                 real_backend: Backend) -> None:
    mgr = real_backend.manager(settings(idle_timeout=timedelta(seconds=1),
                                        touch_interval=timedelta(milliseconds=500)))
    daemon.start("a")
    daemon.start("b")
    for i in range(30):
        mgr.create_session(f"ha{i}", user_agent=MAC_CHROME, ip=IP_US)
    raw = real_backend.raw()
    wait_for(lambda: raw.zcard(mgr.core.keys.expiry_index) == 0, timeout=10,
             what="the sweep")
    expired = [e.session_id for e in mgr.recent_events(1000) if e.type == "session_expired"]
    assert len(expired) == 30 == len(set(expired))
    beats = wait_for(lambda: (b := mgr.heartbeats()) and len(b) == 2
                     and sum(x.state["sessions_expired"] for x in b) == 30 and b, what="beats")
    assert sorted(b.state["sweeping"] for b in beats) == [False, True]  # the lease holder
    assert sorted(b.state["sessions_expired"] for b in beats) == [0, 30]


def test_kill_9_during_delivery_then_restart_delivers_every_alert(
        daemon: Daemon, real_backend: Backend, smtp: tuple[Mailbox, int],
        webhook: tuple[Hook, str]) -> None:
    box, port = smtp
    hook, url = webhook
    hook.delay = 0.05
    daemon.sections["alerts"] = {
        "email": {"enabled": True, "smtp_url": f"smtp://127.0.0.1:{port}"},
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET},
    }
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    alert_burst(mgr, 15)
    ids = alert_ids(mgr)
    first = daemon.start("first")
    wait_for(lambda: len(hook.calls) >= 5, what="some deliveries")
    first.kill()  # SIGKILL mid-batch
    first.wait(10)
    delivered_before = len(hook.calls)
    assert delivered_before < len(ids)
    daemon.start("second")
    wait_for(lambda: mgr.alert_status().pending == 0 and {
        json.loads(c["body"])["alert_id"] for c in hook.calls} == set(ids), timeout=30,
        what="every alert delivered")
    got = [json.loads(c["body"])["alert_id"] for c in hook.calls]
    repeats = len(got) - len(set(got))
    # Exactly once, except at most the one delivery in flight at the instant of the kill (the
    # receiver accepted it, the record had not been written); receivers dedupe by
    # Idempotency-Key.
    assert repeats <= 1, got
    keys = [c["headers"]["idempotency-key"] for c in hook.calls]
    assert len(set(keys)) == len(set(got))
    emailed = [m[1][0] for m in box.messages]
    per_user = {u: emailed.count(u) for u in set(emailed)}
    new_device_alerts = sum(1 for e in mgr.recent_events(1000)
                            if e.type in ("new_device", "new_country", "impossible_travel"))
    assert len(emailed) - new_device_alerts <= 1, per_user
    assert len(emailed) >= new_device_alerts


def test_a_flood_with_the_consumer_stopped_loses_no_alert(
        daemon: Daemon, real_backend: Backend) -> None:
    app = real_backend.manager(settings(event_stream_maxlen=100))
    app.ensure_alert_group()  # a daemon ran once, then stopped
    alert_burst(app, 150, email=False)
    assert len(app.recent_events(10_000)) < 300  # the event stream was trimmed by its cap
    ids = alert_ids(app)
    assert len(ids) >= 300
    daemon.start()
    wait_for(lambda: len(daemon.log_lines()) >= len(ids), timeout=30, what="the backlog")
    assert sorted(line["alert_id"] for line in daemon.log_lines()) == sorted(ids)


def test_smtp_down_becomes_a_dead_letter_and_the_rest_goes_on(
        daemon: Daemon, real_backend: Backend, tmp_path: Path) -> None:
    daemon.sections["daemon"] = {"max_attempts": 2}
    daemon.sections["alerts"] = {
        "email": {"enabled": True, "smtp_url": f"smtp://127.0.0.1:{free_port()}",
                  "timeout": "1s"}}
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    alert_burst(mgr, 1)
    ids = alert_ids(mgr)
    daemon.start()
    wait_for(lambda: len(daemon.log_lines()) >= len(ids), what="log deliveries")
    emailable = [f for _, f in mgr.client.xrange(mgr.core.keys.alerts)
                 if f[b"type"] in (b"new_device", b"new_country", b"impossible_travel")]
    assert emailable
    letters = wait_for(lambda: (d := mgr.dead_letters()) and len(d) == len(emailable) and d,
                       what="the dead letters")
    assert all(d.sink == "email" and d.attempts == 2 and "SMTP" in d.error for d in letters)
    wait_for(lambda: mgr.alert_status().pending == 0, what="acknowledged")
    assert any(e.kind == "dead_letter" for e in mgr.audit_trail())
    from io import StringIO

    from sessionwarden_daemon.cli import alerts_main
    out = StringIO()
    assert alerts_main(["dead-letters", "--json", "--config", str(daemon.config())],
                       stdout=out) == 0
    assert {d["id"] for d in json.loads(out.getvalue())} == {d.id for d in letters}
    out = StringIO()
    assert alerts_main(["dead-letters", "--all", "--config", str(daemon.config())],
                       stdout=out) == 0
    assert out.getvalue().startswith(f"re-queued {len(letters)}")


def test_webhook_retries_honour_retry_after_then_deliver(
        daemon: Daemon, real_backend: Backend, webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    hook.status, hook.retry_after = 503, "1"
    daemon.sections["alerts"] = {
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET}}
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    alert_burst(mgr, 1, email=False)
    daemon.start()
    wait_for(lambda: "webhook failed" in daemon.stderr(), what="a failed attempt")
    started = time.monotonic()
    hook.status, hook.retry_after = 200, None
    wait_for(lambda: hook.calls, what="the retry")
    assert time.monotonic() - started < 5
    assert mgr.dead_letters() == []


def test_sigterm_exits_cleanly_and_notifies_systemd(daemon: Daemon,
                                                    real_backend: Backend) -> None:
    path = str(daemon.tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    proc = daemon.start(env={"NOTIFY_SOCKET": path})
    ready = sock.recv(4096).decode()
    assert ready.startswith("READY=1")
    mgr = real_backend.manager()
    wait_for(mgr.heartbeats, what="a heartbeat")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert time.monotonic() - started < 5
    assert "STOPPING=1" in sock.recv(4096).decode()
    assert mgr.heartbeats() == []  # a clean stop removes its heartbeat
    sock.close()


def test_redis_down_then_back_resumes_by_itself(daemon: Daemon, tmp_path: Path) -> None:
    import shutil

    import redis as redis_py

    from sessionwarden import SessionManager
    port = free_port()
    cmd = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
           "--appendonly", "no", "--dir", str(tmp_path)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: _pings(url), what="redis")
        daemon.url = url
        daemon.start()
        mgr = SessionManager(redis_py.Redis.from_url(url), settings())
        wait_for(lambda: mgr.client.exists(mgr.core.keys.alerts), what="the group")
        server.terminate()
        server.wait(10)
        wait_for(lambda: "Redis unavailable" in daemon.stderr(), what="the outage logged")
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        wait_for(lambda: _pings(url), what="redis again")
        mgr.ensure_alert_group()  # the restarted server kept nothing (no persistence here)
        mgr.create_session("r", user_agent=MAC_CHROME, ip=IP_US)
        mgr.create_session("r", user_agent=WINDOWS_EDGE, ip=IP_JP)
        wait_for(lambda: len(daemon.log_lines()) >= 2, timeout=20, what="delivery resumed")
        assert "Redis reachable again" in daemon.stderr()
    finally:
        server.kill()
        server.wait(10)


def _pings(url: str) -> bool:
    import redis as redis_py
    try:
        return bool(redis_py.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis_py.RedisError:
        return False
