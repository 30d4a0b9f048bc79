"""The ``sessionwarden`` CLI, in process on both backends (plus one real subprocess)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    LINUX_FIREFOX,
    MAC_CHROME,
    WINDOWS_EDGE,
    free_port,
    set_record_fields,
    settings,
)

import sessionwarden
import sessionwarden.config
from sessionwarden import cli
from sessionwarden.keys import KeySchema

ESC = "\x1b"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


class TTYInput(io.StringIO):
    """A stdin that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def login_name(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(cli.getpass, "getuser", lambda: "tester")
    return "tester"


@pytest.fixture
def mgr(backend):
    return backend.manager(settings())


def run(mgr_or_none, *argv: str, stdin: io.StringIO | None = None, **kw: Any) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), manager=mgr_or_none, stdout=out, stderr=err,
                    stdin=stdin if stdin is not None else io.StringIO(), **kw)
    return Result(code, out.getvalue(), err.getvalue())


def assert_error(result: Result, *fragments: str) -> None:
    """Exit 2, exactly one ``sessionwarden: error:`` line on stderr, nothing on stdout."""
    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("sessionwarden: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def sign_in(mgr, user: str, ua: str = MAC_CHROME, ip: str = IP_US, **kw: Any):
    return mgr.create_session(user, user_agent=ua, ip=ip, **kw)


# -- sessions --------------------------------------------------------------------------------


def test_sessions_table(mgr):
    mac = sign_in(mgr, "alice", city="San Francisco")
    phone = sign_in(mgr, "alice", IPHONE_SAFARI, IP_NL, policy="aal2", assurance="mfa")
    sign_in(mgr, "bob", WINDOWS_EDGE, IP_JP)

    result = run(mgr, "sessions", "alice")

    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0].split() == ["SESSION", "ID", "DEVICE", "BROWSER", "OS", "IP", "PLACE",
                                "LAST", "ACTIVE", "AUTHENTICATED", "EXPIRES"]
    assert lines[-1] == "2 live sessions"
    rows = lines[1:-1]
    assert len(rows) == 2
    by_id = {row.split()[0]: row for row in rows}
    assert set(by_id) == {mac.session_id, phone.session_id}
    for piece in ("Mac/Chrome", "Chrome 119", "macOS 10", IP_US, "San Francisco", "just now",
                  "password just now"):
        assert piece in by_id[mac.session_id]
    for piece in ("iPhone/Safari", "Safari 17", "iOS 17", IP_NL, "Netherlands",
                  "mfa just now"):
        assert piece in by_id[phone.session_id]
    expires = mac.session.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    assert by_id[mac.session_id].endswith(expires)
    # columns line up: every row starts its DEVICE cell where the header does
    column = lines[0].index("DEVICE")
    assert all(row[column - 2: column] == "  " and row[column] != " " for row in rows)


def test_sessions_single_and_empty(mgr):
    sign_in(mgr, "alice")
    assert run(mgr, "sessions", "alice").out.splitlines()[-1] == "1 live session"
    result = run(mgr, "sessions", "nobody")
    assert (result.code, result.out, result.err) == (0, "no live sessions for nobody\n", "")


def test_sessions_json(mgr):
    created = sign_in(mgr, "alice", city="San Francisco")

    result = run(mgr, "sessions", "alice", "--json")

    assert result.code == 0 and result.err == ""
    doc = result.json
    assert set(doc) == {"user_id", "count", "locked_at", "sessions"}
    assert doc["user_id"] == "alice" and doc["count"] == 1
    (view,) = doc["sessions"]
    assert set(view) == {
        "session_id", "user_id", "device", "browser", "os", "device_class", "ip", "country",
        "city", "network", "place", "created_at", "last_active_at", "expires_at", "current",
        "label", "fingerprint", "authenticated_at", "assurance", "policy",
    }
    assert view["session_id"] == created.session_id
    assert view["device"] == "Mac/Chrome"
    assert view["city"] == "San Francisco" and view["country"] == "US"
    assert view["expires_at"] == created.session.expires_at.isoformat()
    assert view["authenticated_at"] == created.session.authenticated_at.isoformat()
    assert (view["assurance"], view["policy"]) == ("password", None)
    assert result.out.isascii()

    empty = run(mgr, "sessions", "nobody", "--json").json
    assert empty == {"user_id": "nobody", "count": 0, "locked_at": None, "sessions": []}


