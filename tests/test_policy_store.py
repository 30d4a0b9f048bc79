"""Session policies, validate(touch=False), re-authentication and rotation on both backends
(fakeredis and a real redis-server), sync and async faces."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import (
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    Backend,
    Clock,
    record_ms,
    session_record,
    settings,
)
from test_round_trips import counting

from sessionwarden import PRESETS, SessionManager, SessionPolicy, require_fresh

MIN = 60
HOUR = 3600
DAY = 24 * HOUR


def key_of(mgr: SessionManager, user: str, session_id: str) -> str:
    return mgr.core.keys.for_user(user).session(session_id[16:])


def events(mgr: SessionManager, type_: str) -> list:
    return [e for e in mgr.recent_events(500) if e.type == type_]


# -- policy per session -----------------------------------------------------------------------


def test_without_a_policy_a_session_lives_by_the_settings_as_before(backend: Backend,
                                                                    clock: Clock) -> None:
    mgr = backend.manager(settings(idle_timeout=timedelta(hours=2),
                                   absolute_lifetime=timedelta(days=3),
                                   touch_interval=timedelta(seconds=30)), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    rec = session_record(backend.raw(), key_of(mgr, "alice", created.session_id))
    assert record_ms(rec["i"]) == 2 * HOUR * 1000
    assert record_ms(rec["e"]) - record_ms(rec["c"]) == 3 * DAY * 1000
    # every policy field empty: the caller's touch interval, no extension, no name
    assert (rec["t"], rec["at"], rec["as"], rec["x"], rec["xm"], rec["p"]) == (b"",) * 6
    s = created.session
    assert (s.policy, s.assurance, s.authenticated_ms) == (None, "password", s.created_ms)
    assert mgr.validate_session(created.token) == s  # same session read back
    # the touch follows this manager's touch_interval, as before
    clock.advance(29)
    assert mgr.validate_session(created.token).last_active_ms == s.last_active_ms  # type: ignore[union-attr]
    clock.advance(2)
    assert mgr.validate_session(created.token).last_active_ms == int(clock.now * 1000)  # type: ignore[union-attr]


def test_a_policy_session_carries_its_windows_and_dies_by_them(backend: Backend,
                                                                clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)  # 7-day idle, 30-day lifetime
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal3",
                                 assurance="phishing_resistant")
    rec = session_record(backend.raw(), key_of(mgr, "alice", created.session_id))
    assert record_ms(rec["i"]) == 15 * MIN * 1000 and record_ms(rec["t"]) == 60_000
    assert (rec["as"], rec["p"]) == (b"2", b"aal3")
    found = mgr.validate_session(created.token)
    assert found is not None and (found.policy, found.assurance) == ("aal3",
                                                                     "phishing_resistant")
    assert found.absolute_expires_ms == found.created_ms + 12 * HOUR * 1000
    clock.advance(15 * MIN)
    assert mgr.validate_session(created.token) is None  # the policy's 15 min, not 7 days
    assert [e.session_id for e in events(mgr, "session_expired")] == [created.session_id]


def test_two_processes_with_different_settings_agree_on_a_policy_session(
        backend: Backend, clock: Clock) -> None:
    app = backend.manager(settings(), clock=clock)
    other = backend.manager(settings(idle_timeout=timedelta(days=30),
                                     absolute_lifetime=timedelta(days=90),
                                     touch_interval=timedelta(hours=1)), clock=clock)
    policy = SessionPolicy(idle_timeout=timedelta(minutes=10),
                           absolute_lifetime=timedelta(hours=1),
                           touch_interval=timedelta(minutes=2), name="admin")
    created = app.create_session("root", user_agent=MAC_CHROME, ip=IP_US, policy=policy)
    key = key_of(app, "root", created.session_id)
    # the other process touches at the session's 2 minutes, not its own hour
    clock.advance(3 * MIN)
    assert other.validate_session(created.token) is not None
    assert record_ms(session_record(backend.raw(), key)["a"]) == int(clock.now * 1000)
    # and both see it die at the session's 10 minutes of inactivity, not 30 days
    clock.advance(9 * MIN)
    assert app.validate_session(created.token) is not None  # 9 min after the other's touch
    clock.advance(10 * MIN)
    assert other.validate_session(created.token) is None
    assert app.validate_session(created.token) is None
    assert other.get_active_sessions("root") == []


def test_a_record_of_the_layout_before_policies_still_reads_and_is_upgraded_by_a_touch(
        backend: Backend, clock: Clock) -> None:
    """Sessions issued before this version (12 fields) stay signed in across the upgrade."""
    mgr = backend.manager(settings(), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    raw = backend.raw()
    key = key_of(mgr, "alice", created.session_id)
    value = raw.get(key)
    legacy = value[:32] + b"\x1f".join(value[32:].split(b"\x1f")[:12])
    raw.set(key, legacy, keepttl=True)
    assert mgr.validate_session(created.token) == created.session
    other = backend.manager(mgr.settings, clock=clock)  # the script reads it too
    assert other.validate_session(created.token) == created.session
    clock.advance(61)
    touched = mgr.validate_session(created.token)
    assert touched is not None and touched.last_active_ms == int(clock.now * 1000)
    assert raw.get(key)[32:].count(b"\x1f") == 17  # written back in the current layout
    assert mgr.reauthenticate(created.token, assurance="mfa") is not None


def test_a_bad_policy_writes_nothing(backend: Backend) -> None:
    mgr = backend.manager()
    with pytest.raises(ValueError, match=r"^policy: unknown preset"):
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal0")
    with pytest.raises(ValueError, match=r"^assurance: "):
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, assurance="otp")
    assert backend.raw().keys("*") == []


# -- validate_session(touch=False) ------------------------------------------------------------


def test_touch_false_leaves_last_activity_and_ttl_as_they_were(backend: Backend,
                                                                clock: Clock) -> None:
    mgr = backend.manager(settings(touch_interval=timedelta(seconds=60)), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal2")
    raw = backend.raw()
    key = key_of(mgr, "alice", created.session_id)
    index_key = mgr.core.keys.for_user("alice").record
    before, ttl_before = raw.get(key), raw.pttl(key)
    index_before = raw.hget(index_key, "s:" + created.session_id[16:])
    clock.advance(5 * MIN)  # a touch is long due
    other = backend.manager(mgr.settings, clock=clock)  # a process that never saw it: script
    for checker in (mgr, other):
        found = checker.validate_session(created.token, touch=False)
        assert found is not None and found.last_active_ms == created.session.last_active_ms
    assert raw.get(key) == before  # not a byte written
    assert 0 < raw.pttl(key) <= ttl_before  # the expiry was not moved
    assert raw.hget(index_key, "s:" + created.session_id[16:]) == index_before
    # polling never keeps a session alive: 30 min after the sign-in it is dead
    clock.advance(25 * MIN)
    assert mgr.validate_session(created.token, touch=False) is None
    # control: the same calls as user activity do touch
    fresh = mgr.create_session("bob", user_agent=MAC_CHROME, ip=IP_US, policy="aal2")
    fkey = key_of(mgr, "bob", fresh.session_id)
    clock.advance(5 * MIN)
    assert mgr.validate_session(fresh.token) is not None
    assert record_ms(session_record(raw, fkey)["a"]) == int(clock.now * 1000)
    assert raw.pttl(fkey) > 29 * MIN * 1000 - 5000


def test_touch_false_takes_one_round_trip(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    sent = counting(mgr)
    clock.advance(120)
    assert mgr.validate_session(created.token, touch=False) is not None
    # seen, touch due, but not activity: the read alone, one round trip (revoke_everyone's
    # epoch, due a refresh after the clock moved, rides in the same pipeline)
    assert [s.removesuffix("+epoch") for s in sent] == ["Command"]
    other = backend.manager(mgr.settings, clock=clock)
    other_sent = counting(other)
    assert other.validate_session(created.token, touch=False) is not None
    assert other.validate_session(created.token, touch=False) is not None
    assert [s.removesuffix("+epoch") for s in other_sent] == ["Eval", "Command"]


# -- reauthenticate ---------------------------------------------------------------------------


def test_reauthenticate_records_the_proof_resets_idle_and_extends_within_the_bound(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal2")
    sent = counting(mgr)
    clock.advance(25 * MIN)
    again = mgr.reauthenticate(created.token, assurance="mfa")
    assert [s.removesuffix("+epoch") for s in sent] == ["Eval"]  # one round trip
    now_ms = int(clock.now * 1000)
    assert again is not None
    assert (again.authenticated_ms, again.assurance, again.last_active_ms) == (now_ms, "mfa",
                                                                               now_ms)
    # the policy's 12 h restart at the re-authentication
    assert again.absolute_expires_ms == now_ms + 12 * HOUR * 1000
    assert mgr.validate_session(created.token) == again  # the record as stored
    assert require_fresh(again, assurance="mfa", now=clock.now).ok
    [event] = events(mgr, "reauthenticated")
    assert (event.session_id, event.details) == (created.session_id, {"assurance": "mfa"})
    # the idle timer restarted: 25 min later it is still alive (it would be dead otherwise)
    clock.advance(25 * MIN)
    assert mgr.validate_session(created.token) is not None


def test_reauthentication_never_extends_a_session_past_its_policys_bound(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    policy = SessionPolicy(idle_timeout=timedelta(minutes=10), absolute_lifetime=timedelta(
        hours=1), reauth_extension=timedelta(minutes=45), max_lifetime=timedelta(hours=3))
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy=policy)
    start = created.session.created_ms
    bound = start + 3 * HOUR * 1000
    deadlines = []
    while True:
        clock.advance(9 * MIN)
        s = mgr.reauthenticate(created.token, assurance="password")
        if s is None:
            break
        now_ms = int(clock.now * 1000)
        # never earlier than it was (the first hour), at least now + 45 min, never past the bound
        assert s.absolute_expires_ms == max(start + HOUR * 1000,
                                            min(now_ms + 45 * MIN * 1000, bound))
        deadlines.append(s.absolute_expires_ms)
    assert deadlines[-1] == bound and deadlines == sorted(deadlines)
    assert int(clock.now * 1000) >= bound  # it died at its bound, not before
    assert mgr.validate_session(created.token) is None
    assert len(events(mgr, "reauthenticated")) == len(deadlines)


def test_reauthenticate_without_an_extension_keeps_the_deadline(backend: Backend,
                                                                clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)  # no policy
    clock.advance(DAY)
    again = mgr.reauthenticate(created.token, assurance="phishing_resistant")
    assert again is not None
    assert again.absolute_expires_ms == created.session.absolute_expires_ms
    assert again.authenticated_ms == int(clock.now * 1000)


def test_reauthenticate_of_a_dead_or_wrong_token_is_none_and_writes_nothing(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal2")
    raw = backend.raw()
    key = key_of(mgr, "alice", created.session_id)
    before = raw.get(key)
    wrong = created.token[:-4] + ("AAAA" if not created.token.endswith("AAAA") else "BBBB")
    assert mgr.reauthenticate(wrong, assurance="mfa") is None
    assert mgr.reauthenticate("junk", assurance="mfa") is None
    assert raw.get(key) == before and events(mgr, "reauthenticated") == []
    mgr.revoke_session("alice", created.session_id)
    assert mgr.reauthenticate(created.token, assurance="mfa") is None
    assert events(mgr, "reauthenticated") == []


# -- rotate_session ---------------------------------------------------------------------------


def test_rotation_keeps_the_session_and_kills_the_old_token(backend: Backend,
                                                            clock: Clock) -> None:
    mgr = backend.manager(settings(max_sessions=2), clock=clock)
    mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_US)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal2")
    devices = mgr.known_devices("alice")
    clock.advance(10)
    sent = counting(mgr)
    rotated = mgr.rotate_session(created.token)
    assert [s.removesuffix("+epoch") for s in sent] == ["Eval"]  # one round trip
    assert rotated is not None and rotated.token != created.token
    assert rotated.session_id == created.session_id
    assert rotated.session._replace(last_active_ms=0) == created.session._replace(
        last_active_ms=0)
    # at the limit, nothing was evicted: both sessions live, no eviction, no revocation
    assert len(mgr.get_active_sessions("alice")) == 2
    assert events(mgr, "session_evicted") == [] and events(mgr, "session_revoked") == []
    assert mgr.known_devices("alice") == devices
    [event] = events(mgr, "session_rotated")
    assert event.session_id == created.session_id
    # the new token is valid, the old one dead, and its reuse is reported once per kind
    assert mgr.validate_session(rotated.token) is not None
    assert mgr.validate_session(created.token, user_agent=MAC_CHROME) is None
    assert mgr.validate_session(created.token, user_agent=MAC_CHROME) is None
    [finding] = events(mgr, "revoked_token_used")
    assert (finding.session_id, finding.severity) == (created.session_id, "low")
    assert finding.details["revoked_reason"] == "rotated"
    # from another kind of device: the rule's own severity, once
    assert mgr.validate_session(created.token, user_agent=IPHONE_SAFARI) is None
    assert [e.severity for e in events(mgr, "revoked_token_used")] == ["high", "low"]
    assert mgr.validate_session(rotated.token) is not None  # the live session is untouched
    # the old token cannot rotate or re-authenticate either
    assert mgr.rotate_session(created.token) is None
    assert mgr.reauthenticate(created.token) is None
    # a secret that was never this session's is no finding (only the rotated-out one is)
    guess = created.session_id + "." + "G" * 43
    assert mgr.validate_session(guess, user_agent=IPHONE_SAFARI) is None
    assert len(events(mgr, "revoked_token_used")) == 2


def test_create_then_revoke_at_the_limit_evicts_which_rotation_does_not(
        backend: Backend, clock: Clock) -> None:
    """Why rotation is its own operation: the old way evicts an unrelated session."""
    mgr = backend.manager(settings(max_sessions=2), clock=clock)
    other = mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_US)
    clock.advance(1)
    current = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(1)
    mgr.validate_session(current.token)  # other is now the least recently active
    replacement = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    mgr.revoke_session("alice", current.session_id)
    assert mgr.validate_session(other.token) is None  # evicted, and a false alarm on it
    assert [e.session_id for e in events(mgr, "session_evicted")] == [other.session_id]
    assert mgr.validate_session(replacement.token) is not None


def test_a_process_that_remembers_the_session_reports_the_rotated_token_too(
        backend: Backend, clock: Clock) -> None:
    app = backend.manager(settings(), clock=clock)
    other = backend.manager(app.settings, clock=clock)
    created = app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    assert other.validate_session(created.token) is not None  # other now reads it by GET
    rotated = app.rotate_session(created.token)
    assert rotated is not None
    sent = counting(other)
    assert other.validate_session(created.token, user_agent=MAC_CHROME) is None
    # the read saw a wrong secret, the script found it in the tombstone, the finding follows
    assert sent == ["Command", "Eval", "Batch"]
    assert [e.details["revoked_reason"] for e in events(app, "revoked_token_used")] == [
        "rotated"]
    assert other.validate_session(rotated.token) is not None


def test_step_up_then_rotate(backend: Backend, clock: Clock) -> None:
    """The documented pattern: sudo mode asks, the app re-authenticates, then rotates."""
    mgr = backend.manager(settings(), clock=clock)
    token = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal2").token
    clock.advance(20 * MIN)
    session = mgr.validate_session(token)
    assert session is not None
    decision = require_fresh(session, within=timedelta(minutes=10), assurance="mfa",
                             now=clock.now)
    assert (decision.ok, decision.reason) == (False, "stale")
    assert mgr.reauthenticate(token, assurance="mfa") is not None
    rotated = mgr.rotate_session(token)
    assert rotated is not None
    assert require_fresh(rotated.session, assurance="mfa", now=clock.now).ok
    assert mgr.validate_session(token) is None
    assert mgr.validate_session(rotated.token) is not None


# -- the async face ---------------------------------------------------------------------------


def test_async_face_policy_touch_reauthenticate_rotate(backend: Backend, clock: Clock) -> None:
    async def scenario() -> None:
        mgr = backend.async_manager(settings(), clock=clock)
        created = await mgr.create_session("carol", user_agent=MAC_CHROME, ip=IP_US,
                                           policy=PRESETS["aal2"], assurance="mfa")
        assert created.session.policy == "aal2"
        clock.advance(5 * MIN)
        polled = await mgr.validate_session(created.token, touch=False)
        assert polled is not None and polled.last_active_ms == created.session.last_active_ms
        again = await mgr.reauthenticate(created.token, assurance="phishing_resistant")
        assert again is not None and again.assurance == "phishing_resistant"
        rotated = await mgr.rotate_session(created.token)
        assert rotated is not None and rotated.session_id == created.session_id
        assert await mgr.validate_session(created.token) is None
        assert await mgr.validate_session(rotated.token) is not None
        assert await mgr.reauthenticate("junk") is None
        assert await mgr.rotate_session(None) is None
        await mgr.aclose()

    asyncio.run(scenario())


def test_the_user_record_outlives_the_longest_a_policy_session_may_live(
        backend: Backend) -> None:
    """The user record holds the session index: with a policy longer than history_ttl, the
    sign-in keeps it for the policy's bound instead."""
    mgr = backend.manager(settings(history_ttl=timedelta(days=30)))
    policy = SessionPolicy(idle_timeout=timedelta(days=20), absolute_lifetime=timedelta(days=60),
                           reauth_extension=timedelta(days=60), max_lifetime=timedelta(days=200))
    mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy=policy)
    ttl = backend.raw().pttl(mgr.core.keys.for_user("alice").record)
    assert 199 * DAY * 1000 < ttl <= 200 * DAY * 1000
    mgr.create_session("bob", user_agent=MAC_CHROME, ip=IP_US)  # control: history_ttl
    assert backend.raw().pttl(mgr.core.keys.for_user("bob").record) <= 30 * DAY * 1000


