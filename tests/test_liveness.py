"""Liveness comes from each session's own record, never from the caller's `Settings`; a
manager without the deployment secret is an operator manager."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import (
    IP_NL,
    IP_US,
    MAC_CHROME,
    TEST_SECRET,
    Backend,
    Clock,
    record_ms,
    session_record,
)
from conftest import settings as make_settings

from sessionwarden import SecretRequired, Settings
from sessionwarden.settings import SECRET_ENV

DAY = 24 * 3600


def app_settings(**kw: object) -> Settings:
    kw.setdefault("idle_timeout", timedelta(days=30))
    kw.setdefault("absolute_lifetime", timedelta(days=90))
    return make_settings(**kw)


@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def test_the_record_carries_its_idle_window_and_deadline(backend: Backend, clock: Clock) -> None:
    app = backend.manager(app_settings(), clock=clock)
    created = app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    raw = backend.raw()
    key = app.core.keys.for_user("alice").session(created.session_id[16:])
    fields = session_record(raw, key)
    assert record_ms(fields["i"]) == 30 * DAY * 1000
    assert record_ms(fields["e"]) == record_ms(fields["c"]) + 90 * DAY * 1000


def test_reproduction_an_operator_listing_never_deletes_a_session_the_app_holds_live(
        backend: Backend, clock: Clock, no_env_secret: None) -> None:
    """The issue's reproduction: app idle 30 days, session idle 10 days, a listing with default
    Settings (7 days idle) deleted it and the app's next validate returned None."""
    app = backend.manager(app_settings(), clock=clock)
    created = app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(10 * DAY)
    operator = backend.manager(Settings(), clock=clock)
    assert [v.session_id for v in operator.get_active_sessions("alice")] == [created.session_id]
    assert app.validate_session(created.token) is not None


def test_listing_revoking_sweeping_and_signing_in_from_either_manager_keep_the_others_live(
        backend: Backend, clock: Clock) -> None:
    """Two managers with different Settings on one Redis: a 30-day app and a 1-hour one share
    a user. At +10 days only the 1-hour session is dead, whoever looks."""
    long_app = backend.manager(app_settings(), clock=clock)
    short_app = backend.manager(make_settings(idle_timeout=timedelta(hours=1)), clock=clock)
    kept = long_app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    spare = long_app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    short = short_app.create_session("alice", user_agent=MAC_CHROME, ip=IP_NL)
    clock.advance(10 * DAY)

    # the short-idle manager sweeps (the user is due: the 1-hour session's expiry passed)
    assert short_app.sweep_expired() == 1
    # it lists: the 30-day sessions are live for it too
    assert {v.session_id for v in short_app.get_active_sessions("alice")} == {
        kept.session_id, spare.session_id}
    # it revokes one session: the other stays
    assert short_app.revoke_session("alice", spare.session_id) is True
    # it signs the user in again (create prunes by the records, not by its 1-hour window)
    short_app.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    # and the long app still holds its session; the short one is dead for both
    assert long_app.validate_session(kept.token) is not None
    assert long_app.validate_session(short.token) is None
    assert short_app.validate_session(kept.token) is not None
    expired = [e for e in long_app.recent_events(100) if e.type == "session_expired"]
    assert [e.session_id for e in expired] == [short.session_id]  # reported exactly once


def test_a_session_outlives_no_deadline_but_its_own(backend: Backend, clock: Clock) -> None:
    """A reader with a longer window does not keep alive what its record says is dead."""
    short_app = backend.manager(make_settings(idle_timeout=timedelta(hours=1)), clock=clock)
    long_app = backend.manager(app_settings(), clock=clock)
    short = short_app.create_session("bob", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(2 * 3600)
    assert long_app.get_active_sessions("bob") == []
    assert long_app.validate_session(short.token) is None


def test_async_face_judges_by_the_record_too(backend: Backend, clock: Clock) -> None:
    async def scenario() -> None:
        app = backend.async_manager(app_settings(), clock=clock)
        other = backend.async_manager(make_settings(), clock=clock)
        created = await app.create_session("carol", user_agent=MAC_CHROME, ip=IP_US)
        clock.advance(10 * DAY)
        assert [v.session_id for v in await other.get_active_sessions("carol")] == [
            created.session_id]
        assert await other.sweep_expired() == 0
        assert await app.validate_session(created.token) is not None
        await app.aclose()
        await other.aclose()

    asyncio.run(scenario())


# -- the operator face -------------------------------------------------------------------------


def test_an_operator_manager_lists_revokes_and_reads_without_the_secret(
        backend: Backend, no_env_secret: None) -> None:
    app = backend.manager()
    created = app.create_session("dave", user_agent=MAC_CHROME, ip=IP_US, email="d@example.com")
    operator = backend.manager(Settings())
    assert operator.settings.secret is None
    assert operator.core.can_issue is False
    assert operator.users("da") == ["dave"]
    assert [u.user_id for u in operator.recent_users()] == ["dave"]
    assert [d.label for d in operator.known_devices("dave")] == ["Mac/Chrome"]
    assert "login" in [e.type for e in operator.recent_events(10)]
    assert operator.user_email("dave") == "d@example.com"
    assert operator.events_after("0-0").events[0].type == "login"
    assert operator.sweep_expired() == 0
    assert operator.revoke_session("dave", created.session_id, actor="oncall") is True
    assert app.validate_session(created.token) is None


def test_an_operator_manager_refuses_what_needs_the_secret(
        backend: Backend, no_env_secret: None) -> None:
    app = backend.manager()
    created = app.create_session("erin", user_agent=MAC_CHROME, ip=IP_US)
    event_id = app.recent_events(1)[0].id
    operator = backend.manager(Settings())
    with pytest.raises(SecretRequired, match=SECRET_ENV):
        operator.create_session("erin", user_agent=MAC_CHROME, ip=IP_US)
    with pytest.raises(SecretRequired):
        operator.validate_session(created.token)
    with pytest.raises(SecretRequired):
        operator.validate_session("junk")  # a misconfigured app fails loudly, not as "logged out"
    with pytest.raises(SecretRequired):
        operator.create_alert_action(event_id)
    with pytest.raises(SecretRequired):
        operator.revoke_from_alert("x.y")
    # nothing was written by the refused calls
    assert [v.session_id for v in app.get_active_sessions("erin")] == [created.session_id]


def test_an_operator_async_manager_refuses_too(backend: Backend, no_env_secret: None) -> None:
    async def scenario() -> None:
        operator = backend.async_manager(Settings())
        with pytest.raises(SecretRequired):
            await operator.create_session("fred", user_agent=MAC_CHROME, ip=IP_US)
        assert await operator.users() == []
        await operator.aclose()

    asyncio.run(scenario())


def test_no_random_secret_is_ever_generated(no_env_secret: None) -> None:
    assert Settings().secret is None
    assert Settings(production=True).secret is None
    with pytest.raises(ValueError, match="secret: required in production"):
        Settings(production=True).require_secret()
    assert Settings(secret=TEST_SECRET).secret == TEST_SECRET.encode()