# -- revoke ----------------------------------------------------------------------------------


def test_revoke_really_revokes(mgr):
    keep = sign_in(mgr, "alice")
    doomed = sign_in(mgr, "alice", IPHONE_SAFARI, IP_US)

    result = run(mgr, "revoke", "alice", doomed.session_id, "--reason", "lost phone")

    assert (result.code, result.out, result.err) == (0, f"revoked {doomed.session_id}\n", "")
    assert mgr.validate_session(doomed.token) is None
    assert mgr.validate_session(keep.token) is not None
    (event,) = [e for e in mgr.recent_events(20) if e.type == "session_revoked"]
    assert event.session_id == doomed.session_id
    assert event.details["actor"] == "cli:tester"
    assert event.details["reason"] == "lost phone"


def test_revoke_not_live_exits_1(mgr):
    created = sign_in(mgr, "alice")
    assert run(mgr, "revoke", "alice", created.session_id).code == 0

    again = run(mgr, "revoke", "alice", created.session_id)
    assert again.code == 1 and again.out == ""
    assert again.err == f"sessionwarden: no live session {created.session_id} for alice\n"

    # a well-formed id of somebody else's session is "not live" for this user, and stays live
    other = sign_in(mgr, "bob")
    foreign = run(mgr, "revoke", "alice", other.session_id)
    assert foreign.code == 1
    assert mgr.validate_session(other.token) is not None


def test_revoke_malformed_session_id_is_an_error(mgr):
    assert_error(run(mgr, "revoke", "alice", "not-a-session-id"), "session_id")


def test_actor_falls_back_to_cli_without_login_name(mgr, monkeypatch):
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(cli.getpass, "getuser", no_user)
    created = sign_in(mgr, "alice")
    assert run(mgr, "revoke", "alice", created.session_id).code == 0
    (event,) = [e for e in mgr.recent_events(10) if e.type == "session_revoked"]
    assert event.details["actor"] == "cli"


# -- revoke-all ------------------------------------------------------------------------------


def test_revoke_all_with_yes(mgr):
    tokens = [sign_in(mgr, "alice", ua).token for ua in (MAC_CHROME, IPHONE_SAFARI, LINUX_FIREFOX)]
    bob = sign_in(mgr, "bob")

    result = run(mgr, "revoke-all", "alice", "--yes", "--reason", "password reset")

    assert (result.code, result.out, result.err) == (0, "revoked 3 session(s)\n", "")
    assert all(mgr.validate_session(t) is None for t in tokens)
    assert mgr.validate_session(bob.token) is not None
    revoked = [e for e in mgr.recent_events(50) if e.type == "session_revoked"]
    assert len(revoked) == 3
    assert {e.details["actor"] for e in revoked} == {"cli:tester"}
    assert {e.details["reason"] for e in revoked} == {"password reset"}

    assert run(mgr, "revoke-all", "alice", "-y").out == "revoked 0 session(s)\n"


def test_revoke_all_refuses_without_yes_when_stdin_is_not_a_tty(mgr):
    created = sign_in(mgr, "alice")

    result = run(mgr, "revoke-all", "alice", stdin=io.StringIO("y\n"))

    assert_error(result, "--yes")
    assert mgr.validate_session(created.token) is not None


