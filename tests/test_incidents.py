"""One incident, one alert — decided atomically by the script that writes the finding
(finding.lua, on the user's incident key in the event stream's slot), on both backends and
both faces of the manager.

The races are driven deterministically: the sans-I/O operations of two requests of one user
are stepped by hand, each request's first round trip (the create script, which reads the
user's state) before either's second (the findings), which is the interleaving where both
used to read "no open incident" and both opened one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from conftest import (
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    LINUX_FIREFOX,
    MAC_CHROME,
    WINDOWS_EDGE,
    Backend,
    Clock,
    settings,
)
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sessionwarden import AsyncSessionManager, DetectionSettings, Event, SessionManager
from sessionwarden.detection import Finding
from sessionwarden.keys import KeySchema
from sessionwarden.protocol import Batch
from sessionwarden.settings import RULE_SEVERITIES, SEVERITIES

MINUTE, HOUR, DAY = 60, 3600, 86400
KEYS = KeySchema("sw")


def make(backend: Backend, clock: Clock, **detection: Any) -> SessionManager:
    # an established account (out of its learning period), as most of the tests need
    detection.setdefault("learning_period", timedelta(seconds=1))
    mgr = backend.manager(settings(detection=DetectionSettings(**detection)), clock=clock)
    mgr.ensure_alert_group()
    return mgr


def findings(mgr: SessionManager, user: str = "alice") -> list[Event]:
    """The user's detection findings, oldest first."""
    return [e for e in reversed(mgr.recent_events(1000))
            if e.type in RULE_SEVERITIES and e.user_id == user]


def delivered(raw: Any, user: str = "alice") -> list[dict[bytes, bytes]]:
    """The alert stream's entries of ``user`` (what the daemon delivers), oldest first."""
    return [fields for _, fields in raw.xrange(KEYS.alerts) if fields[b"user"] == user.encode()]


def _advance(ops: Sequence[Any], replies: dict[int, Any],
             results: dict[int, Any]) -> dict[int, Any]:
    """Send each operation its reply; the next requests of those not yet done."""
    requests = {}
    for i, reply in replies.items():
        try:
            requests[i] = ops[i].send(reply)
        except StopIteration as done:
            results[i] = done.value
    return requests


def round_robin(execute: Callable[[Any], Any], ops: Sequence[Any]) -> list[Any]:
    """Run sans-I/O operations side by side: every operation's n-th round trip before any
    operation's (n+1)-th. Returns their results."""
    results: dict[int, Any] = {}
    requests = {i: next(op) for i, op in enumerate(ops)}
    while requests:
        requests = _advance(ops, {i: execute(r) for i, r in requests.items()}, results)
    return [results[i] for i in range(len(ops))]


async def async_round_robin(execute: Callable[[Any], Awaitable[Any]],
                            ops: Sequence[Any]) -> list[Any]:
    results: dict[int, Any] = {}
    requests = {i: next(op) for i, op in enumerate(ops)}
    while requests:
        requests = _advance(ops, {i: await execute(r) for i, r in requests.items()}, results)
    return [results[i] for i in range(len(ops))]


def owner_at_home(mgr: SessionManager, clock: Clock) -> None:
    """alice's history: her Mac at home, familiar."""
    for day in range(3):
        clock.advance(DAY if day else 0)
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(20 * MINUTE)


def attackers(core: Any) -> list[Any]:
    """Two sign-ins of an attacker from Japan at once, on two new devices (sans-I/O)."""
    return [core.create_session("alice", user_agent=ua, ip=IP_JP)
            for ua in (WINDOWS_EDGE, IPHONE_SAFARI)]


def assert_one_incident_one_alert(mgr: SessionManager, raw: Any) -> None:
    found = findings(mgr)
    # both requests raised findings (the second on its own new device)
    assert {e.details["device"] for e in found if e.type == "new_device"} == {
        "Windows/Edge", "iPhone/Safari"}
    assert len({e.details["incident"] for e in found}) == 1
    assert [e.details["notify"] for e in found].count(True) == 1
    [alert] = delivered(raw)
    assert json.loads(alert[b"d"])["notify"] is True
    # the why on the delivered one only
    assert ["why" in e.details for e in found] == [e.details["notify"] for e in found]


# --------------------------------------------------------------------------- races


def test_two_racing_sign_ins_open_one_incident_and_raise_one_alert(backend: Backend,
                                                                    clock: Clock) -> None:
    mgr = make(backend, clock)
    owner_at_home(mgr, clock)
    round_robin(mgr._execute, attackers(mgr.core))
    assert_one_incident_one_alert(mgr, backend.raw())


