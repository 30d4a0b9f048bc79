"""The daemon as a real process (``python -m sessionwarden_daemon --config ...``) against a
real redis-server, a real SMTP server on loopback (aiosmtpd), a small HTTP server that
verifies the signed webhook, and a stand-in ``notify-send`` on PATH that records what plyer
sends. Real-time settings are short (0.2 s) to keep the suite fast."""

from __future__ import annotations

import hashlib
import hmac
import itertools
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

    def message_ids(self) -> list[str]:
        return [message_from_bytes(m[2], policy=policy.default)["Message-ID"]
                for m in self.messages]


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
        self.inflight = 0  # requests received and not yet answered
        self.max_inflight = 0
        self.gate = threading.Event()  # cleared: requests wait (a hung receiver)
        self.gate.set()
        self.received: list[float] = []  # monotonic times requests arrived
        self.lock = threading.Lock()

    def keys(self) -> list[str]:
        return [c["headers"]["idempotency-key"] for c in self.calls]


@pytest.fixture
def webhook() -> Iterator[tuple[Hook, str]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with hook.lock:
                hook.inflight += 1
                hook.max_inflight = max(hook.max_inflight, hook.inflight)
                hook.received.append(time.monotonic())
            try:
                time.sleep(hook.delay)
                hook.gate.wait(60)
                if hook.status == 200:  # accepted, whether or not the sender is still there
                    hook.calls.append({"headers": {k.lower(): v
                                                   for k, v in self.headers.items()},
                                       "body": body})
            finally:
                with hook.lock:
                    hook.inflight -= 1
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
    hook.gate.set()
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
        # only whole lines: the daemon may be half-way through writing the last one
        text = path.read_text()
        whole = text[:text.rfind("\n") + 1]
        return [json.loads(line) for line in whole.splitlines() if line.strip()]

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


_BURSTS = itertools.count()


def alert_burst(mgr: Any, users: int, *, email: bool = True) -> None:
    """Two alerts per ``users``: two accounts (never used before in this process) each opening
    an incident with a new device in a new country (one incident, one alert: the incident's
    other findings are events, not alerts)."""
    for _ in range(users):
        for user in (f"user{next(_BURSTS)}", f"user{next(_BURSTS)}"):
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
    # the incident opened above escalates (a third country at once): its second alert
    mgr.create_session(hostile, user_agent=WINDOWS_EDGE, ip=IP_JP, email="eve@example.com")
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


def test_the_sweep_ends_the_sessions_signed_out_by_revoke_everyone(
        daemon: Daemon, real_backend: Backend) -> None:
    mgr = real_backend.manager(settings())
    raw = real_backend.raw()
    made = [mgr.create_session(f"ev{i}", user_agent=MAC_CHROME, ip=IP_US) for i in range(12)]
    time.sleep(0.002)
    mgr.revoke_everyone(actor="admin", reason="breach")
    daemon.start()
    keys = mgr.core.keys
    wait_for(lambda: all(raw.exists(keys.for_tag(c.session_id[:16]).session(
        c.session_id[16:])) == 0 for c in made), timeout=10, what="the purge")
    assert all(mgr.get_active_sessions(f"ev{i}") == [] for i in range(12))
    revoked = [e for e in mgr.recent_events(1000) if e.type == "session_revoked"]
    assert sorted(e.user_id for e in revoked) == sorted(f"ev{i}" for i in range(12))


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


def emailable(mgr: Any) -> list[Any]:
    """The delivered sign-in alerts (an incident's opening or escalation) the email sink
    sends to the account owner."""
    return [e for e in mgr.recent_events(1000) if e.details.get("notify")
            and e.type in ("new_device", "new_country", "impossible_travel")]


def test_kill_9_during_delivery_then_restart_delivers_every_alert_once_per_sink(
        daemon: Daemon, real_backend: Backend, smtp: tuple[Mailbox, int],
        webhook: tuple[Hook, str]) -> None:
    """SIGKILL while a webhook request is in flight (the receiver has it, the daemon has not
    recorded it), restart: every alert reaches each sink, exactly once counted by its dedupe
    key (Idempotency-Key, Message-ID); raw repeats are at most the sends in flight at the kill
    (sends are sequential: at most one per process)."""
    box, port = smtp
    hook, url = webhook
    hook.delay = 0.3
    daemon.sections["alerts"] = {
        "email": {"enabled": True, "smtp_url": f"smtp://127.0.0.1:{port}"},
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET, "timeout": "1s"},
    }
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    alert_burst(mgr, 8)
    ids = alert_ids(mgr)
    events = {(f.get(b"eid") or i).decode() for i, f in mgr.client.xrange(mgr.core.keys.alerts)}
    first = daemon.start("first")
    wait_for(lambda: len(hook.calls) >= 3 and hook.inflight == 1, what="a send in flight")
    first.kill()  # SIGKILL with the receiver holding an unanswered request
    first.wait(10)
    in_flight_at_kill = 1  # the webhook request the receiver holds (email sends: none then)
    wait_for(lambda: hook.inflight == 0, what="the receiver to finish it")
    assert len(hook.calls) < len(ids)
    daemon.start("second")
    wait_for(lambda: mgr.alert_status().pending == 0 and len(set(hook.keys())) == len(ids),
             timeout=40, what="every alert delivered")
    keys = hook.keys()
    payload_ids = [json.loads(c["body"])["alert_id"] for c in hook.calls]
    assert sorted(set(payload_ids)) == sorted(ids)
    assert len(set(keys)) == len(ids)  # exactly once per alert, counted by Idempotency-Key
    assert set(keys) == events  # the key is the event id
    emails = box.message_ids()
    expected_mails = len(emailable(mgr))
    assert len(set(emails)) == expected_mails  # exactly once per alert, by Message-ID
    raw_repeats = (len(keys) - len(set(keys))) + (len(emails) - len(set(emails)))
    assert raw_repeats <= in_flight_at_kill, (keys, emails)
    assert hook.max_inflight == 1  # never two sends of this daemon at once


