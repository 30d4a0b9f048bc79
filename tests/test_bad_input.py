"""Bad input gets a clear error naming the argument, and nothing is written."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from conftest import IP_US, MAC_CHROME, TEST_SECRET, Backend, session_record, settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sessionwarden import RedisSettings, Settings, StoreUnavailable
from sessionwarden.keys import KeySchema, user_tag
from sessionwarden.manager import AsyncSessionManager, SessionManager
from sessionwarden.sanitize import clean_text

BAD_USER_IDS = ["", "x" * 257, "é" * 129, "a\x00b", "line\nbreak", "\x1b[2J", "\u202eadmin",
                "a\u200bb", "   ", "a\u2028b"]


@pytest.mark.parametrize("user_id", BAD_USER_IDS)
def test_bad_user_id_rejected_nothing_written(backend: Backend, user_id: str) -> None:
    mgr = backend.manager()
    with pytest.raises(ValueError, match="user_id"):
        mgr.create_session(user_id, user_agent=MAC_CHROME, ip=IP_US)
    with pytest.raises(ValueError, match="user_id"):
        mgr.get_active_sessions(user_id)
    with pytest.raises(ValueError, match="user_id"):
        mgr.revoke_all_sessions(user_id)
    assert backend.raw().dbsize() == 0


def test_user_id_of_exactly_256_bytes_is_accepted(backend: Backend) -> None:
    mgr = backend.manager()
    created = mgr.create_session("é" * 128, user_agent=MAC_CHROME, ip=IP_US)
    assert mgr.validate_session(created.token).user_id == "é" * 128


def test_non_string_user_id_is_a_type_error(backend: Backend) -> None:
    with pytest.raises(TypeError, match="user_id"):
        backend.manager().create_session(42, user_agent=MAC_CHROME, ip=IP_US)  # type: ignore


@pytest.mark.parametrize("ip", ["", "999.1.1.1", "localhost", "1.2.3", "::g", "1.2.3.4\n",
                                "x" * 1000, None, "fe80::1%eth0", " 1.2.3.4", "\udcff", 42])
def test_bad_ip_rejected_nothing_written(backend: Backend, ip) -> None:
    mgr = backend.manager()
    with pytest.raises(ValueError, match=r"^ip:"):
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=ip)
    assert backend.raw().dbsize() == 0


@pytest.mark.parametrize("email", ["nobody", "a@b", "a b@example.com",
                                   "x@example.com\r\nBcc: y@evil.test", "a@" + "x" * 260 + ".com"])
def test_bad_email_rejected(backend: Backend, email: str) -> None:
    with pytest.raises(ValueError, match="email"):
        backend.manager().create_session("alice", user_agent=MAC_CHROME, ip=IP_US, email=email)
    assert backend.raw().dbsize() == 0


def test_hostile_display_strings_are_cleaned_and_bounded(backend: Backend) -> None:
    mgr = backend.manager()
    ua = "\x1b]0;pwned\x07" + MAC_CHROME + "\x1b[2J" + "A" * 10_000
    created = mgr.create_session("alice", user_agent=ua, ip=IP_US,
                                 city="\x1b[31mParis\x1b[0m\u202e", device_id="\x00" * 500)
    view = mgr.get_active_sessions("alice")[0]
    assert view.city == "Paris"
    assert view.device == "Mac/Chrome"
    raw = backend.raw()
    session_key = KeySchema("sw").for_user("alice").session(created.session_id[16:])
    assert session_record(raw, session_key)["ct"] == b"Paris"
    for key in raw.scan_iter():
        kind = raw.type(key)
        if kind == b"hash":
            values = list(raw.hgetall(key).values())
        elif kind == b"string":
            value = raw.get(key)
            # session records and tombstones start with a raw 32-byte token hash
            values = [value[32:] if b":s:" in key or b":x:" in key else value]
        else:
            continue
        for value in values:
            assert b"\x1b" not in value and b"\x07" not in value
    login = mgr.recent_events(1)[0]
    assert "\x1b" not in repr(login.details)


def test_invalid_country_hint_is_ignored_for_lookup(backend: Backend) -> None:
    mgr = backend.manager()
    for hint in ["XX", "usa", "\x1bUS", "T1", ""]:
        created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, country=hint)
        assert created.session.country == "US"
    assert mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US,
                              country="fr").session.country == "FR"


@given(ua=st.text(max_size=2000), city=st.one_of(st.none(), st.text(max_size=300)))
@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_display_text_is_stored_clean(backend: Backend, ua: str, city) -> None:
    mgr = backend.manager()
    created = mgr.create_session("prop", user_agent=ua, ip=IP_US, city=city)
    view = next(v for v in mgr.get_active_sessions("prop")
                if v.session_id == created.session_id)
    for text in (view.city or "", view.device, view.browser, view.os, view.label):
        assert text == clean_text(text, 10_000) or text == ""
        assert len(text) < 700


def test_limits_on_listing_arguments(backend: Backend) -> None:
    mgr = backend.manager()
    for bad in (0, -1, 10_001, 1.5, "10", True):
        with pytest.raises(ValueError, match="limit"):
            mgr.recent_events(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        mgr.users("x" * 300)
    with pytest.raises(ValueError, match="after"):
        mgr.events_after("not-an-id")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_fails_closed_fast() -> None:
    mgr = SessionManager.from_url(f"redis://127.0.0.1:{closed_port()}/0",
                                  Settings(secret=TEST_SECRET),
                                  redis=RedisSettings(socket_timeout=0.5, connect_timeout=0.5))
    calls = [
        lambda: mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US),
        lambda: mgr.validate_session("A" * 27 + "." + "B" * 43),
        lambda: mgr.revoke_session("alice", user_tag("alice") + "A" * 11),
        lambda: mgr.revoke_all_sessions("alice"),
        lambda: mgr.get_active_sessions("alice"),
        lambda: mgr.recent_events(),
        lambda: mgr.users(),
        lambda: mgr.sweep_expired(),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="Redis unavailable"):
            call()
        assert time.monotonic() - started < 5


def test_redis_that_accepts_but_never_answers_times_out() -> None:
    """A hung server (accepts the connection, never replies) must not hang the app."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        mgr = SessionManager.from_url(f"redis://127.0.0.1:{port}/0",
                                      Settings(secret=TEST_SECRET),
                                      redis=RedisSettings(socket_timeout=0.3))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            mgr.validate_session("A" * 27 + "." + "B" * 43)
        assert time.monotonic() - started < 3