def test_two_racing_sign_ins_on_the_asyncio_manager(backend: Backend, clock: Clock) -> None:
    sync = make(backend, clock)
    owner_at_home(sync, clock)

    async def scenario() -> None:
        mgr: AsyncSessionManager = backend.async_manager(sync.settings, clock=clock)
        try:
            await async_round_robin(mgr._execute, attackers(mgr.core))
        finally:
            await mgr.aclose()

    asyncio.run(scenario())
    assert_one_incident_one_alert(sync, backend.raw())


def test_two_managers_racing_in_threads_deliver_opens_and_escalations_only(
        backend: Backend, clock: Clock) -> None:
    """Two processes' managers, four threads each, signing one user in from new devices and
    places at once: all findings join one incident, and what is delivered is exactly, in the
    stream's order, the opening and each finding that raised the incident's severity."""
    first = make(backend, clock)
    owner_at_home(first, clock)
    second = backend.manager(first.settings, clock=clock)
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    agents = [WINDOWS_EDGE, IPHONE_SAFARI, LINUX_FIREFOX]

    def worker(mgr: SessionManager, n: int) -> None:
        try:
            start.wait()
            for i in range(3):
                mgr.create_session("alice", user_agent=agents[(n + i) % 3] + f" w{n}",
                                   ip=(IP_JP, IP_NL)[i % 2])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(mgr, n))
               for n, mgr in enumerate([first, second] * 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = findings(first)
    assert len(found) >= 3 and len({e.details["incident"] for e in found}) == 1
    top = -1
    expected = []
    for event in found:  # the stream's order is the order the script decided them in
        rank = SEVERITIES.index(event.severity)
        expected.append(rank > top)
        top = max(top, rank)
    assert [e.details["notify"] for e in found] == expected
    assert len(delivered(backend.raw())) == sum(expected)


def test_concurrent_sign_ins_on_one_asyncio_manager_join_one_incident(
        backend: Backend, clock: Clock) -> None:
    sync = make(backend, clock)
    owner_at_home(sync, clock)

    async def scenario() -> None:
        mgr = backend.async_manager(sync.settings, clock=clock)
        try:
            await asyncio.gather(*(
                mgr.create_session("alice", user_agent=ua + f" t{n}", ip=IP_JP)
                for n, ua in enumerate([WINDOWS_EDGE, IPHONE_SAFARI] * 4)))
        finally:
            await mgr.aclose()

    asyncio.run(scenario())
    found = findings(sync)
    assert len({e.details["incident"] for e in found}) == 1
    assert 1 <= len(delivered(backend.raw())) == sum(e.details["notify"] for e in found)


# --------------------------------------------------------------------------- the lifecycle


def test_escalation_is_delivered_once_and_a_finding_after_the_window_opens_another(
        backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    raw = backend.raw()
    owner_at_home(mgr, clock)
    clock.advance(DAY)
    mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_NL)  # a trip: low
    [trip] = findings(mgr)
    assert (trip.severity, trip.details["notify"]) == ("low", True)
    clock.advance(HOUR)
    mgr.create_session("alice", user_agent=WINDOWS_EDGE, ip=IP_JP)  # a takeover: escalates
    takeover = findings(mgr)[1:]
    assert {e.severity for e in takeover} <= {"medium", "high", "critical"}
    assert [e.details["notify"] for e in takeover].count(True) == 1
    assert {e.details["incident"] for e in takeover} == {trip.details["incident"]}
    clock.advance(HOUR)
    mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_JP)  # no higher: an event
    again = findings(mgr)[1 + len(takeover):]
    assert again and not any(e.details["notify"] for e in again)
    assert {e.details["incident"] for e in again} == {trip.details["incident"]}
    assert len(delivered(raw)) == 2  # opened, escalated once
    # the incident key: one short string in the event stream's slot, expiring with the window
    stored = raw.get(KEYS.incident(KEYS.for_user("alice").tag)).decode()
    incident_id, opened, last, rank = stored.split("|")
    assert incident_id == trip.details["incident"]
    assert int(last) - int(opened) == 2 * HOUR and int(rank) == max(
        SEVERITIES.index(e.severity) for e in takeover)
    assert 0 < raw.pttl(KEYS.incident(KEYS.for_user("alice").tag)) <= (DAY + 1) * 1000
    assert b"ic" not in raw.hgetall(KEYS.for_user("alice").record)  # the record stays compact
    clock.advance(DAY + 1)  # a quiet incident window later: a new incident, delivered
    mgr.create_session("alice", user_agent=ANDROID_LIKE, ip=IP_NL)
    later = findings(mgr)[1 + len(takeover) + len(again):]
    assert later and later[0].details["notify"] is True
    assert {e.details["incident"] for e in later} != {trip.details["incident"]}
    assert len(delivered(raw)) == 3


