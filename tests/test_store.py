"""The session store's behaviour, on fakeredis and on a real redis-server."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from conftest import (
    ANDROID_CHROME,
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    WINDOWS_EDGE,
    Backend,
    Clock,
    indexed_sessions,
    record_ms,
    session_record,
    set_record_fields,
    settings,
)
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sessionwarden import SessionLimitExceeded, SessionManager
from sessionwarden.keys import KeySchema, user_tag
from sessionwarden.tokens import TOKEN_LEN

DAY = 86400


def login(mgr: SessionManager, user: str = "alice", ua: str = MAC_CHROME, ip: str = IP_US,
          **kw):
    return mgr.create_session(user, user_agent=ua, ip=ip, **kw)


def all_redis_bytes(raw) -> bytes:
    """Every key name and value in the database, concatenated (to search for leaks)."""
    chunks = []
    for key in raw.scan_iter(count=1000):
        chunks.append(key)
        kind = raw.type(key)
        if kind == b"string":
            chunks.append(raw.get(key) or b"")
        elif kind == b"hash":
            for f, v in raw.hgetall(key).items():
                chunks += [f, v]
        elif kind == b"zset":
            chunks += [m for m, _ in raw.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            for _id, fields in raw.xrange(key):
                for f, v in fields.items():
                    chunks += [f, v]
    return b"\n".join(chunks)


# -- tokens -------------------------------------------------------------------------------------

def test_token_shape_and_only_hash_stored(backend: Backend, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    mgr = backend.manager()
    created = login(mgr)
    session_id, secret = created.token.split(".")
    assert session_id == created.session_id
    assert len(created.token) == TOKEN_LEN
    assert len(secret) == 43  # 256 bits, base64url
    assert created.token not in repr(created)
    dump = all_redis_bytes(backend.raw())
    assert secret.encode() not in dump
    assert created.session_id.encode() in dump  # the public id is stored, the secret is not
    assert secret not in caplog.text
    for event in mgr.recent_events(10):
        assert secret not in repr(event)


def test_validate_roundtrip_returns_session(backend: Backend) -> None:
    mgr = backend.manager()
    created = login(mgr, city="San Francisco")
    session = mgr.validate_session(created.token)
    assert session is not None
    assert session.user_id == "alice"
    assert session.session_id == created.session_id
    assert (session.ip, session.country, session.city) == (IP_US, "US", "San Francisco")
    assert session.fingerprint == created.session.fingerprint


@pytest.mark.parametrize("token", [
    None, "", ".", "a" * 71, 12345, b"bytes", ["list"], "x" * 100_000,
    "A" * 27 + "." + "B" * 43,          # well-formed, unknown session
    "\x1b[31m" + "A" * 64,
])
def test_garbage_tokens_return_none(backend: Backend, token) -> None:
    mgr = backend.manager()
    login(mgr)
    assert mgr.validate_session(token) is None


def test_wrong_secret_for_real_session_is_rejected(backend: Backend) -> None:
    mgr = backend.manager()
    created = login(mgr)
    forged = created.session_id + "." + ("A" * 43)
    assert mgr.validate_session(forged) is None
    assert mgr.validate_session(created.token) is not None


@given(token=st.one_of(st.text(max_size=120), st.binary(max_size=80), st.integers(),
                       st.none(), st.from_regex(r"[A-Za-z0-9_-]{27}\.[A-Za-z0-9_-]{43}",
                                                fullmatch=True)))
@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_token_never_raises(backend: Backend, token) -> None:
    mgr = backend.manager()
    assert mgr.validate_session(token) is None


# -- expiry held by Redis -----------------------------------------------------------------------

def test_key_expiry_is_min_of_idle_and_absolute(backend: Backend, clock: Clock) -> None:
    s = settings(idle_timeout=timedelta(days=7), absolute_lifetime=timedelta(days=10),
                 touch_interval=timedelta(seconds=60))
    mgr = backend.manager(s, clock=clock)
    raw = backend.raw()
    created = login(mgr)
    key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    assert 7 * DAY * 1000 - 5000 <= raw.pttl(key) <= 7 * DAY * 1000
    clock.advance(5 * DAY)  # touch: idle would reach day 12, the absolute cap is day 10
    assert mgr.validate_session(created.token) is not None
    assert 5 * DAY * 1000 - 5000 <= raw.pttl(key) <= 5 * DAY * 1000
    clock.advance(4 * DAY)
    assert mgr.validate_session(created.token) is not None
    assert raw.pttl(key) <= 1 * DAY * 1000
    clock.advance(1 * DAY)
    assert mgr.validate_session(created.token) is None  # absolute lifetime reached


def test_pexpiretime_matches_fields_on_server_clock(backend: Backend) -> None:
    mgr = backend.manager()
    raw = backend.raw()
    created = login(mgr)
    key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    fields = session_record(raw, key)
    expected = min(record_ms(fields["a"]) + mgr.settings.idle_ms, record_ms(fields["e"]))
    # A real server freezes its clock while a script runs: exact to the rounding. fakeredis
    # runs the script in Python on a clock that moves meanwhile (seen 5 ms under load).
    slack = 2 if backend.name == "real" else 50
    assert abs(raw.pexpiretime(key) - expected) <= slack


def test_touch_writes_at_most_once_per_interval(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(touch_interval=timedelta(seconds=60)), clock=clock)
    raw = backend.raw()
    created = login(mgr)
    key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    first = session_record(raw, key)["a"]
    clock.advance(59)
    assert mgr.validate_session(created.token).last_active_at == created.session.last_active_at
    assert session_record(raw, key)["a"] == first
    clock.advance(2)
    touched = mgr.validate_session(created.token)
    assert record_ms(session_record(raw, key)["a"]) == int(clock.now * 1000)
    assert touched.last_active_at > created.session.last_active_at


def test_idle_session_dies_without_daemon(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=1),
                                   touch_interval=timedelta(minutes=1)), clock=clock)
    created = login(mgr)
    clock.advance(3599)
    assert mgr.validate_session(created.token) is not None  # touched: a fresh hour
    clock.advance(3599)
    assert mgr.validate_session(created.token) is not None
    clock.advance(3600)
    assert mgr.validate_session(created.token) is None
    assert [e.type for e in mgr.recent_events(1)] == ["session_expired"]


# -- the session limit --------------------------------------------------------------------------

def test_limit_evicts_least_recently_active(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(max_sessions=3), clock=clock)
    first = login(mgr)
    clock.advance(120)
    second = login(mgr, ua=IPHONE_SAFARI)
    clock.advance(120)
    third = login(mgr, ua=WINDOWS_EDGE)
    clock.advance(120)
    assert mgr.validate_session(first.token) is not None  # first is now the most recent
    clock.advance(120)
    fourth = login(mgr)
    live = {v.session_id for v in mgr.get_active_sessions("alice")}
    assert live == {first.session_id, third.session_id, fourth.session_id}
    assert mgr.validate_session(second.token) is None
    evicted = [e for e in mgr.recent_events(20) if e.type == "session_evicted"]
    assert [e.session_id for e in evicted] == [second.session_id]
    assert evicted[0].details["new_session_id"] == fourth.session_id


def test_limit_deny_refuses_and_writes_nothing(backend: Backend) -> None:
    mgr = backend.manager(settings(max_sessions=2, on_limit="deny"))
    a, b = login(mgr), login(mgr)
    before = backend.raw().dbsize()
    with pytest.raises(SessionLimitExceeded, match="2 active sessions"):
        login(mgr)
    assert backend.raw().dbsize() == before
    assert {v.session_id for v in mgr.get_active_sessions("alice")} == {a.session_id,
                                                                          b.session_id}


def test_index_equals_live_keys_after_expiry(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=1),
                                   touch_interval=timedelta(minutes=1)), clock=clock)
    raw = backend.raw()
    keys = KeySchema("sw").for_user("alice")
    old = login(mgr)
    clock.advance(7200)
    new = login(mgr)  # prunes the dead member
    assert indexed_sessions(raw, keys.record) == [new.session_id[16:]]
    expired = [e for e in mgr.recent_events(10) if e.type == "session_expired"]
    assert [e.session_id for e in expired] == [old.session_id]


# -- revocation ---------------------------------------------------------------------------------

def test_revoke_one(backend: Backend) -> None:
    mgr = backend.manager()
    a, b = login(mgr), login(mgr, ua=IPHONE_SAFARI)
    assert mgr.revoke_session("alice", a.session_id, actor="admin:bob", reason="lost laptop")
    assert mgr.validate_session(a.token) is None
    assert mgr.validate_session(b.token) is not None
    assert not mgr.revoke_session("alice", a.session_id)  # already gone
    [event] = [e for e in mgr.recent_events(10) if e.type == "session_revoked"]
    assert event.session_id == a.session_id
    assert event.details["actor"] == "admin:bob"
    assert event.details["reason"] == "lost laptop"


def test_revoke_other_users_session_is_refused(backend: Backend) -> None:
    mgr = backend.manager()
    bobs = login(mgr, user="bob")
    assert not mgr.revoke_session("alice", bobs.session_id)
    assert mgr.validate_session(bobs.token) is not None
    with pytest.raises(ValueError, match="session_id"):
        mgr.revoke_session("alice", "not-a-session-id")


def test_revoke_all_except_current_on_password_change(backend: Backend) -> None:
    mgr = backend.manager()
    attacker = login(mgr, ua=WINDOWS_EDGE, ip=IP_NL)
    phone = login(mgr, ua=IPHONE_SAFARI)
    current = login(mgr)
    assert mgr.revoke_all_sessions("alice", except_token=current.token,
                                   reason="password changed") == 2
    assert mgr.validate_session(current.token) is not None
    assert mgr.validate_session(attacker.token) is None
    assert mgr.validate_session(phone.token) is None
    revoked = [e for e in mgr.recent_events(10) if e.type == "session_revoked"]
    assert {e.session_id for e in revoked} == {attacker.session_id, phone.session_id}
    assert all(e.details["reason"] == "password changed" for e in revoked)


def test_revoke_all_with_foreign_or_bad_except_token_keeps_nothing(backend: Backend) -> None:
    mgr = backend.manager()
    mine = login(mgr)
    bobs = login(mgr, user="bob")
    assert mgr.revoke_all_sessions("alice", except_token=bobs.token) == 1
    assert mgr.validate_session(mine.token) is None
    mine = login(mgr)
    forged = mine.session_id + "." + "A" * 43  # right id, wrong secret
    assert mgr.revoke_all_sessions("alice", except_token=forged) == 1
    assert mgr.validate_session(bobs.token) is not None


# -- listing ------------------------------------------------------------------------------------

def test_active_sessions_view(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    phone = login(mgr, ua=IPHONE_SAFARI, ip=IP_JP, city="Tokyo")
    clock.advance(3 * DAY)
    laptop = login(mgr, city="San Francisco")
    clock.advance(120)
    views = mgr.get_active_sessions("alice", current_token=laptop.token)
    assert [v.session_id for v in views] == [laptop.session_id, phone.session_id]
    assert views[0].label == "Mac/Chrome — San Francisco — Active 2 min ago"
    assert views[1].label == "iPhone/Safari — Tokyo — Active 3 days ago"
    assert [v.current for v in views] == [True, False]
    assert (views[0].browser, views[0].os, views[0].device_class) == (
        "Chrome 119", "macOS 10", "desktop")
    assert (views[1].country, views[1].ip) == ("JP", IP_JP)


def test_private_network_place(backend: Backend) -> None:
    mgr = backend.manager()
    login(mgr, ip="10.1.2.3")
    view = mgr.get_active_sessions("alice")[0]
    assert (view.country, view.network, view.place) == (None, "private", "Private network")


def test_corrupt_session_record_is_skipped_and_logged(backend: Backend, caplog) -> None:
    mgr = backend.manager()
    good = login(mgr)
    raw = backend.raw()
    keys = KeySchema("sw").for_user("alice")
    raw.hset(keys.session("brokenrand1"), mapping={"h": "x", "c": "not-a-number"})
    raw.hset(keys.record, "s:brokenrand1", 1)
    with caplog.at_level(logging.WARNING, logger="sessionwarden"):
        views = mgr.get_active_sessions("alice")
    assert [v.session_id for v in views] == [good.session_id]
    assert "corrupt session" in caplog.text


# -- keys, directory, events --------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [("a:b", "a"), ("{a}", "a"), ("*", "?"), ("a", "A")])
def test_hostile_user_ids_do_not_collide_or_inject(backend: Backend, a: str, b: str) -> None:
    mgr = backend.manager()
    sa, sb = login(mgr, user=a), login(mgr, user=b)
    assert [v.session_id for v in mgr.get_active_sessions(a)] == [sa.session_id]
    assert [v.session_id for v in mgr.get_active_sessions(b)] == [sb.session_id]
    assert mgr.validate_session(sa.token).user_id == a
    for key in backend.raw().scan_iter():
        name = key.decode()
        tagged = re.match(r"^sw:\{([A-Za-z0-9_-]{16})\}:", name)
        assert tagged or name in ("sw:users", "sw:users:recent", "sw:exp", "sw:events",
                                      "sw:stats"), name
        if tagged:
            assert tagged.group(1) in (user_tag(a), user_tag(b))


def test_user_directory_prefix_and_recent(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    for user in ["carol", "alice", "alfred", "bob"]:
        login(mgr, user=user)
        clock.advance(10)
    assert mgr.users("al") == ["alfred", "alice"]
    assert mgr.users() == ["alfred", "alice", "bob", "carol"]
    assert mgr.users("zz") == []
    assert [u.user_id for u in mgr.recent_users(limit=3)] == ["bob", "alfred", "alice"]


def test_recent_users_index_is_bounded_and_the_directory_is_not(backend: Backend,
                                                                 clock: Clock) -> None:
    mgr = backend.manager(settings(recent_users_kept=3), clock=clock)
    for user in ["u1", "u2", "u3", "u4", "u5"]:
        login(mgr, user=user)
        clock.advance(10)
    login(mgr, user="u2")  # signs in again: back to the front, without growing the index
    assert [u.user_id for u in mgr.recent_users(limit=10)] == ["u2", "u5", "u4"]
    assert backend.raw().zcard("sw:users:recent") == 3
    assert mgr.users() == ["u1", "u2", "u3", "u4", "u5"]


def test_event_stream_is_bounded(backend: Backend) -> None:
    mgr = backend.manager(settings(event_stream_maxlen=100, max_sessions=1))
    for _ in range(200):
        login(mgr)  # login + eviction events: 399 in all
    length = backend.raw().xlen("sw:events")
    assert 100 <= length < 399


def test_event_retention_trims_old_entries(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(event_retention=timedelta(hours=1)), clock=clock)
    raw = backend.raw()
    # Stream ids come from the server clock; write old entries with explicit ids to age them.
    old_ms = int(clock.now * 1000) - 2 * 3600 * 1000
    for i in range(300):
        raw.xadd("sw:events", {"type": "login", "user": "old", "at": old_ms}, id=f"{old_ms}-{i}")
    login(mgr)
    remaining = raw.xrange("sw:events")
    old_left = [entry_id for entry_id, _ in remaining if int(entry_id.split(b"-")[0]) == old_ms]
    assert len(old_left) <= 100  # "~" trims whole stream nodes (100 entries each by default)
    assert any(fields[b"type"] == b"login" and fields[b"user"] == b"alice"
               for _, fields in remaining)


def test_sweep_reports_expiry_once_and_rescores_live(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=1),
                                   touch_interval=timedelta(minutes=1)), clock=clock)
    raw = backend.raw()
    dead = login(mgr)
    alive = login(mgr, user="bob")
    assert raw.zscore("sw:exp", user_tag("alice")) == (clock.now + 3600) * 1000
    clock.advance(1800)
    assert mgr.validate_session(alive.token) is not None  # touched: expires 30 min later
    clock.advance(1801)
    assert mgr.sweep_expired() == 1
    assert raw.zscore("sw:exp", user_tag("alice")) is None  # no live session left
    assert raw.zscore("sw:exp", user_tag("bob")) == (clock.now - 1801 + 3600) * 1000
    assert mgr.sweep_expired() == 0
    expired = [e for e in mgr.recent_events(10) if e.type == "session_expired"]
    assert [(e.session_id, e.user_id) for e in expired] == [(dead.session_id, "alice")]
    # The pruning paths do not report it a second time.
    assert mgr.get_active_sessions("alice") == []
    assert len([e for e in mgr.recent_events(10) if e.type == "session_expired"]) == 1


def test_expiry_index_score_is_a_lower_bound_per_user(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=1),
                                   touch_interval=timedelta(minutes=1)), clock=clock)
    raw = backend.raw()
    first = login(mgr)
    clock.advance(600)
    login(mgr, ua=IPHONE_SAFARI)  # expires later: the user's score stays at the earlier one
    assert raw.zscore("sw:exp", user_tag("alice")) == (clock.now - 600 + 3600) * 1000
    clock.advance(600)
    assert mgr.validate_session(first.token) is not None  # touched: both expire later now
    clock.advance(2400)  # the score (first's old expiry) is due; both sessions are alive
    assert mgr.sweep_expired() == 0
    assert raw.zscore("sw:exp", user_tag("alice")) == (clock.now - 3000 + 3600) * 1000
    assert raw.zcard("sw:exp") == 1  # one entry per user, not per session


def test_sweep_does_not_report_revoked_as_expired(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=1),
                                   touch_interval=timedelta(minutes=1)), clock=clock)
    created = login(mgr)
    mgr.revoke_session("alice", created.session_id)
    clock.advance(3601)
    assert mgr.sweep_expired() == 0
    assert backend.raw().zcard("sw:exp") == 0
    assert not [e for e in mgr.recent_events(10) if e.type == "session_expired"]


def test_sweep_keeps_an_entry_a_racing_sign_in_lowered(backend: Backend, clock: Clock) -> None:
    """The sweep drops an empty user only if the score is still the one it read."""
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=1),
                                   touch_interval=timedelta(minutes=1)), clock=clock)
    raw = backend.raw()
    mgr.revoke_session("alice", login(mgr).session_id)  # alice has no live session
    raw.zadd("sw:exp", {user_tag("alice"): 5})  # due now
    sweep = mgr.core.sweep_expired()
    request = next(sweep)
    while True:  # drive the sweep by hand, moving the score between its reads and writes
        if getattr(request, "items", None) and any(
                getattr(item, "script", "") == "unindex" for item in request.items):
            raw.zadd("sw:exp", {user_tag("alice"): 7})
        reply = mgr._execute(request)
        try:
            request = sweep.send(reply)
        except StopIteration:
            break
    assert raw.zscore("sw:exp", user_tag("alice")) == 7
    assert mgr.sweep_expired() == 0  # unraced, the empty user is dropped
    assert raw.zscore("sw:exp", user_tag("alice")) is None


def test_scripts_reload_after_script_flush(backend: Backend) -> None:
    mgr = backend.manager()
    created = login(mgr)
    backend.raw().script_flush()
    assert mgr.validate_session(created.token) is not None
    backend.raw().script_flush()
    assert mgr.sweep_expired() == 0


def test_email_and_devices_recorded(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    login(mgr, email="alice@example.com")
    clock.advance(5)
    login(mgr, ua=IPHONE_SAFARI)
    assert mgr.user_email("alice") == "alice@example.com"
    assert [d.label for d in mgr.known_devices("alice")] == ["iPhone/Safari", "Mac/Chrome"]


@pytest.mark.parametrize("field,logged", [
    ("a", "SWCORRUPT"),  # no activity: the script refuses the record
    ("d", "no device"),  # no fingerprint: the library refuses what the script returned
])
def test_corrupt_record_on_validate_is_refused_and_logged(backend: Backend, caplog,
                                                          field: str, logged: str) -> None:
    mgr = backend.manager()
    created = login(mgr)
    key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    set_record_fields(backend.raw(), key, **{field: ""})
    with caplog.at_level(logging.WARNING, logger="sessionwarden"):
        assert mgr.validate_session(created.token) is None
    assert logged in caplog.text
    assert created.token.split(".")[1] not in caplog.text


def test_device_cap_never_drops_a_live_sessions_device(backend: Backend, clock: Clock) -> None:
    from sessionwarden.core import MAX_DEVICES_PER_USER

    mgr = backend.manager(settings(max_sessions=100), clock=clock)
    first = login(mgr)
    for i in range(MAX_DEVICES_PER_USER + 5):
        clock.advance(1)
        gone = login(mgr, ua=IPHONE_SAFARI, device_id=f"dev{i}")
        mgr.revoke_session("alice", gone.session_id)  # its device is no longer in use
    devices = mgr.known_devices("alice")
    assert len(devices) == MAX_DEVICES_PER_USER
    assert first.session.fingerprint in {d.fingerprint for d in devices}
    view = next(v for v in mgr.get_active_sessions("alice")
                if v.session_id == first.session_id)
    assert view.device == "Mac/Chrome"


def test_wrong_type_key_is_a_library_error(backend: Backend) -> None:
    from sessionwarden import SessionWardenError

    mgr = backend.manager()
    backend.raw().set("sw:events", "not a stream")
    with pytest.raises(SessionWardenError, match="Redis refused a command: WRONGTYPE"):
        mgr.recent_events()


def test_app_clock_ahead_of_redis_still_touches_and_stays_fast(backend: Backend,
                                                               monkeypatch) -> None:
    """An app server whose clock runs 5 minutes ahead of Redis: after one script reply the
    fast path judges "touch due" on the server's clock, so validate stays one read."""
    import time as time_module

    mgr = backend.manager(settings(touch_interval=timedelta(seconds=60)))
    created = login(mgr)
    monkeypatch.setattr(mgr.core, "_now_ms", lambda: int((time_module.time() + 300) * 1000))
    assert mgr.validate_session(created.token) is not None  # the first slow reply sets it
    sent = []
    original = mgr._execute

    def counting(request):
        sent.append(type(request).__name__)
        return original(request)

    monkeypatch.setattr(mgr, "_execute", counting)
    for _ in range(5):
        assert mgr.validate_session(created.token) is not None
    assert sent == ["Command"] * 5  # one GET each, no script