def test_an_operator_manager_cannot_reauthenticate_or_rotate(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionwarden import SecretRequired, Settings
    from sessionwarden.settings import SECRET_ENV

    monkeypatch.delenv(SECRET_ENV, raising=False)
    token = backend.manager().create_session("alice", user_agent=MAC_CHROME, ip=IP_US).token
    operator = backend.manager(Settings())
    with pytest.raises(SecretRequired):
        operator.reauthenticate(token, assurance="mfa")
    with pytest.raises(SecretRequired):
        operator.rotate_session(token)
    assert backend.manager().validate_session(token) is not None


def test_after_revoke_everyone_reauthenticate_and_rotate_refuse_the_old_sessions(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US, policy="aal2")
    other = backend.manager(mgr.settings, clock=clock)  # another process signs everyone out
    clock.advance(1)
    other.revoke_everyone(actor="oncall", reason="breach")
    clock.advance(1)  # past this process's epoch refresh interval
    assert mgr.reauthenticate(created.token, assurance="mfa") is None
    assert mgr.rotate_session(created.token) is None
    assert mgr.validate_session(created.token) is None
    later = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)  # control
    assert mgr.reauthenticate(later.token) is not None
    assert mgr.rotate_session(later.token) is not None


def test_a_rotated_out_token_is_never_counted_as_probing(backend: Backend, clock: Clock) -> None:
    """The tombstone check comes before the probing counter: an app's own old token, presented
    again and again (a tab that kept the old cookie), is revoked_token_used, not session_probe;
    a guessed secret for the same session id is what the counter counts."""
    from sessionwarden import DetectionSettings

    mgr = backend.manager(settings(detection=DetectionSettings(probe_wrong_secrets=3)),
                          clock=clock)
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    assert mgr.rotate_session(created.token) is not None
    for _ in range(6):
        assert mgr.validate_session(created.token, user_agent=MAC_CHROME) is None
    assert events(mgr, "session_probe") == []
    assert len(events(mgr, "revoked_token_used")) == 1
    for i in range(3):  # control: wrong secrets that were never issued are counted
        guess = created.session_id + "." + chr(ord("A") + i) * 43
        assert mgr.validate_session(guess) is None
    assert len(events(mgr, "session_probe")) == 1
