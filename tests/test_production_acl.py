"""The README's "Production" ACL lines, run as printed on a private redis-server: each role
does all of its work with its own user (the app's whole session life, the daemon's jobs and
deliveries, the read-only console's every view), Redis logs no ACL denial doing so, and what a
role must not do is refused (a read-only console cannot revoke; no role reaches keys outside
the prefix or runs FLUSHALL / CONFIG / KEYS)."""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from conftest import IP_JP, IP_NL, IP_US, IPHONE_SAFARI, MAC_CHROME, REQUIRE_REAL, WINDOWS_EDGE

from sessionwarden import SessionManager, Settings
from sessionwarden.errors import AccountLocked, StoreRefused

ROOT = Path(__file__).resolve().parent.parent
SECRET = "acl-test-secret-" + "0123456789abcdef" * 2
PASSWORDS = {"APP_PASSWORD": "app-pw", "DAEMON_PASSWORD": "daemon-pw",
             "CONSOLE_PASSWORD": "console-pw"}


def readme_acl_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    production = text.split("## Production", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in production.splitlines()
             if line.strip().startswith("ACL SETUSER")]
    assert [line.split()[2] for line in lines] == ["sw-app", "sw-daemon", "sw-console"]
    return lines


@pytest.fixture
def acl_redis() -> Iterator[tuple[str, redis.Redis]]:
    """A private redis-server on a unix socket (the demo's) with the README's users;
    (socket path, an admin client)."""
    from sessionwarden_console.demo.store import redis_server

    binary = shutil.which("redis-server")
    if binary is None:
        if REQUIRE_REAL:
            pytest.fail("redis-server is not installed; SESSIONWARDEN_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed")
    with redis_server(binary) as store:
        admin = redis.Redis.from_url(store.url)
        for line in readme_acl_lines():
            for placeholder, password in PASSWORDS.items():
                line = line.replace(placeholder, password)
            admin.execute_command(*line.split())
        admin.execute_command("ACL", "LOG", "RESET")
        yield store.url.removeprefix("unix://"), admin
        print("ACL LOG at teardown:", denials(admin))  # shown when a test failed
        admin.close()


def url(sock: str, role: str) -> str:
    password = PASSWORDS[f"{role.removeprefix('sw-').upper()}_PASSWORD"]
    return f"unix://{role}:{password}@{sock}"


def denials(admin: redis.Redis) -> list[dict]:
    return [{k.decode(): v for k, v in e.items()} for e in admin.execute_command("ACL", "LOG")]


def short(**kw) -> Settings:
    return Settings(secret=SECRET, idle_timeout=timedelta(seconds=1),
                    touch_interval=timedelta(milliseconds=200), **kw)


