"""Incident controls on both backends and both faces: lock / unlock an account, sign out
everyone (the not-before epoch and its background clean-up), probing of a known session id."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import IP_NL, IP_US, MAC_CHROME, WINDOWS_EDGE, Backend, Clock, settings
from test_round_trips import counting

from sessionwarden import AccountLocked, DetectionSettings, SessionWardenError, StoreUnavailable
from sessionwarden.keys import KeySchema

KEYS = KeySchema("sw")


def sign_in(mgr, user: str = "alice", ua: str = MAC_CHROME, ip: str = IP_US):
    return mgr.create_session(user, user_agent=ua, ip=ip)


def findings(mgr, rule: str):
    return [e for e in mgr.recent_events(500) if e.type == rule]


def tombstone_reason(raw, user: str, session_id: str) -> str | None:
    value = raw.get(KEYS.for_user(user).tombstone(session_id[16:]))
    return None if value is None else value[41:].decode().partition("|")[2]


# -- lock / unlock ----------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False], ids=["standalone", "cluster-way"])
def test_lock_ends_sessions_refuses_create_until_unlock(backend: Backend, clock: Clock,
                                                        inline: bool) -> None:
    mgr = backend.manager(settings(scripts_write_events=inline), clock=clock)
    raw = backend.raw()
    a, b = sign_in(mgr), sign_in(mgr, ua=WINDOWS_EDGE)
    other = sign_in(mgr, "bob")
    clock.advance(1)
    assert mgr.lock_user("alice", actor="admin:zoe", reason="takeover in progress") == 2
    for created in (a, b):
        assert mgr.validate_session(created.token) is None
        assert tombstone_reason(raw, "alice", created.session_id) == "locked"
    assert [f.details["revoked_reason"] for f in findings(mgr, "revoked_token_used")] == [
        "locked", "locked"]  # a replay of an ended session's token is the usual signal
    with pytest.raises(AccountLocked) as refused:
        sign_in(mgr)
    assert isinstance(refused.value, SessionWardenError) and refused.value.user_id == "alice"
    assert mgr.get_active_sessions("alice") == []
    assert mgr.validate_session(other.token) is not None  # bob is not locked
    # audited: each ended session and the lock, with actor and reason; on the event stream
    trail = mgr.audit_trail(user_id="alice")
    assert [e.kind for e in trail] == ["account_locked", "session_revoked", "session_revoked"]
    assert {(e.actor, e.reason) for e in trail} == {("admin:zoe", "takeover in progress")}
    assert [e.kind for e in mgr.audit_trail()][:3] == [e.kind for e in trail]
    assert any(e.type == "account_locked" and e.details["actor"] == "admin:zoe"
               for e in mgr.recent_events(20))

    clock.advance(1)
    assert mgr.unlock_user("alice", actor="admin:zoe", reason="owner verified") is True
    assert mgr.lock_state("alice") is None and mgr.locked_users() == []
    again = sign_in(mgr)
    assert mgr.validate_session(again.token) is not None
    assert mgr.validate_session(a.token) is None  # what the lock ended stays ended
    assert mgr.audit_trail(user_id="alice")[0].kind == "account_unlocked"
    assert mgr.unlock_user("alice", actor="admin:zoe", reason="twice") is False
    assert mgr.audit_trail(user_id="alice")[0].kind == "account_unlocked"  # nothing written


def test_lock_is_visible_in_every_listing(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    sign_in(mgr), sign_in(mgr, "bob")
    clock.advance(5)
    locked_at_ms = int(clock.now * 1000)
    mgr.lock_user("bob", actor="admin", reason="r")
    mgr.lock_user("never-signed-in", actor="admin", reason="pre-emptive")
    assert mgr.lock_state("bob").timestamp() * 1000 == locked_at_ms
    assert mgr.lock_state("alice") is None
    rows = {r.user_id: r for r in mgr.users_page().rows}
    assert rows["bob"].locked_at is not None and rows["alice"].locked_at is None
    assert {r.user_id: r.locked_at is not None for r in mgr.users_page("never").rows} == {
        "never-signed-in": True}  # a lock puts the user in the directory
    assert {s.user_id: s.locked_at is not None for s in mgr.recent_users()} == {
        "alice": False, "bob": True}
    assert [u.user_id for u in mgr.locked_users()] == ["never-signed-in", "bob"]
    clock.advance(60)
    mgr.lock_user("bob", actor="admin", reason="again")  # keeps the first lock's time
    assert mgr.lock_state("bob").timestamp() * 1000 == locked_at_ms


def test_a_session_that_survives_a_lock_is_ended_by_validate(backend: Backend,
                                                             clock: Clock) -> None:
    """Defence in depth: a session key present while the user record is locked (a restore,
    a hand edit) is ended by validate's script, tombstoned as 'locked'."""
    mgr = backend.manager(settings(), clock=clock)
    raw = backend.raw()
    created = sign_in(mgr)
    raw.hset(KEYS.for_user("alice").record, "lk", str(int(clock.now * 1000)))
    fresh = backend.manager(mgr.settings, clock=clock)  # never saw it: the script decides
    assert fresh.validate_session(created.token) is None
    assert raw.exists(KEYS.for_user("alice").session(created.session_id[16:])) == 0
    assert tombstone_reason(raw, "alice", created.session_id) == "locked"
    assert fresh.get_active_sessions("alice") == []