def test_revoke_all_asks_on_a_tty(mgr):
    first = sign_in(mgr, "alice")
    sign_in(mgr, "alice", IPHONE_SAFARI)

    declined = run(mgr, "revoke-all", "alice", stdin=TTYInput("n\n"))
    assert declined.code == 1 and declined.out == ""
    assert "revoke all 2 live session(s) of alice? [y/N]" in declined.err
    assert "aborted" in declined.err
    assert mgr.validate_session(first.token) is not None

    eof = run(mgr, "revoke-all", "alice", stdin=TTYInput(""))
    assert eof.code == 1
    assert mgr.validate_session(first.token) is not None

    accepted = run(mgr, "revoke-all", "alice", stdin=TTYInput("yes\n"))
    assert (accepted.code, accepted.out) == (0, "revoked 2 session(s)\n")
    assert mgr.validate_session(first.token) is None


# -- users -----------------------------------------------------------------------------------


def test_users_by_prefix(mgr):
    for user in ("bob", "alice", "alfred", "al", "carol"):
        sign_in(mgr, user)

    result = run(mgr, "users", "--prefix", "al")
    assert result.code == 0 and result.err == ""
    assert result.out.splitlines() == ["USER", "al", "alfred", "alice", "3 users"]

    everyone = run(mgr, "users").out.splitlines()
    assert everyone[1:-1] == ["al", "alfred", "alice", "bob", "carol"]

    limited = run(mgr, "users", "--limit", "2").out.splitlines()
    assert limited[1:-1] == ["al", "alfred"]
    assert "limit reached" in limited[-1]

    long_id = "al" + "x" * 254  # the longest valid id is listed whole, not cut like a cell
    sign_in(mgr, long_id)
    assert long_id in run(mgr, "users", "--prefix", "alx").out.splitlines()

    doc = run(mgr, "users", "--prefix", "ali", "--json").json
    assert doc == {"order": "lexical", "prefix": "ali",
                   "users": [{"user_id": "alice", "locked_at": None}]}

    none = run(mgr, "users", "--prefix", "zed")
    assert (none.code, none.out) == (0, "no users starting with zed\n")


def test_users_recent_order(backend, clock):
    mgr = backend.manager(settings(), clock=clock)
    for user in ("bob", "carol", "alice"):
        sign_in(mgr, user)
        clock.advance(10)

    result = run(mgr, "users", "--recent")

    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0].split() == ["USER", "LAST", "SIGN-IN"]
    assert [line.split()[0] for line in lines[1:-1]] == ["alice", "carol", "bob"]
    assert lines[-1] == "3 users"
    newest = mgr.recent_users(limit=1)[0].last_login_at.strftime("%Y-%m-%d %H:%M UTC")
    assert newest in lines[1]

    doc = run(mgr, "users", "--recent", "--json", "--limit", "2").json
    assert doc["order"] == "recent"
    assert [u["user_id"] for u in doc["users"]] == ["alice", "carol"]
    assert all(set(u) == {"user_id", "last_login_at", "locked_at"} for u in doc["users"])


def test_users_prefix_and_recent_do_not_combine(mgr):
    result = run(mgr, "users", "--prefix", "a", "--recent")
    assert result.code == 2 and result.out == ""
    assert "not allowed" in result.err


# -- events ----------------------------------------------------------------------------------


def test_events_log(mgr):
    created = sign_in(mgr, "alice")
    assert run(mgr, "revoke", "alice", created.session_id, "--reason", "stolen laptop").code == 0

    result = run(mgr, "events")

    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert len(lines) == 2
    login, revoked = lines
    assert login.split()[1:] == ["info", "login", "user=alice", f"session={created.session_id}"]
    assert revoked.split("  ")[0].endswith("Z")
    assert "session_revoked" in revoked and f"session={created.session_id}" in revoked
    assert revoked.endswith("actor=cli:tester  reason=stolen laptop")

    newest = run(mgr, "events", "--limit", "1").out.splitlines()
    assert newest == [revoked]