def test_per_user_hashes_stay_in_the_compact_encoding(real_backend: Backend) -> None:
    """Redis keeps a small hash as a listpack only while every value is at most 64 bytes; one
    longer value (the old one-field device record was 84) makes it a hashtable of ~3x the
    size. Devices from a long IPv6 address and several kinds of device must stay compact."""
    mgr = real_backend.manager()
    long_v6 = "2a00:1450:4001:829:1234:5678:9abc:def0"  # located, and nothing to compress
    for ua, ip in ((MAC_CHROME, IP_US), (WINDOWS_EDGE, IP_NL), (ANDROID_CHROME, IP_JP),
                   (IPHONE_SAFARI, long_v6)):
        login(mgr, ua=ua, ip=ip)
    raw = real_backend.raw()
    keys = KeySchema("sw").for_user("alice")
    assert raw.object("encoding", keys.record) == b"listpack"
    devices = mgr.known_devices("alice")
    assert {d.last_ip for d in devices} == {IP_US, long_v6, IP_NL, IP_JP}
    assert raw.hget(keys.record, "li") == long_v6.encode()  # the last located sign-in


def test_corrupt_device_fields_are_skipped_and_logged(backend: Backend, caplog) -> None:
    mgr = backend.manager()
    mac = login(mgr)
    phone = login(mgr, ua=IPHONE_SAFARI)
    raw = backend.raw()
    record = KeySchema("sw").for_user("alice").record
    raw.hset(record, "d:" + mac.session.fingerprint, "not|a number|GB|1.2.3.4")
    raw.hdel(record, "n:" + phone.session.fingerprint)
    with caplog.at_level(logging.WARNING, logger="sessionwarden"):
        assert mgr.known_devices("alice") == []
    assert caplog.text.count("skipped corrupt device") == 2
    views = {v.session_id: v for v in mgr.get_active_sessions("alice")}
    assert views[mac.session_id].device == "Mac/Chrome"  # its description is intact
    assert views[phone.session_id].device == "Unknown/Unknown"  # no description to show