def app_life(sock: str) -> tuple[str, str]:
    """Everything a web app does, as sw-app; returns (user, a live session id)."""
    app = SessionManager.from_url(url(sock, "sw-app"), Settings(secret=SECRET))
    laptop = app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, email="a@example.com")
    phone = app.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_JP,
                               email="a@example.com")
    assert app.validate_session(laptop.token, ip=IP_US, user_agent=MAC_CHROME) is not None
    assert len(app.get_active_sessions("alice", current_token=laptop.token)) == 2
    assert app.revoke_session("alice", phone.session_id, actor="user:alice")
    assert app.validate_session(phone.token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    thief = app.create_session("alice", user_agent=WINDOWS_EDGE, ip=IP_NL)
    alert = next(e for e in app.recent_events(50) if e.session_id == thief.session_id
                 and e.type in ("new_country", "new_device", "impossible_travel"))
    assert app.revoke_from_alert(app.create_alert_action(alert.id)) == 1
    assert app.revoke_all_sessions("alice", except_token=laptop.token) == 0
    with SessionManager.from_url(url(sock, "sw-app"), short()) as brief:
        brief.create_session("bob", user_agent=MAC_CHROME, ip=IP_US, email="b@example.com")
        time.sleep(1.2)  # bob's session goes idle: the next listing prunes it
        brief.create_session("carol", user_agent=MAC_CHROME, ip=IP_US)
    app.users(""), app.recent_users(), app.known_devices("alice"), app.audit_trail()
    # incident controls (the web app, the CLI, a console that may revoke)
    app.create_session("dave", user_agent=MAC_CHROME, ip=IP_US)
    assert app.lock_user("dave", actor="admin:zoe", reason="takeover") == 1
    with pytest.raises(AccountLocked):
        app.create_session("dave", user_agent=MAC_CHROME, ip=IP_US)
    assert app.lock_state("dave") is not None and app.locked_users()
    assert app.unlock_user("dave", actor="admin:zoe", reason="owner verified")
    probe = laptop.session_id + "." + "A" * 43  # a live id with a wrong secret: counted
    assert app.validate_session(probe, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    app.close()
    return "alice", laptop.session_id


def test_each_role_does_its_work_with_the_readme_acl(acl_redis, tmp_path) -> None:
    sock, admin = acl_redis
    with SessionManager.from_url(url(sock, "sw-daemon"), Settings(), operator=True) as first:
        first.ensure_alert_group()  # as a daemon that ran before: alerts wait for it
    user, live = app_life(sock)
    assert denials(admin) == [], "sw-app"

    # the daemon: its real jobs and deliveries (log and email sinks), as sw-daemon
    from sessionwarden_console.demo.mail import mail_server
    from sessionwarden_daemon.app import Daemon
    from sessionwarden_daemon.settings import load_config

    with mail_server(lambda line: None) as (smtp_url, box):
        config = load_config(os.devnull, env={}, overrides={
            "redis.url": url(sock, "sw-daemon"), "sessions.secret": SECRET,
            "daemon.sweep_interval": "200ms", "daemon.heartbeat_interval": "200ms",
            "alerts.email.enabled": "true", "alerts.email.smtp_url": smtp_url,
            "alerts.email.action_url": "https://app.example.com/not-me?t={token}"})
        daemon = Daemon(config)
        log = io.StringIO()
        daemon.sinks["log"].stream = log
        thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (
                    daemon.delivered.get("email") and daemon.expired and daemon.last_sweep):
                time.sleep(0.1)
        finally:
            daemon.stop.set()
            thread.join(timeout=20)
            assert daemon.jobs_finished()  # a delivery step still running writes its lines
        assert daemon.delivered["email"] >= 1 and box.messages
        assert daemon.delivered["log"] >= 1 and "\"alert_id\"" in log.getvalue()  # (grouped)
        assert daemon.expired >= 1 and daemon.failed == {"log": 0, "email": 0}
    with SessionManager.from_url(url(sock, "sw-daemon"), Settings(), operator=True) as cli:
        cli.dead_letters(), cli.requeue_dead_letters(None, actor="cli")  # `alerts dead-letters`
    assert denials(admin) == [], "sw-daemon"

    # the read-only console: every view, including a listing that prunes an ended session
    from sessionwarden_console.data import ConsoleData, Feed

    with SessionManager.from_url(url(sock, "sw-app"), short()) as brief:
        brief.create_session(user, user_agent=WINDOWS_EDGE, ip=IP_US)
    time.sleep(1.2)
    with SessionManager.from_url(url(sock, "sw-console"), Settings(), operator=True) as ro:
        data = ConsoleData(ro, operator="oncall")
        status = data.status()
        assert status.totals is not None
        assert data.users("", None, 50).rows and data.users("al", None, 50).rows
        detail = data.user(user)
        assert [v.session_id for v in detail.sessions] == [live]
        assert detail.devices and detail.alerts and detail.audit
        feed = Feed()
        assert data.feed(feed, 100) and data.feed(feed, 100) == []
        assert data.audit(None) and data.audit(user)
        assert denials(admin) == [], "sw-console"
        with pytest.raises(StoreRefused) as refused:  # read-only: revoking is refused
            data.revoke(user, live, "should not work")
        assert refused.value.code == "NOPERM" or "permission" in str(refused.value).lower()
        admin.execute_command("ACL", "LOG", "RESET")  # that refusal was the point
    with SessionManager.from_url(url(sock, "sw-app"), Settings(secret=SECRET)) as app:
        assert [v.session_id for v in app.get_active_sessions(user)] == [live]
        app.revoke_everyone(actor="admin:zoe", reason="breach drill")  # sign out everyone
    purger = Daemon(config)  # the daemon's sweep then ends the old sessions
    purger.sweep_job()
    assert purger.last_sweep is not None
    with SessionManager.from_url(url(sock, "sw-console"), Settings(), operator=True) as ro:
        assert ro.get_active_sessions(user) == []
    assert denials(admin) == [], "after sign out everyone"


def test_no_role_reaches_outside_its_prefix_or_runs_admin_commands(acl_redis) -> None:
    sock, admin = acl_redis
    admin.set("other:app:key", "private")
    for role in ("sw-app", "sw-daemon", "sw-console"):
        client = redis.Redis.from_url(url(sock, role))
        for attempt in (lambda c: c.get("other:app:key"), lambda c: c.flushall(),
                        lambda c: c.keys("*"), lambda c: c.config_get("dir"),
                        lambda c: c.set("sw2:x", "1"), lambda c: c.script_flush()):
            with pytest.raises(redis.exceptions.NoPermissionError):
                attempt(client)
        client.close()
    assert admin.get("other:app:key") == b"private"
    lines = readme_acl_lines()
    assert all(re.search(r"\bresetkeys\b.*\bresetchannels\b -@all ", line) for line in lines)