def test_decode_responses_client_is_refused() -> None:
    import fakeredis

    with pytest.raises(ValueError, match="decode_responses"):
        SessionManager(fakeredis.FakeRedis(decode_responses=True), settings())


@pytest.mark.parametrize("kwargs,field", [
    ({"touch_interval": timedelta(days=8)}, "touch_interval"),
    ({"idle_timeout": timedelta(0)}, "idle_timeout"),
    ({"absolute_lifetime": timedelta(seconds=-1)}, "absolute_lifetime"),
    ({"idle_timeout": timedelta(days=40)}, "idle_timeout"),
    ({"max_sessions": 0}, "max_sessions"),
    ({"on_limit": "lru"}, "on_limit"),
    ({"key_prefix": "a{b}"}, "key_prefix"),
    ({"key_prefix": ""}, "key_prefix"),
    ({"secret": "short"}, "secret"),
    ({"event_stream_maxlen": 5}, "event_stream_maxlen"),
    ({"recent_users_kept": 0}, "recent_users_kept"),
    ({"history_ttl": timedelta(days=1)}, "history_ttl"),
    ({"recent_users_kept": True}, "recent_users_kept"),
    ({"recent_users_kept": 10**7}, "recent_users_kept"),
])
def test_invalid_settings_name_the_field(kwargs, field: str) -> None:
    kwargs.setdefault("secret", TEST_SECRET)
    with pytest.raises((ValueError, TypeError), match=field):
        Settings(**kwargs)


def test_production_requires_a_secret(monkeypatch) -> None:
    """A manager that issues sessions refuses to start in production without a secret; an
    operator manager (CLI, console) may."""
    monkeypatch.delenv("SESSIONWARDEN_SECRET", raising=False)
    settings = Settings(production=True)
    for face in (SessionManager, AsyncSessionManager):
        with pytest.raises(ValueError, match="secret: required in production"):
            face.from_url("redis://localhost:6379/0", settings)
        assert face.from_url("redis://localhost:6379/0", settings, operator=True).settings \
            is settings
    monkeypatch.setenv("SESSIONWARDEN_SECRET", TEST_SECRET)
    assert Settings(production=True).secret == TEST_SECRET.encode()
    SessionManager.from_url("redis://localhost:6379/0", Settings(production=True))


@pytest.mark.parametrize("text,limit,expected", [
    ("ab cd", 3, "ab"), ("ab\tcd", 3, "ab"), ("  x  ", 5, "x"), ("a\x1b[31m b", 2, "a"),
])
def test_clean_text_never_ends_on_a_cut_space(text: str, limit: int, expected: str) -> None:
    assert clean_text(text, limit) == expected


def test_validate_with_hostile_user_agents_stays_bounded_and_correct(backend: Backend) -> None:
    """validate memoises what it learns from a user agent; a flood of huge or distinct ones
    must neither grow that memory without bound nor change the answer."""
    mgr = backend.manager()
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    for i in range(5000):
        assert mgr.validate_session(created.token, user_agent=f"{MAC_CHROME} x{i}") is not None
    assert mgr.validate_session(created.token, user_agent="\x1b[2J" + "A" * 100_000) is not None
    assert len(mgr.core._presenters) <= 4096
    assert all(len(ua) <= 1024 for ua in mgr.core._presenters)
    with pytest.raises(TypeError, match="user_agent"):
        mgr.validate_session(created.token, user_agent=b"bytes")  # type: ignore[arg-type]
