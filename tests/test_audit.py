"""The audit trail: revocations recorded by the scripts with actor and reason, entries
recorded by other parts, per-user and global, apart from the event stream."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import IP_US, IPHONE_SAFARI, MAC_CHROME, Backend, Clock

from sessionwarden import SessionManager


def sign_in(mgr: SessionManager, user: str = "alice"):
    return mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)


def test_a_revocation_is_audited_with_its_actor_and_reason(backend: Backend) -> None:
    mgr = backend.manager()
    a, b = sign_in(mgr), sign_in(mgr)
    assert mgr.revoke_session("alice", a.session_id, actor="oncall:kim", reason="attacker")
    [entry] = mgr.audit_trail()
    assert (entry.kind, entry.actor, entry.user_id, entry.session_id, entry.reason) == (
        "session_revoked", "oncall:kim", "alice", a.session_id, "attacker")
    assert mgr.audit_trail(user_id="alice")[0].session_id == a.session_id
    # revoke-all: one entry per session, newest first
    sign_in(mgr)
    assert mgr.revoke_all_sessions("alice", actor="app", reason="password changed") == 2
    trail = mgr.audit_trail(user_id="alice")
    assert [e.reason for e in trail] == ["password changed", "password changed", "attacker"]
    assert b.session_id in {e.session_id for e in trail}
    assert trail[0].details["all"] is True


def test_nothing_is_audited_when_nothing_was_revoked(backend: Backend) -> None:
    mgr = backend.manager()
    a = sign_in(mgr)
    assert mgr.revoke_session("alice", a.session_id) is True
    assert mgr.revoke_session("alice", a.session_id) is False  # already gone
    assert mgr.revoke_all_sessions("nobody") == 0
    assert len(mgr.audit_trail()) == 1


def test_recorded_entries_go_to_the_global_and_the_users_trail(backend: Backend) -> None:
    mgr = backend.manager()
    a = sign_in(mgr)
    event_id = mgr.recent_events(1)[0].id
    entry_id = mgr.record_audit("alert_acknowledged", actor="oncall:kim", user_id="alice",
                                session_id=a.session_id, reason="known VPN",
                                details={"event_id": event_id})
    [entry] = mgr.audit_trail()
    assert entry.id == entry_id
    assert entry.details == {"event_id": event_id}
    assert [e.kind for e in mgr.audit_trail(user_id="alice")] == ["alert_acknowledged"]
    assert mgr.audit_trail(user_id="bob") == []
    mgr.record_audit("dead_letter", actor="sessionwarden-daemon", details={"sink": "email"})
    assert len(mgr.audit_trail()) == 2
    assert len(mgr.audit_trail(user_id="alice")) == 1


def test_since_filters_by_time(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    mgr.record_audit("note", actor="x", user_id="alice")
    assert len(mgr.audit_trail(since=timedelta(minutes=5))) == 1
    clock.advance(3600)
    assert mgr.audit_trail(since=timedelta(minutes=5)) == []
    assert len(mgr.audit_trail(since=timedelta(hours=2), user_id="alice")) == 1


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"kind": ""}, "kind"), ({"kind": "Bad Kind"}, "kind"), ({"kind": "x" * 41}, "kind"),
    ({"actor": " "}, "actor"), ({"user_id": ""}, "user_id"),
    ({"user_id": "a\u202eb"}, "user_id"),
    ({"session_id": "nope"}, "session_id"), ({"details": {"x": object()}}, "details"),
    ({"details": {"x": "y" * 5000}}, "details"), ({"details": ["x"]}, "details"),
])
def test_bad_entries_are_refused_naming_the_argument_and_write_nothing(
        backend: Backend, kwargs: dict, argument: str) -> None:
    mgr = backend.manager()
    args = {"kind": "note", "actor": "oncall", **kwargs}
    kind = args.pop("kind")
    with pytest.raises(ValueError, match=f"^{argument}:"):
        mgr.record_audit(kind, **args)
    assert mgr.audit_trail() == []


def test_hostile_text_is_cleaned(backend: Backend) -> None:
    mgr = backend.manager()
    mgr.record_audit("note", actor="evil\x1b]0;pwn\x07", reason="r\x1b[31m\nx",
                     details={"ua": "a\x00b\x1b[2J"})
    [entry] = mgr.audit_trail()
    for value in (entry.actor, entry.reason or "", entry.details["ua"]):
        assert not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in value), value


def test_the_event_stream_cap_never_trims_the_audit_trail(backend: Backend) -> None:
    from conftest import settings
    mgr = backend.manager(settings(event_stream_maxlen=100))
    a = sign_in(mgr, "zed")
    mgr.revoke_session("zed", a.session_id, actor="oncall")
    for i in range(300):
        sign_in(mgr, f"flood{i}")
    assert len(mgr.recent_events(10_000)) < 300
    assert [e.kind for e in mgr.audit_trail()] == ["session_revoked"]


def test_async_face(backend: Backend) -> None:
    async def scenario() -> None:
        mgr = backend.async_manager()
        created = await mgr.create_session("amy", user_agent=MAC_CHROME, ip=IP_US)
        await mgr.revoke_session("amy", created.session_id, actor="oncall", reason="r")
        await mgr.record_audit("note", actor="oncall", user_id="amy")
        assert [e.kind for e in await mgr.audit_trail(user_id="amy")] == [
            "note", "session_revoked"]
        await mgr.aclose()

    asyncio.run(scenario())


def test_a_users_trails_are_small_lists_not_streams(real_backend: Backend) -> None:
    """A user's own audit and alert trails are capped lists: on Redis 7.0 a stream's first node
    costs ~4.7 KB, which for every user with one revocation or alert would dwarf the sessions."""
    mgr = real_backend.manager()
    raw = real_backend.raw()
    first = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_US)  # new_device: an alert
    mgr.revoke_session("alice", first.session_id, actor="oncall", reason="r")
    keys = mgr.core.keys.for_user("alice")
    for key in (keys.audit, keys.alerts):
        assert raw.type(key) == b"list"
        assert raw.memory_usage(key, samples=0) < 1024, key
        assert 0 < raw.pttl(key) <= 180 * 86400 * 1000
    [alert] = mgr.user_alerts("alice")
    assert alert.type == "new_device" and alert.id  # the event id, written by the script
    assert alert.id == next(e.id for e in mgr.recent_events(10) if e.type == "new_device")
    [entry] = mgr.audit_trail(user_id="alice")
    assert entry.id == mgr.audit_trail()[0].id  # the user's entry names the global one


def test_a_users_audit_list_is_capped(backend: Backend) -> None:
    mgr = backend.manager()
    for i in range(205):
        mgr.record_audit("note", actor="x", user_id="alice", details={"i": i})
    trail = mgr.audit_trail(user_id="alice", limit=10_000)
    assert len(trail) == 200 and trail[0].details == {"i": 204}
    assert len(mgr.audit_trail(limit=10_000)) == 205  # the global trail is not capped
