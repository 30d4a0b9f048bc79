"""What the console needs from the core, on both faces and both backends: directory pages
with a cursor, a user's own alerts, totals kept by the scripts (and by the library after them
on a Cluster), and a stream tail that reads without a consumer group."""

from __future__ import annotations

import asyncio

import pytest
from conftest import (
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    WINDOWS_EDGE,
    Backend,
    Clock,
    settings,
)

from sessionwarden import SessionManager
from sessionwarden.keys import KeySchema


def login(mgr: SessionManager, user: str, ua: str = MAC_CHROME, ip: str = IP_US):
    return mgr.create_session(user, user_agent=ua, ip=ip)


@pytest.fixture(params=["inline", "returned"])
def events_mode(request: pytest.FixtureRequest) -> bool:
    """Scripts write events and totals themselves (standalone) or the library does after them
    (the Cluster way)."""
    return request.param == "inline"


def test_users_page_recent_first_with_cursor(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    for i in range(7):
        login(mgr, f"user{i}")
        clock.advance(1)
    first = mgr.users_page(limit=3)
    assert [r.user_id for r in first.rows] == ["user6", "user5", "user4"]
    assert first.cursor is not None
    second = mgr.users_page(after=first.cursor, limit=3)
    third = mgr.users_page(after=second.cursor, limit=3)
    assert [r.user_id for r in second.rows] == ["user3", "user2", "user1"]
    assert [r.user_id for r in third.rows] == ["user0"] and third.cursor is None
    row = first.rows[0]
    assert (row.sessions, row.devices, row.alerts_24h) == (1, 1, 0)
    assert row.last_active_at is not None
    assert int(row.last_active_at.timestamp()) == int(clock.now) - 1


def test_users_page_ties_are_not_repeated_or_lost(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    for i in range(5):
        login(mgr, f"tie{i}")  # the same millisecond: equal scores
    seen, cursor = [], None
    while True:
        page = mgr.users_page(after=cursor, limit=2)
        seen += [r.user_id for r in page.rows]
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == [f"tie{i}" for i in range(5)] and len(seen) == 5


def test_users_page_prefix_pages_through_the_directory(backend: Backend) -> None:
    mgr = backend.manager()
    for name in ["bob", "alice", "al:x", "alfred", "albert", "zed"]:
        login(mgr, name)
    first = mgr.users_page("al", limit=2)
    assert [r.user_id for r in first.rows] == ["al:x", "albert"]
    rest = mgr.users_page("al", after=first.cursor, limit=5)
    assert [r.user_id for r in rest.rows] == ["alfred", "alice"] and rest.cursor is None
    assert mgr.users_page("nobody").rows == []
    with pytest.raises(ValueError, match="after"):
        mgr.users_page("al", after="r1:x")
    with pytest.raises(ValueError, match="limit"):
        mgr.users_page(limit=501)


def test_user_alerts_and_counts(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    login(mgr, "carol")
    login(mgr, "carol", IPHONE_SAFARI, IP_NL)  # new device (low), new country (medium)
    login(mgr, "dave")
    alerts = mgr.user_alerts("carol")
    assert {a.type for a in alerts} >= {"new_device", "new_country"}
    assert all(a.severity != "info" for a in alerts)
    assert all(a.user_id == "carol" for a in alerts)
    assert mgr.user_alerts("dave") == []
    rows = {r.user_id: r for r in mgr.users_page("").rows}
    assert rows["carol"].alerts_24h == len(alerts)
    assert (rows["carol"].sessions, rows["carol"].devices) == (2, 2)
    clock.advance(86_400 + 1)
    assert {r.user_id: r for r in mgr.users_page("c").rows}["carol"].alerts_24h == 0


def test_totals_are_kept_exact(backend: Backend, clock: Clock, events_mode: bool) -> None:
    mgr = backend.manager(settings(max_sessions=2, scripts_write_events=events_mode),
                          clock=clock)
    clock.now = clock.now // 60 * 60  # the start of a minute: every sign-in below is in it
    assert mgr.totals().live_sessions == 0
    a1 = login(mgr, "erin")
    clock.advance(1)
    login(mgr, "erin", IPHONE_SAFARI)
    clock.advance(1)
    login(mgr, "erin", WINDOWS_EDGE)  # evicts the least recent: still 2
    login(mgr, "frank", ip=IP_JP)
    clock.now -= 2  # back to the minute of the first sign-in
    totals = mgr.totals()
    assert (totals.users, totals.live_sessions) == (2, 3)
    assert totals.logins_per_minute[-1] == 4 and sum(totals.logins_per_minute) == 4
    assert len(totals.logins_per_minute) == len(totals.alerts_per_minute) == 60
    assert totals.alerts_last_hour == sum(totals.alerts_per_minute) >= 2  # new devices
    assert mgr.revoke_session("erin", a1.session_id) is False  # the evicted one: no change
    assert mgr.revoke_all_sessions("erin", actor="t") == 2
    assert mgr.totals().live_sessions == 1
    clock.advance(61)  # the sign-ins move one minute back
    assert mgr.totals().logins_per_minute[-2:] == (4, 0)
    clock.advance(3600)
    later = mgr.totals()
    assert sum(later.logins_per_minute) == 0 and later.alerts_last_hour == 0
    login(mgr, "frank", IPHONE_SAFARI)  # the ring slot of an old minute starts again
    assert mgr.totals().logins_per_minute[-1] == 1


def test_expiry_reported_by_the_sweep_lowers_live(backend: Backend, clock: Clock,
                                                  events_mode: bool) -> None:
    from datetime import timedelta

    mgr = backend.manager(settings(idle_timeout=timedelta(minutes=5),
                                   scripts_write_events=events_mode), clock=clock)
    login(mgr, "gina")
    login(mgr, "hank")
    assert mgr.totals().live_sessions == 2
    clock.advance(301)
    assert mgr.sweep_expired() == 2
    assert mgr.totals().live_sessions == 0
    assert mgr.get_active_sessions("gina") == []  # reported once: no second decrement
    assert mgr.totals().live_sessions == 0


def test_stats_hash_stays_bounded(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(), clock=clock)
    for _ in range(300):  # five hours of one sign-in a minute
        login(mgr, "ivy", IPHONE_SAFARI)
        clock.advance(60)
    raw = backend.raw()
    assert raw.hlen(KeySchema("sw").stats) <= 1 + 120 + 120


def test_tail_does_not_touch_consumer_groups(backend: Backend) -> None:
    mgr = backend.manager()
    raw = backend.raw()
    login(mgr, "jack")
    raw.xgroup_create("sw:events", "daemon", id="0")
    page = mgr.events_after("0-0")
    assert [e.type for e in page.events] == ["login"]
    group = raw.xinfo_groups("sw:events")[0]
    assert group["pending"] == 0 and group["last-delivered-id"] in (b"0-0", "0-0")


def test_async_face(backend: Backend) -> None:
    async def run() -> None:
        amgr = backend.async_manager()
        await amgr.create_session("kim", user_agent=MAC_CHROME, ip=IP_US)
        await amgr.create_session("kim", user_agent=IPHONE_SAFARI, ip=IP_NL)
        page = await amgr.users_page("k")
        assert [r.user_id for r in page.rows] == ["kim"] and page.rows[0].sessions == 2
        assert (await amgr.users_page()).rows[0].user_id == "kim"
        assert {a.type for a in await amgr.user_alerts("kim")} >= {"new_device"}
        totals = await amgr.totals()
        assert (totals.users, totals.live_sessions) == (1, 2)
        await amgr.aclose()

    asyncio.run(run())
