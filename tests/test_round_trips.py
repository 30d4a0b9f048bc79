"""Round trips per operation, counted at the manager's single I/O point.

Each request the core yields (one command, one script, or one pipeline) is one round trip; the
benchmark (bench/bench_store.py) counts the same thing on the socket. Timing is the benchmark's
business; these counts are behaviour and are asserted here.
"""

from __future__ import annotations

from datetime import timedelta

from conftest import IP_US, IPHONE_SAFARI, MAC_CHROME, Backend, Clock, settings


def kind(request) -> str:
    """The request's type; a pipeline that re-reads revoke_everyone's not-before epoch along
    with one request (validate, once per refresh interval) is that request's type + '+epoch'."""
    items = getattr(request, "items", ())
    if len(items) == 2 and getattr(items[0], "args", ())[:2] == ("GET", "sw:nb"):
        return type(items[1]).__name__ + "+epoch"
    return type(request).__name__


def counting(mgr):
    sent: list[str] = []
    original = mgr._execute

    def execute(request):
        sent.append(kind(request))
        return original(request)

    mgr._execute = execute
    return sent


def test_round_trips_per_operation(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(settings(max_sessions=2, touch_interval=timedelta(seconds=60)),
                          clock=clock)
    sent = counting(mgr)
    first = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    # create: one script, which also writes the events and the global indexes
    assert sent == ["Eval"]

    sent.clear()
    clock.advance(1)
    mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_US)  # a new device: an alert
    assert sent == ["Eval", "Batch"]  # the detection rules' findings follow the script
    sent.clear()
    clock.advance(1)
    mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)  # at the limit: evicts first
    assert sent == ["Eval"]

    live = mgr.get_active_sessions("alice")
    sent.clear()
    assert mgr.validate_session(live[0].session_id + ".x") is None  # malformed: no I/O
    assert sent == []
    token = mgr.create_session("bob", user_agent=MAC_CHROME, ip=IP_US).token
    sent.clear()
    for _ in range(10):
        assert mgr.validate_session(token, ip=IP_US, user_agent=MAC_CHROME) is not None
    # seen at its creation, so from the first call: one GET (the first of this process also
    # reads revoke_everyone's epoch, in the same pipeline: still one round trip)
    assert sent == ["Command+epoch"] + ["Command"] * 9

    sent.clear()
    clock.advance(61)
    assert mgr.validate_session(token) is not None
    # a touch is due and this process knows it: the script only (the epoch read is also due)
    assert sent == ["Eval+epoch"]
    sent.clear()
    assert mgr.validate_session(token) is not None
    assert sent == ["Command"]  # touched: back to the read

    other = backend.manager(mgr.settings, clock=clock)  # a process that never saw the session
    sent_by_other = counting(other)
    assert other.validate_session(token) is not None
    assert sent_by_other == ["Eval+epoch"]  # unseen: the script, which also tells it the activity
    sent_by_other.clear()
    assert other.validate_session(token) is not None
    assert sent_by_other == ["Command"]
    sent_by_other.clear()
    clock.advance(61)
    assert other.validate_session(token) is not None
    assert other.validate_session(token) is not None
    assert sent_by_other == ["Eval+epoch", "Command"]  # the touch in one round trip, then the read

    sent.clear()
    mgr.get_active_sessions("alice")
    assert sent == ["Eval"]

    sent.clear()
    assert mgr.validate_session(first.token) is None  # evicted: reported once
    # the script finds the tombstone; the report (the finding script, which also feeds the
    # daemon's alert stream, the user's alert and the totals) follows in one pipeline
    assert sent == ["Eval+epoch", "Batch"]


def test_scripts_flushed_from_the_server_cost_one_extra_round_trip(real_backend: Backend) -> None:
    """After a restart, failover or SCRIPT FLUSH, the first call of each script gets NOSCRIPT and
    sends the source once with EVAL (which caches it): no SCRIPT LOAD + EVALSHA retry."""
    mgr = real_backend.manager()
    raw = real_backend.raw()
    token = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US).token
    raw.script_flush()
    raw.config_resetstat()
    other = real_backend.manager(mgr.settings)  # has not seen the session: the script route
    assert other.validate_session(token) is not None
    stats = raw.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert stats["cmdstat_eval"]["calls"] == 1
    assert "cmdstat_script|load" not in stats
    raw.config_resetstat()
    assert real_backend.manager(mgr.settings).validate_session(token) is not None
    stats = raw.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1 and "cmdstat_eval" not in stats  # cached


def test_deferred_event_writes_follow_each_script(backend: Backend, clock: Clock) -> None:
    """With ``scripts_write_events=False`` (the Cluster way, also for sharding proxies) the
    scripts return their events and the library appends them, and sign-in's global index
    entries, in one pipeline right after: the same events, one more round trip."""
    events_by_mode = {}
    for inline in (True, False):
        backend.raw().flushall()
        mgr = backend.manager(settings(max_sessions=1, scripts_write_events=inline),
                              clock=clock)
        sent = counting(mgr)
        a = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
        clock.advance(1)
        b = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)  # evicts a
        mgr.revoke_session("alice", b.session_id, actor="admin", reason="test")
        assert sent == (["Eval"] * 3 if inline else ["Eval", "Batch"] * 3)
        assert mgr.users() == ["alice"]
        assert [u.user_id for u in mgr.recent_users()] == ["alice"]
        names = {a.session_id: "a", b.session_id: "b"}
        events_by_mode[inline] = [
            (e.type, names[e.session_id],
             {k: names.get(v, v) if isinstance(v, str) else v for k, v in e.details.items()})
            for e in reversed(mgr.recent_events(10))]
        clock.advance(1)
    assert events_by_mode[True] == events_by_mode[False]
    assert [(t, s) for t, s, _ in events_by_mode[True]] == [
        ("login", "a"), ("login", "b"), ("session_evicted", "a"), ("session_revoked", "b")]
    assert events_by_mode[True][2][2]["new_session_id"] == "b"
    assert events_by_mode[True][3][2] == {"actor": "admin", "reason": "test", "ip": IP_US,
                                          "fingerprint": b.session.fingerprint}
