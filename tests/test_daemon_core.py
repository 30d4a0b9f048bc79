"""The core's daemon support on both faces and both backends: the alert stream and its
consumer group (read pending then new, ack, claim from a dead consumer, status and lag),
delivery records, dead letters and re-queueing, retention that never trims an undelivered
alert, the sweep result, heartbeats and the lease."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import IP_JP, IP_NL, IP_US, IPHONE_SAFARI, MAC_CHROME, WINDOWS_EDGE, Backend, settings

from sessionwarden import SessionManager


def alerting_sign_ins(mgr: SessionManager, user: str = "alice") -> None:
    """Three sign-ins that raise findings (new device, new country)."""
    mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)
    mgr.create_session(user, user_agent=IPHONE_SAFARI, ip=IP_NL)
    mgr.create_session(user, user_agent=WINDOWS_EDGE, ip=IP_JP)


def test_findings_reach_the_alert_stream_only_once_a_group_exists(backend: Backend) -> None:
    mgr = backend.manager()
    raw = backend.raw()
    alerting_sign_ins(mgr, "before")
    assert not raw.exists(mgr.core.keys.alerts)  # no daemon: nothing accumulates
    assert mgr.ensure_alert_group() is True
    assert mgr.ensure_alert_group() is False  # idempotent
    alerting_sign_ins(mgr)
    batch = mgr.read_alerts("c1", count=100)
    # one incident: the second sign-in opens it (an alert), the third escalates it (a third
    # country at once: another alert); the other findings of each are events, not alerts
    assert [a.event.severity for a in batch.alerts] == ["high", "critical"]
    findings = [e for e in mgr.recent_events(100) if e.user_id == "alice" and e.severity != "info"]
    assert len(findings) > len(batch.alerts)
    assert {e.details["incident"] for e in findings} == {
        a.event.details["incident"] for a in batch.alerts}
    assert len({a.event.details["incident"] for a in batch.alerts}) == 1
    assert all(a.event.user_id == "alice" and a.event.severity != "info" for a in batch.alerts)
    # the alert names the event's id in the event stream
    event_ids = {e.id for e in mgr.recent_events(100)}
    assert {a.event.id for a in batch.alerts} <= event_ids
    assert mgr.read_alerts("c1", count=100).alerts == []  # nothing new
    # pending entries come back on a re-read from '0' (a restart) until acknowledged
    again = mgr.read_alerts("c1", pending_after="0", count=100)
    assert [a.id for a in again.alerts] == [a.id for a in batch.alerts]
    n = len(batch.alerts)
    status = mgr.alert_status()
    assert (status.exists, status.pending, status.lag) == (True, n, 0)
    assert status.oldest_pending == batch.alerts[0].id
    assert mgr.ack_alerts([a.id for a in batch.alerts[:-1]]) == n - 1
    again = mgr.read_alerts("c1", pending_after="0", count=100)
    assert [a.id for a in again.alerts] == [batch.alerts[-1].id]
    assert mgr.alert_status().pending == 1


def test_claiming_from_a_dead_consumer(backend: Backend) -> None:
    mgr = backend.manager()
    mgr.ensure_alert_group()
    alerting_sign_ins(mgr)
    taken = mgr.read_alerts("dead-one", count=10).alerts
    assert taken
    batch, _cursor = mgr.claim_stale_alerts("alive", min_idle_ms=60_000)
    assert batch.alerts == []  # not idle long enough
    time.sleep(0.05)
    batch, cursor = mgr.claim_stale_alerts("alive", min_idle_ms=10)
    assert [a.id for a in batch.alerts] == [a.id for a in taken]
    assert cursor == "0-0"
    assert mgr.read_alerts("alive", pending_after="0").alerts == batch.alerts
    assert mgr.read_alerts("dead-one", pending_after="0").alerts == []


def test_delivery_records_and_dead_letters(backend: Backend) -> None:
    mgr = backend.manager()
    mgr.ensure_alert_group()
    alerting_sign_ins(mgr)
    first, second = mgr.read_alerts("c1", count=2).alerts
    mgr.record_deliveries([(first.id, "email"), (first.id, "log")])
    assert mgr.record_attempt(first.id, "webhook") == 1
    assert mgr.record_attempt(first.id, "webhook") == 2
    states = mgr.delivery_states([first.id, second.id])
    assert states[first.id].done == {"email": "ok", "log": "ok"}
    assert states[first.id].attempts == {"webhook": 2}
    assert states[second.id].done == {}
    dead_id = mgr.dead_letter(first, "webhook", attempts=2, error="HTTP 500\r\nX-Evil: 1")
    assert mgr.delivery_states([first.id])[first.id].done["webhook"] == "dead"
    [letter] = mgr.dead_letters()
    assert (letter.id, letter.alert_id, letter.sink, letter.attempts) == (
        dead_id, first.id, "webhook", 2)
    assert "\r" not in letter.error and "\n" not in letter.error
    assert letter.event == first.event
    [audit] = [e for e in mgr.audit_trail() if e.kind == "dead_letter"]
    assert audit.details["sink"] == "webhook" and audit.user_id == "alice"
    assert mgr.ack_alerts([first.id, second.id]) == 2
    assert mgr.delivery_states([first.id])[first.id].done == {}  # records go with the ack
    # re-queue: back on the alert stream for that one sink
    assert mgr.requeue_dead_letters() == 1
    assert mgr.dead_letters() == []
    [requeued] = [a for a in mgr.read_alerts("c1", count=100).alerts if a.only]
    assert requeued.only == "webhook"
    assert requeued.event == first.event
    assert any(e.kind == "dead_letter_requeued" for e in mgr.audit_trail())
    assert mgr.requeue_dead_letters(["1-1"]) == 0


def test_retention_never_trims_an_undelivered_alert(backend: Backend) -> None:
    mgr = backend.manager(settings(event_stream_maxlen=100))
    mgr.ensure_alert_group()
    alerting_sign_ins(mgr, "victim")
    # a flood of sign-ins (each a new device for its user after the first) far past the cap
    for i in range(150):
        mgr.create_session(f"flood{i}", user_agent=MAC_CHROME, ip=IP_US)
        mgr.create_session(f"flood{i}", user_agent=IPHONE_SAFARI, ip=IP_NL)
    assert len(mgr.recent_events(10_000)) < 400  # the event stream was capped
    far_future = int(time.time() * 1000) + 10**9
    reply = mgr.trim_alerts(far_future)
    assert reply.trimmed == 0  # nothing read yet: nothing may go
    seen = []
    while batch := mgr.read_alerts("c1", count=100).alerts:
        seen += batch
    assert {a.event.user_id for a in seen} >= {"victim", "flood0", "flood149"}
    victim = [a for a in seen if a.event.user_id == "victim"]
    assert len(victim) == 2  # one incident: opened, escalated once
    mgr.ack_alerts([a.id for a in seen[:10]])
    reply = mgr.trim_alerts(far_future)
    assert reply.trimmed == 10  # up to the oldest pending entry, not one more
    assert reply.bound == seen[10].id
    rest = mgr.read_alerts("c1", pending_after="0", count=1000).alerts
    assert [a.id for a in rest] == [a.id for a in seen[10:]]
    mgr.ack_alerts([a.id for a in rest])
    assert mgr.trim_alerts(0).trimmed == 0  # the age cutoff binds too


def test_a_trimmed_event_still_gets_its_alert_link(backend: Backend) -> None:
    mgr = backend.manager(settings(event_stream_maxlen=100))
    mgr.ensure_alert_group()
    alerting_sign_ins(mgr)
    for i in range(300):
        mgr.create_session(f"flood{i}", user_agent=MAC_CHROME, ip=IP_US)
    alert = mgr.read_alerts("c1", count=1).alerts[0]
    with pytest.raises(ValueError, match="no such event"):
        mgr.create_alert_action(alert.event.id)
    token = mgr.alert_action_for(alert.event)
    assert mgr.revoke_from_alert(token) == 1


def test_history_retention(backend: Backend) -> None:
    mgr = backend.manager()
    alerting_sign_ins(mgr)
    mgr.record_audit("note", actor="x")
    far_future = int(time.time() * 1000) + 10**9
    _events, audit = mgr.trim_history(events_before_ms=far_future)
    assert audit == 0 and mgr.audit_trail()
    assert mgr.trim_history() == (0, 0)


def test_sweep_result_says_what_is_still_due(backend: Backend, clock) -> None:
    from datetime import timedelta
    mgr = backend.manager(settings(idle_timeout=timedelta(seconds=60),
                                        touch_interval=timedelta(seconds=10)), clock=clock)
    for i in range(7):
        mgr.create_session(f"u{i}", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(120)
    first = mgr.sweep_due(limit=5)
    assert (first.expired, first.users_swept, first.still_due) == (5, 5, 2)
    second = mgr.sweep_due(limit=5)
    assert (second.expired, second.users_swept, second.still_due) == (2, 2, 0)
    assert mgr.sweep_due().users_swept == 0


def test_heartbeat(backend: Backend) -> None:
    mgr = backend.manager()
    assert mgr.heartbeats() == []
    mgr.write_heartbeat("host:1", {"version": "0.1.0", "lag": 0}, ttl_ms=10_000)
    mgr.write_heartbeat("host:2", {"version": "0.1.0"}, ttl_ms=100)
    time.sleep(0.25)
    [beat] = mgr.heartbeats()  # host:2's expired: it is down
    assert (beat.instance, beat.state) == ("host:1", {"version": "0.1.0", "lag": 0})
    mgr.clear_heartbeat("host:1")
    assert mgr.heartbeats() == []
    with pytest.raises(ValueError, match=r"^instance:"):
        mgr.write_heartbeat("bad key*", {}, ttl_ms=1000)
    with pytest.raises(ValueError, match=r"^state:"):
        mgr.write_heartbeat("h", {"x": object()}, ttl_ms=1000)


def test_lease(backend: Backend) -> None:
    mgr = backend.manager()
    assert mgr.acquire_lease("sweep", "a", ttl_ms=200)
    assert not mgr.acquire_lease("sweep", "b", ttl_ms=200)
    assert mgr.acquire_lease("sweep", "a", ttl_ms=200)  # renewed
    assert not mgr.release_lease("sweep", "b")
    assert mgr.release_lease("sweep", "a")
    assert mgr.acquire_lease("sweep", "b", ttl_ms=100)
    time.sleep(0.25)
    assert mgr.acquire_lease("sweep", "a", ttl_ms=100)  # b stopped renewing: a takes over


def test_bad_arguments_are_refused(backend: Backend) -> None:
    mgr = backend.manager()
    with pytest.raises(ValueError, match=r"^group:"):
        mgr.ensure_alert_group("bad group")
    with pytest.raises(ValueError, match=r"^consumer:"):
        mgr.read_alerts("x y")
    with pytest.raises(ValueError, match=r"^ids:"):
        mgr.ack_alerts(["nope"])
    with pytest.raises(ValueError, match=r"^block_ms:"):
        mgr.read_alerts("c", block_ms=0)


def test_async_face(backend: Backend) -> None:
    async def scenario() -> None:
        mgr = backend.async_manager()
        assert await mgr.ensure_alert_group()
        for user in ("amy", "bea"):  # two incidents: two alerts
            await mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)
            await mgr.create_session(user, user_agent=IPHONE_SAFARI, ip=IP_NL)
        batch = await mgr.read_alerts("c1", block_ms=100)
        assert [a.event.user_id for a in batch.alerts] == ["amy", "bea"]
        await mgr.record_deliveries([(batch.alerts[0].id, "log")])
        assert await mgr.record_attempt(batch.alerts[1].id, "email") == 1
        await mgr.dead_letter(batch.alerts[1], "email", attempts=1, error="down")
        assert len(await mgr.dead_letters()) == 1
        assert await mgr.ack_alerts([a.id for a in batch.alerts]) == len(batch.alerts)
        assert (await mgr.alert_status()).pending == 0
        assert await mgr.requeue_dead_letters() == 1
        assert (await mgr.trim_alerts(0)).trimmed == 0
        assert (await mgr.sweep_due()).users_swept == 0
        await mgr.write_heartbeat("h:1", {"ok": True}, ttl_ms=5000)
        assert [b.instance for b in await mgr.heartbeats()] == ["h:1"]
        assert await mgr.acquire_lease("sweep", "me", ttl_ms=1000)
        assert await mgr.release_lease("sweep", "me")
        token = await mgr.alert_action_for(batch.alerts[0].event)
        assert await mgr.revoke_from_alert(token) == 1
        await mgr.aclose()

    asyncio.run(scenario())