def test_two_daemons_never_send_one_alert_twice(daemon: Daemon, real_backend: Backend,
                                                webhook: tuple[Hook, str]) -> None:
    """HA: two daemons share the group; a slow receiver keeps entries pending longer than
    claim_idle, so each daemon keeps taking the other's entries over (XAUTOCLAIM). The
    in-flight claim (and the re-check under it) keeps every alert to one webhook call."""
    hook, url = webhook
    hook.delay = 0.4
    daemon.sections["daemon"] = {"claim_idle": "300ms"}
    daemon.sections["alerts"] = {
        "log": False,
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET, "timeout": "2s"}}
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    alert_burst(mgr, 5, email=False)
    ids = alert_ids(mgr)
    daemon.start("a")
    daemon.start("b")
    wait_for(lambda: mgr.alert_status().pending == 0 and len(set(hook.keys())) == len(ids),
             timeout=40, what="every alert delivered")
    time.sleep(1.0)  # anything still on its way
    keys = hook.keys()
    assert len(keys) == len(set(keys)) == len(ids), keys
    assert sorted(json.loads(c["body"])["alert_id"] for c in hook.calls) == sorted(ids)


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


def test_redis_down_then_back_resumes_by_itself_and_loses_nothing(
        daemon: Daemon, tmp_path: Path, webhook: tuple[Hook, str]) -> None:
    """A persistent redis-server (AOF, fsync always) stops while alerts are pending (one
    send in flight), stays down for a few seconds, comes back with its data: the daemon logs
    the outage once, keeps the watchdog fed (a handled outage is progress), resumes by
    itself, and every alert — from before, during-in-flight and after — reaches the webhook."""
    import shutil

    import redis as redis_py

    from sessionwarden import SessionManager
    hook, hook_url = webhook
    hook.delay = 0.5
    daemon.sections["alerts"] = {
        "webhook": {"enabled": True, "url": hook_url, "secret": WEBHOOK_SECRET,
                    "timeout": "2s"}}
    port = free_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    cmd = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
           "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    notify_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    pings = Pings(sock)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: _pings(url), what="redis")
        daemon.url = url
        daemon.start(env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "6000000"})
        mgr = SessionManager(redis_py.Redis.from_url(url, socket_timeout=2), settings())
        wait_for(lambda: mgr.client.exists(mgr.core.keys.alerts), what="the group")
        alert_burst(mgr, 3, email=False)
        before = alert_ids(mgr)
        wait_for(lambda: hook.inflight == 1, what="a send in flight")
        server.terminate()  # SIGTERM: redis writes its AOF and exits
        server.wait(10)
        down = time.monotonic()
        wait_for(lambda: "Redis unavailable" in daemon.stderr(), what="the outage logged")
        time.sleep(max(0.0, 7.0 - (time.monotonic() - down)))
        assert pings.watchdogs_between(down + 0.5, time.monotonic()), pings.seen
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        wait_for(lambda: _pings(url), what="redis again")
        assert alert_ids(mgr) == before  # the restarted server kept the alerts and the group
        mgr.create_session("r", user_agent=MAC_CHROME, ip=IP_US)
        mgr.create_session("r", user_agent=WINDOWS_EDGE, ip=IP_JP)
        ids = alert_ids(mgr)
        assert len(ids) > len(before)
        wait_for(lambda: mgr.alert_status().pending == 0
                 and set(json.loads(c["body"])["alert_id"] for c in hook.calls) == set(ids),
                 timeout=40, what="every alert delivered after the outage")
        assert "Redis reachable again" in daemon.stderr()
        assert set(line["alert_id"] for line in daemon.log_lines()) == set(ids)
    finally:
        pings.close()
        server.kill()
        server.wait(10)