ANDROID_LIKE = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36")


def probe(mgr: SessionManager, created: Any, n: int) -> None:
    for i in range(n):
        assert mgr.validate_session(f"{created.session_id}.{chr(65 + i % 26) * 43}", ip=IP_NL,
                                    user_agent=WINDOWS_EDGE) is None


def test_a_session_probe_joins_the_users_incident(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, probe_wrong_secrets=3)
    raw = backend.raw()
    owner = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    probe(mgr, owner, 3)  # alone: it opens the user's incident, and is delivered
    [alone] = findings(mgr)
    assert alone.type == "session_probe" and alone.details["incident"]
    assert alone.details["notify"] is True and len(delivered(raw)) == 1
    bob = mgr.create_session("bob", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(20 * MINUTE)
    mgr.create_session("bob", user_agent=WINDOWS_EDGE, ip=IP_JP)  # a takeover of bob: high
    clock.advance(20 * MINUTE)
    probe(mgr, bob, 3)  # medium, below the open incident: joins it, not delivered again
    bobs = findings(mgr, "bob")
    assert bobs[-1].type == "session_probe"
    assert {e.details["incident"] for e in bobs} == {bobs[0].details["incident"]}
    assert bobs[-1].details["notify"] is False and "why" not in bobs[-1].details
    assert len(delivered(raw, "bob")) == 1
    assert bobs[0].details["incident"] != alone.details["incident"]  # incidents are per user


def test_a_user_record_with_an_incident_of_the_earlier_layout_is_ignored_and_cleaned(
        backend: Backend, clock: Clock) -> None:
    """Before, the open incident was a field of the user record ('ic'). Such a field is not
    read any more (an incident it held is not joined: at most one alert more, once) and the
    next sign-in drops it."""
    mgr = make(backend, clock)
    raw = backend.raw()
    owner_at_home(mgr, clock)
    record = KEYS.for_user("alice").record
    raw.hset(record, "ic", f"deadbeef|{int(clock.now)}|{int(clock.now)}|4")  # critical, now
    mgr.create_session("alice", user_agent=WINDOWS_EDGE, ip=IP_JP)
    found = findings(mgr)
    assert found and {e.details["incident"] for e in found} != {"deadbeef"}
    assert found[0].details["notify"] is True and len(delivered(raw)) == 1
    assert not raw.hexists(record, "ic")


# --------------------------------------------------------------------------- the state machine


_users = itertools.count()
STEPS = st.lists(st.tuples(st.integers(-30, 250), st.sampled_from(SEVERITIES)), min_size=1,
                 max_size=20)
WINDOW = 100  # s


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_deliveries_are_the_openings_and_escalations(backend: Backend,
                                                     steps: list[tuple[int, str]]) -> None:
    """Random findings of one user (time moving by -30..250 s, any severity), written by the
    finding script itself: each joins the incident whose last finding is at most the window
    before it, else opens a new one; the delivered ones (on the alert stream, ``notify``) are
    exactly the openings and the escalations, with the why on those only."""
    mgr = backend.manager(settings(detection=DetectionSettings(
        incident_window=timedelta(seconds=WINDOW))))
    mgr.ensure_alert_group()
    raw = backend.raw()
    user = f"user{next(_users)}"
    at = 1_800_000_000
    expected_new, expected_deliver = [], []
    last = top = None
    for step, severity in steps:
        at += step
        opens = last is None or at - last > WINDOW
        rank = SEVERITIES.index(severity)
        expected_new.append(opens)
        expected_deliver.append(opens or rank > top)
        last, top = (at, rank) if opens else (max(last, at), max(top, rank))
        finding = Finding("new_device", severity, {"reason": "r", "why": ["because"]})
        mgr._execute(Batch(tuple(mgr.core._finding_event(finding, user, None, at * 1000))))
    events = [e for e in reversed(mgr.recent_events(1000)) if e.user_id == user]
    ids = [e.details["incident"] for e in events]
    assert len(events) == len(steps)
    assert [i == 0 or ids[i] != ids[i - 1] for i in range(len(ids))] == expected_new
    assert len(set(ids)) == sum(expected_new)  # a new incident is never an old one
    notified = [e.details["notify"] for e in events]
    assert notified == expected_deliver
    assert ["why" in e.details for e in events] == notified
    assert len(delivered(raw, user)) == sum(notified)