def test_a_session_key_of_another_type_is_refused_and_logged(backend: Backend, caplog) -> None:
    """A hash where a session record belongs (the pre-release layout, or a foreign writer):
    validate returns None and logs, from a process that has seen the session (read path) and
    from one that has not (script path); listing skips it."""
    mgr = backend.manager()
    created = login(mgr)
    raw = backend.raw()
    key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    raw.delete(key)
    raw.hset(key, mapping={"h": "x" * 32, "a": "1"})
    with caplog.at_level(logging.WARNING, logger="sessionwarden"):
        assert mgr.validate_session(created.token) is None
        assert backend.manager(mgr.settings).validate_session(created.token) is None
        assert mgr.get_active_sessions("alice") == []
    assert "SWCORRUPT" in caplog.text and "corrupt session" in caplog.text


def test_touch_never_leaves_a_user_record_without_an_expiry(backend: Backend,
                                                             clock: Clock) -> None:
    """If the user record was deleted by hand while a session lives, the touch that writes the
    session's index entry gives the new record an expiry (the session's own deadline)."""
    mgr = backend.manager(settings(touch_interval=timedelta(seconds=60)), clock=clock)
    created = login(mgr)
    raw = backend.raw()
    record = KeySchema("sw").for_user("alice").record
    raw.delete(record)
    clock.advance(61)
    assert mgr.validate_session(created.token) is not None  # touches
    assert indexed_sessions(raw, record) == [created.session_id[16:]]
    absolute_ms = mgr.settings.absolute_ms
    assert 0 < raw.pttl(record) <= absolute_ms - 61_000