class Pings:
    """Datagrams on a NOTIFY_SOCKET the test bound, with their arrival times."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seen: list[tuple[float, str]] = []
        sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            self.seen.append((time.monotonic(), data))

    def watchdogs_between(self, start: float, end: float) -> list[float]:
        return [t for t, d in list(self.seen) if "WATCHDOG=1" in d and start <= t <= end]

    def has(self, text: str) -> bool:
        return any(text in d for _, d in list(self.seen))

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def test_watchdog_pings_while_the_loops_progress_and_stop_when_delivery_hangs(
        daemon: Daemon, real_backend: Backend, webhook: tuple[Hook, str]) -> None:
    """A real NOTIFY_SOCKET with WATCHDOG_USEC=1 s: READY=1, then WATCHDOG=1 about every
    0.5 s; a receiver that never answers (webhook timeout 30 s) hangs the delivery loop in one
    send, and the pings stop once it has hung for WatchdogSec; they resume when it answers.
    SIGTERM during a hung send: STOPPING=1 and exit 0 after the grace period, the alert left
    pending."""
    hook, url = webhook
    daemon.sections["alerts"] = {
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET, "timeout": "30s"}}
    path = str(daemon.tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    pings = Pings(sock)
    mgr = real_backend.manager()
    try:
        proc = daemon.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        wait_for(lambda: pings.has("READY=1"), what="READY=1")
        ready = time.monotonic()
        time.sleep(2.2)
        assert len(pings.watchdogs_between(ready, time.monotonic())) >= 3, pings.seen
        hook.gate.clear()  # the receiver hangs
        alert_burst(mgr, 1, email=False)
        wait_for(lambda: hook.received, what="the request")
        hung = hook.received[0]
        time.sleep(3.5)
        assert pings.watchdogs_between(hung + 1.6, time.monotonic()) == [], pings.seen
        hook.gate.set()  # it answers: delivery goes on, pings resume
        resumed = time.monotonic()
        wait_for(lambda: pings.watchdogs_between(resumed, time.monotonic()), timeout=5,
                 what="pings again")
        wait_for(lambda: mgr.alert_status().pending == 0, what="delivered")
        hook.gate.clear()
        alert_burst(mgr, 1, email=False)
        wait_for(lambda: len(hook.received) > len(hook.calls) and hook.inflight,
                 what="a hung send")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(5)
            raise AssertionError(daemon.stderr()[-6000:]) from None
        assert proc.returncode == 0
        assert time.monotonic() - started < 9  # the 5 s grace, not the 30 s timeout
        wait_for(lambda: pings.has("STOPPING=1"), timeout=2, what="STOPPING=1")
        assert mgr.alert_status().pending >= 1  # the hung one stays for the next start
        assert "still running after SIGTERM" in daemon.stderr()
    finally:
        hook.gate.set()
        pings.close()


def test_metrics_over_http_move_as_alerts_flow_and_sessions_expire(
        daemon: Daemon, real_backend: Backend, webhook: tuple[Hook, str]) -> None:
    """metrics_listen on a free loopback port, scraped over real HTTP: delivered per sink
    (log, webhook), failed per sink (email to a closed port), lag (reads one alert at a time
    from a slow receiver, so the group falls behind and catches up), sweep duration and
    sessions expired."""
    import urllib.request

    hook, url = webhook
    hook.delay = 0.15
    port = free_port()
    daemon.sections["daemon"] = {"metrics_listen": f"127.0.0.1:{port}", "read_batch": 1,
                                 "max_attempts": 2}
    daemon.sections["alerts"] = {
        "email": {"enabled": True, "smtp_url": f"smtp://127.0.0.1:{free_port()}",
                  "timeout": "1s"},
        "webhook": {"enabled": True, "url": url, "secret": WEBHOOK_SECRET}}

    def scrape() -> dict[str, float]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    mgr = real_backend.manager(settings(idle_timeout=timedelta(seconds=1),
                                        touch_interval=timedelta(milliseconds=500)))
    mgr.ensure_alert_group()
    daemon.start()
    wait_for(scrape, what="the metrics endpoint")
    before = scrape()
    assert before.get('sessionwarden_alerts_delivered_total{sink="webhook"}', 0) == 0
    alert_burst(mgr, 6)
    ids = alert_ids(mgr)
    lags = []

    def settled() -> bool:
        m = scrape()
        lags.append(m.get("sessionwarden_alert_lag", -1))
        return (m.get('sessionwarden_alerts_delivered_total{sink="webhook"}') == len(ids)
                and m.get("sessionwarden_sessions_expired_total", 0) >= 1
                and m.get("sessionwarden_alert_lag") == 0
                and not real_backend.raw().zcard(mgr.core.keys.expiry_index))

    wait_for(settled, timeout=40, what="the metrics to settle")
    m = scrape()
    assert m['sessionwarden_alerts_delivered_total{sink="log"}'] == len(ids)
    emailable_count = len(emailable(mgr))
    assert m['sessionwarden_alert_failures_total{sink="email"}'] >= emailable_count
    assert max(lags) > 0  # the group fell behind while the slow receiver held it up
    expired = [e for e in mgr.recent_events(1000) if e.type == "session_expired"]
    # every session expired, each reported once; the sweep counts those it found, and the
    # email sink's listing of the user's sessions (for the message) may prune some first
    # (alert_burst: two accounts of two sign-ins each per unit)
    assert len(expired) == len({e.session_id for e in expired}) == 4 * 6
    assert 1 <= m["sessionwarden_sessions_expired_total"] <= len(expired)
    assert m["sessionwarden_sweep_seconds_count"] >= 1
    assert m["sessionwarden_sweep_seconds_sum"] > 0


def _pings(url: str) -> bool:
    import redis as redis_py
    try:
        return bool(redis_py.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis_py.RedisError:
        return False