def test_lock_arguments_are_checked_and_hostile_text_cleaned(backend: Backend) -> None:
    mgr = backend.manager(settings())
    sign_in(mgr)
    for bad in ("", " ", "a\x00b", "x" * 300):
        with pytest.raises(ValueError, match="user_id"):
            mgr.lock_user(bad, actor="admin", reason="r")
    with pytest.raises(ValueError, match="actor"):
        mgr.lock_user("alice", actor=" ", reason="r")
    with pytest.raises(TypeError, match="reason"):
        mgr.lock_user("alice", actor="admin", reason=5)  # type: ignore[arg-type]
    assert mgr.lock_state("alice") is None and len(mgr.get_active_sessions("alice")) == 1
    hostile = "\x1b]0;pwned\x07 stolen \x1b[31mcookie"
    mgr.lock_user("alice", actor="admin\x1b[2J", reason=hostile)
    entry = mgr.audit_trail(user_id="alice")[0]
    assert "\x1b" not in entry.reason and "\x07" not in entry.reason
    assert "\x1b" not in entry.actor and "stolen" in entry.reason


def test_async_face_locks_unlocks_and_signs_out_everyone(backend: Backend) -> None:
    async def scenario() -> None:
        mgr = backend.async_manager(settings())
        try:
            created = await mgr.create_session("dora", user_agent=MAC_CHROME, ip=IP_US)
            assert await mgr.lock_user("dora", actor="admin", reason="r") == 1
            assert await mgr.validate_session(created.token) is None
            with pytest.raises(AccountLocked):
                await mgr.create_session("dora", user_agent=MAC_CHROME, ip=IP_US)
            assert [u.user_id for u in await mgr.locked_users()] == ["dora"]
            assert await mgr.lock_state("dora") is not None
            assert await mgr.unlock_user("dora", actor="admin", reason="ok") is True
            later = await mgr.create_session("dora", user_agent=MAC_CHROME, ip=IP_US)
            await asyncio.sleep(0.002)
            await mgr.revoke_everyone(actor="admin", reason="breach")
            assert await mgr.validate_session(later.token) is None
            assert (await mgr.purge_everyone()).done
        finally:
            await mgr.aclose()

    asyncio.run(scenario())


# -- sign out everyone ------------------------------------------------------------------------