def test_events_json(mgr):
    created = sign_in(mgr, "alice")
    run(mgr, "revoke", "alice", created.session_id)

    doc = run(mgr, "events", "--json").json

    assert set(doc) == {"events"}
    assert [e["type"] for e in doc["events"]] == ["login", "session_revoked"]  # oldest first
    for event in doc["events"]:
        assert set(event) == {"id", "type", "user_id", "session_id", "severity", "at",
                              "details"}
        assert event["user_id"] == "alice" and event["session_id"] == created.session_id
    assert doc["events"][1]["details"]["actor"] == "cli:tester"
    assert doc["events"][0]["details"]["device"] == "Mac/Chrome"


def test_events_empty(mgr):
    assert run(mgr, "events").out == "no events\n"
    assert run(mgr, "events", "--json").json == {"events": []}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "jsonl"])
def test_events_follow(backend, as_json):
    mgr = backend.manager(settings())
    before = sign_in(mgr, "alice")
    out, err, stop = io.StringIO(), io.StringIO(), threading.Event()
    codes: list[int] = []
    argv = ["events", "--follow", "--limit", "5"] + (["--json"] if as_json else [])
    thread = threading.Thread(target=lambda: codes.append(cli.main(
        argv, manager=backend.manager(settings()), stdout=out, stderr=err, stop=stop)))
    thread.start()
    try:
        wait_for(lambda: before.session_id in out.getvalue())
        later = sign_in(mgr, "bob", IPHONE_SAFARI, IP_NL)
        wait_for(lambda: later.session_id in out.getvalue())
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert codes == [0] and err.getvalue() == ""
    lines = out.getvalue().splitlines()
    if as_json:
        events = [json.loads(line) for line in lines]  # JSON Lines: every line is one event
        assert [(e["type"], e["user_id"]) for e in events] == [("login", "alice"),
                                                              ("login", "bob")]
        assert events[1]["session_id"] == later.session_id
    else:
        assert len(lines) == 2
        assert "login" in lines[1] and "user=bob" in lines[1]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class InterruptingManager:
    """Delegates to a real manager; ``events_after`` raises KeyboardInterrupt (Ctrl-C)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.redis_settings = inner.redis_settings

    def recent_events(self, limit: int):
        return self.inner.recent_events(limit)

    def events_after(self, *args: Any, **kw: Any):
        raise KeyboardInterrupt


def test_follow_ends_with_0_on_ctrl_c(mgr):
    sign_in(mgr, "alice")
    result = run(InterruptingManager(mgr), "events", "--follow")
    assert result.code == 0 and result.err == ""
    assert "user=alice" in result.out


# -- hostile and corrupt Redis content -------------------------------------------------------


def test_hostile_user_ids_are_escaped(mgr, backend):
    raw = backend.raw()
    hostile = "evil\x1b]0;pwn\x07user\u202e\x9b31m"
    raw.zadd("sw:users", {hostile: 0})
    raw.zadd("sw:users:recent", {hostile: int(time.time() * 1000)})

    for argv in (["users"], ["users", "--recent"], ["users", "--prefix", "evil"]):
        result = run(mgr, *argv)
        assert result.code == 0, result
        assert ESC not in result.out and "\x07" not in result.out
        assert "\u202e" not in result.out and "\x9b" not in result.out
        assert "evil\\x1b]0;pwn\\x07user\\u202e\\x9b31m" in result.out

    doc = run(mgr, "users", "--json")
    assert doc.out.isascii()
    assert doc.json["users"] == [{"user_id": hostile, "locked_at": None}]


def test_hostile_event_is_escaped(mgr, backend):
    raw = backend.raw()
    details = {"reason": "\x1b[2J wiped", "actor": "\u202eevil"}
    raw.xadd("sw:events", {
        "type": "login\x1b[5m", "user": "mallory\x1b[31m", "sid": "", "sev": "info",
        "at": str(int(time.time() * 1000)),
        "d": json.dumps(details, ensure_ascii=False),
    })

    result = run(mgr, "events")

    assert result.code == 0 and result.err == ""
    assert ESC not in result.out and "\u202e" not in result.out
    for shown in ("login\\x1b[5m", "user=mallory\\x1b[31m", "reason=\\x1b[2J wiped",
                  "actor=\\u202eevil", "session=-"):
        assert shown in result.out

    as_json = run(mgr, "events", "--json")
    assert ESC not in as_json.out and as_json.out.isascii()
    assert as_json.json["events"][0]["details"] == details


def test_hostile_session_fields_are_escaped_and_cut(mgr, backend):
    created = sign_in(mgr, "alice")
    keys = KeySchema("sw").for_user("alice")
    rand = created.session_id[len(keys.tag):]
    raw = backend.raw()
    set_record_fields(raw, keys.session(rand), ct="Evil\x1b[2J\u202eCity")
    raw.hset(keys.record, "n:" + created.session.fingerprint,  # raw, as a hostile store could
             "\x1f".join(["\x1b]0;pwn\x07Mac", "B" * 5000, "x\x9by", "desktop"]))

    result = run(mgr, "sessions", "alice")

    assert result.code == 0, result
    assert ESC not in result.out and "\u202e" not in result.out and "\x9b" not in result.out
    row = result.out.splitlines()[1]
    assert "Evil\\x1b[2J\\u202eCity" in row
    assert "\\x1b]0;pwn\\x07Mac" in row
    assert "x\\x9by" in row
    assert "B" * 37 + "..." in row and "B" * 38 not in row  # a huge cell is cut
    assert run(mgr, "sessions", "alice", "--json").out.isascii()


def test_library_warnings_about_corrupt_records_are_escaped(mgr, backend):
    created = sign_in(mgr, "alice")
    keys = KeySchema("sw").for_user("alice")
    rand = created.session_id[len(keys.tag):]
    # a fingerprint that points at no device record
    set_record_fields(backend.raw(), keys.session(rand), d="\x1b[2Jfp")

    result = run(mgr, "sessions", "alice")

    assert result.code == 0
    assert created.session_id in result.out and "Unknown/Unknown" in result.out
    assert "sessionwarden: warning: " in result.err
    assert "\\x1b[2Jfp" in result.err and ESC not in result.err


def test_wrong_type_in_redis_is_an_error_line(mgr, backend):
    backend.raw().set("sw:users", "not a sorted set")
    assert_error(run(mgr, "users"), "WRONGTYPE")


# -- bad input and unavailable Redis ---------------------------------------------------------


@pytest.mark.parametrize(("user", "message"), [
    ("", "user_id: must not be empty"),
    ("u" * 300, "user_id: longer than 256 bytes (300)"),
    ("é" * 129, "user_id: longer than 256 bytes (258)"),
    ("a\x1bb", "user_id: must not contain control characters"),
])
@pytest.mark.parametrize("command", [["sessions"], ["revoke-all", "--yes"]])
def test_bad_user_id(mgr, user, message, command):
    result = run(mgr, *command, user)
    assert_error(result, message)
    assert ESC not in result.err


def test_bad_user_prefix_and_limits(mgr):
    assert_error(run(mgr, "users", "--prefix", "p" * 300), "prefix")
    for argv in (["users", "--limit", "0"], ["events", "--limit", "10001"],
                 ["events", "--limit", "many"]):
        result = run(mgr, *argv)
        assert result.code == 2 and result.out == ""
        assert "--limit" in result.err.splitlines()[-1]


def test_usage_errors_are_escaped(mgr):
    result = run(mgr, "users", "extra\x1b[31m")
    assert result.code == 2 and result.out == ""
    assert "extra\\x1b[31m" in result.err and ESC not in result.err
    assert run(mgr).code == 2  # no command


def test_help_documents_input_handling(mgr):
    result = run(mgr, "sessions", "--help")
    assert result.code == 0 and result.err == ""
    assert "256" in result.out and "exit 2" in result.out
    top = run(mgr, "--help").out
    for command in ("users", "sessions", "revoke", "revoke-all", "events", "exit codes"):
        assert command in top


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No configuration from the machine: no REDIS_URL/SESSIONWARDEN_* variables, and the
    default file location points at nothing."""
    for name in list(os.environ):
        if name == "REDIS_URL" or (name.startswith("SESSIONWARDEN_")
                                   and name != "SESSIONWARDEN_REQUIRE_REDIS"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(sessionwarden.config, "DEFAULT_PATH", tmp_path / "absent.toml")


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("where", ["option-first", "option-last", "env"])
def test_redis_down(monkeypatch, where):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    argv = {"option-first": ["--redis-url", url, "sessions", "alice"],
            "option-last": ["sessions", "alice", "--redis-url", url],
            "env": ["sessions", "alice"]}[where]
    if where == "env":
        monkeypatch.setenv("REDIS_URL", url)
    started = time.monotonic()
    result = run(None, *argv)
    assert time.monotonic() - started < 10
    assert_error(result, "Redis unavailable")


@pytest.mark.usefixtures("clean_env")
def test_bad_url_and_key_prefix(monkeypatch):
    assert_error(run(None, "users", "--redis-url", "http://example.com"),
                 "redis.url = 'http://example.com' (argument --redis-url)",
                 "not a Redis URL (redis://, rediss:// or unix://)")
    monkeypatch.setenv("SESSIONWARDEN_PREFIX", "no spaces allowed")
    assert_error(run(None, "users", "--redis-url", "redis://127.0.0.1:1/0"),
                 "sessions.key_prefix = 'no spaces allowed' (env SESSIONWARDEN_PREFIX)",
                 "1-32 characters")


@pytest.mark.usefixtures("clean_env")
def test_builds_its_own_manager(real_backend, caplog):
    backend = real_backend
    created = sign_in(backend.manager(settings(key_prefix="app1")), "alice")
    result = run(None, "--key-prefix", "app1", "sessions", "alice", "--redis-url", backend.url)
    assert result.code == 0 and result.err == ""
    assert created.session_id in result.out
    assert "no secret configured" not in caplog.text  # the CLI does not need one
    assert run(None, "sessions", "alice", "--redis-url", backend.url).out.startswith(
        "no live sessions")  # default prefix "sw" sees nothing of app1


def test_subprocess(real_backend):
    backend = real_backend
    created = sign_in(backend.manager(settings()), "alice", city="San Francisco")
    root = Path(sessionwarden.__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "SESSIONWARDEN_PREFIX", "SESSIONWARDEN_SECRET")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "sessionwarden", "sessions", "alice", "--redis-url", backend.url],
        capture_output=True, text=True, timeout=60, env=env, cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # in particular no "no secret configured" warning
    assert created.session_id in proc.stdout and "Mac/Chrome" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "1 live session"


class CountingManager(InterruptingManager):
    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.polls = 0

    def events_after(self, *args: Any, **kw: Any):
        self.polls += 1
        return self.inner.events_after(*args, **kw)


def test_follow_does_not_spin_on_an_undecodable_entry(mgr, backend):
    sign_in(mgr, "alice")
    backend.raw().xadd("sw:events", {"type": "login", "user": "x\x1b[2J"})  # no "at": corrupt
    counting = CountingManager(mgr)
    out, err, stop = io.StringIO(), io.StringIO(), threading.Event()
    thread = threading.Thread(target=cli.main, args=(["events", "--follow"],),
                              kwargs={"manager": counting, "stdout": out, "stderr": err,
                                      "stop": stop})
    thread.start()
    time.sleep(1.5)
    later = sign_in(mgr, "bob")  # a good entry after the bad one gets through
    wait_for(lambda: later.session_id in out.getvalue())
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert counting.polls <= 6  # about one per second, not a tight loop
    assert err.getvalue().count("skipped corrupt event") == 1  # warned once, not per poll
    assert ESC not in err.getvalue()