def test_the_read_path_never_answers_from_a_stale_decode(backend: Backend) -> None:
    """validate's read path keeps the last decoded record per session, keyed by its exact bytes:
    any change to the stored record is seen on the next call, and the token is checked on
    every call."""
    mgr = backend.manager()
    created = login(mgr, city="Paris")
    key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    assert mgr.validate_session(created.token).city == "Paris"
    set_record_fields(backend.raw(), key, ct="Lyon")
    assert mgr.validate_session(created.token).city == "Lyon"
    wrong = created.token[:-4] + ("AAAA" if not created.token.endswith("AAAA") else "BBBB")
    assert mgr.validate_session(wrong) is None
    assert mgr.validate_session(created.token).city == "Lyon"


def test_a_login_burst_keeps_the_user_record_compact(real_backend: Backend) -> None:
    """The burst rule keeps the last K + 1 sign-in times; stored as seconds and offsets they
    stay within the 64 bytes of the compact encoding (in ms, 11 times took 153)."""
    mgr = real_backend.manager()
    for _ in range(12):  # more than the default K = 10 within the window: a burst
        login(mgr)
    raw = real_backend.raw()
    record = KeySchema("sw").for_user("alice").record
    assert [e.type for e in mgr.recent_events(100)].count("login_burst") == 1
    assert len(raw.hget(record, "lt").split(b",")) == 11
    assert raw.object("encoding", record) == b"listpack"