def test_revoke_everyone_refuses_every_earlier_session_and_later_ones_live(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    raw = backend.raw()
    before = [sign_in(mgr, f"user{i}") for i in range(5)]
    clock.advance(1)
    other = backend.manager(mgr.settings, clock=clock)  # a second app process
    assert all(other.validate_session(c.token) is not None for c in before)  # it caches them
    epoch = mgr.revoke_everyone(actor="admin:zoe", reason="database leak")
    assert epoch.timestamp() == clock.now
    assert mgr.validate_session(before[0].token) is None  # this process: at once
    # the other process trusts the epoch it read for at most the refresh interval (0.5 s) ...
    assert other.validate_session(before[1].token) is not None
    clock.advance(0.5)
    # ... then the validate that finds it stale reads it in its own pipeline and refuses
    for created in before[1:]:
        assert other.validate_session(created.token) is None
        assert tombstone_reason(raw, created.session.user_id, created.session_id) == "everyone"
    clock.advance(0.001)
    after = sign_in(mgr, "user0")
    assert mgr.validate_session(after.token) is not None
    assert other.validate_session(after.token) is not None
    # audited once, an event, and a replay of an ended token is revoked_token_used
    entry = mgr.audit_trail()[0]
    assert (entry.kind, entry.actor, entry.reason) == ("everyone_revoked", "admin:zoe",
                                                       "database leak")
    assert any(e.type == "everyone_revoked" for e in mgr.recent_events(50))
    assert mgr.validate_session(before[2].token) is None
    assert any(f.details["revoked_reason"] == "everyone"
               for f in findings(mgr, "revoked_token_used"))


@pytest.mark.parametrize("inline", [True, False], ids=["standalone", "cluster-way"])
def test_purge_ends_and_unindexes_the_signed_out_sessions_in_batches(
        backend: Backend, clock: Clock, inline: bool) -> None:
    mgr = backend.manager(settings(scripts_write_events=inline), clock=clock)
    raw = backend.raw()
    assert mgr.purge_everyone() == (0, 0, True)  # no epoch: nothing to do
    made = [sign_in(mgr, f"user{i:02d}") for i in range(23)]
    made += [sign_in(mgr, "user00", ua=WINDOWS_EDGE)]
    clock.advance(1)
    mgr.revoke_everyone(actor="admin", reason="breach")
    clock.advance(0.001)
    kept = sign_in(mgr, "user00", ua=WINDOWS_EDGE)
    results = []
    while not (result := mgr.purge_everyone(limit=5)).done or not results:
        results.append(result)
        assert len(results) < 50
    results.append(result)
    assert sum(r.ended for r in results) == 24
    assert [v.session_id for v in mgr.get_active_sessions("user00")] == [kept.session_id]
    for created in made:
        user = created.session.user_id
        assert raw.exists(KEYS.for_user(user).session(created.session_id[16:])) == 0
        assert tombstone_reason(raw, user, created.session_id) == "everyone"
        assert raw.hget(KEYS.for_user(user).record, "s:" + created.session_id[16:]) is None
    revoked = [e for e in mgr.recent_events(500) if e.type == "session_revoked"]
    assert len(revoked) == 24 and {e.details["reason"] for e in revoked} == {"everyone"}
    assert mgr.totals().live_sessions == 1
    assert mgr.purge_everyone() == (0, 0, True)  # done for this epoch
    assert mgr.validate_session(kept.token) is not None
    clock.advance(1)
    mgr.revoke_everyone(actor="admin", reason="again")  # a newer epoch walks again
    assert mgr.purge_everyone(limit=100).ended == 1


def test_an_unreadable_epoch_fails_closed(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = sign_in(mgr)
    backend.raw().set(KEYS.not_before, b"not-a-number")
    fresh = backend.manager(mgr.settings, clock=clock)
    with pytest.raises(StoreUnavailable):
        fresh.validate_session(created.token)
    backend.raw().delete(KEYS.not_before)
    backend.raw().hset(KEYS.not_before, "x", "y")  # another type: Redis refuses the GET
    with pytest.raises(StoreUnavailable):
        fresh.validate_session(created.token)


def test_validate_stays_one_round_trip_with_the_epoch_check(backend: Backend,
                                                            clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    created = sign_in(mgr)
    sent = counting(mgr)
    for _ in range(3):
        assert mgr.validate_session(created.token) is not None
        clock.advance(0.3)
    # one request each; the epoch read rides in the request's own pipeline when it is due
    assert sent == ["Command+epoch", "Command", "Command+epoch"]
    mgr.revoke_everyone(actor="admin", reason="r")
    sent.clear()
    assert mgr.validate_session(created.token) is None
    # a new epoch empties the read path's memos: straight to the script, which ends it
    assert sent == ["Eval"]


# -- probing of a known session id ------------------------------------------------------------


def probing(mgr, created, n: int, *, ip: str = IP_NL) -> list[object]:
    return [mgr.validate_session(f"{created.session_id}.{chr(65 + i % 26) * 43}", ip=ip,
                                 user_agent=WINDOWS_EDGE) for i in range(n)]


def test_wrong_secrets_for_a_live_session_raise_one_medium_finding_per_burst(
        backend: Backend, clock: Clock) -> None:
    rules = DetectionSettings(probe_wrong_secrets=5, probe_window=timedelta(minutes=2))
    mgr = backend.manager(settings(detection=rules), clock=clock)
    created = sign_in(mgr)
    assert probing(mgr, created, 4) == [None] * 4
    assert findings(mgr, "session_probe") == []
    assert probing(mgr, created, 1) == [None]
    [finding] = findings(mgr, "session_probe")
    assert finding.severity == "medium" and finding.session_id == created.session_id
    assert finding.user_id == "alice" and finding.details["ip"] == IP_NL
    assert not any(chr(65 + i) * 43 in str(finding.details) for i in range(26))  # no secret
    for _ in range(5):  # the burst goes on, gaps under the window: still one finding
        clock.advance(100)
        probing(mgr, created, 3)
    assert len(findings(mgr, "session_probe")) == 1
    clock.advance(121)  # a quiet window: the next burst is another finding
    probing(mgr, created, 5)
    assert len(findings(mgr, "session_probe")) == 2
    assert mgr.validate_session(created.token) is not None  # the owner is not affected
    assert mgr.user_alerts("alice")[0].type == "session_probe"


def test_a_probe_is_answered_exactly_as_an_unknown_session(backend: Backend,
                                                           clock: Clock) -> None:
    mgr = backend.manager(settings(detection=DetectionSettings(probe_wrong_secrets=3)),
                          clock=clock)
    created = sign_in(mgr)
    assert mgr.validate_session(created.token) is not None  # this process knows it well
    unknown = sign_in(mgr, "bob")
    mgr.revoke_session("bob", unknown.session_id)
    sent = counting(mgr)
    absent = f"{created.session_id[:16]}ZZZZZZZZZZZ.{'Q' * 43}"
    assert mgr.validate_session(absent, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    route_of_unknown = list(sent)
    sent.clear()
    assert probing(mgr, created, 1) == [None]  # below the threshold
    assert sent == route_of_unknown == ["Eval"]  # same answer, same one request


def test_a_wrong_secret_for_a_session_that_does_not_exist_counts_nothing(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(detection=DetectionSettings(probe_wrong_secrets=2)),
                          clock=clock)
    raw = backend.raw()
    created = sign_in(mgr)
    mgr.revoke_session("alice", created.session_id)
    absent = f"{created.session_id[:16]}ZZZZZZZZZZZ"
    for session_id in (absent, created.session_id):  # never existed; revoked (a tombstone)
        for i in range(6):
            assert mgr.validate_session(f"{session_id}.{str(i) * 43}") is None
        assert raw.exists(KEYS.for_user("alice").probe(session_id[16:])) == 0
    assert findings(mgr, "session_probe") == []


def test_probing_rule_off_counts_nothing(backend: Backend, clock: Clock) -> None:
    rules = DetectionSettings(disabled=frozenset({"session_probe"}), probe_wrong_secrets=2)
    mgr = backend.manager(settings(detection=rules), clock=clock)
    created = sign_in(mgr)
    probing(mgr, created, 6)
    assert findings(mgr, "session_probe") == []
    assert backend.raw().exists(KEYS.for_user("alice").probe(created.session_id[16:])) == 0
