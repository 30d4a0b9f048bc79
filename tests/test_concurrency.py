"""Parallel logins for one user never leave more or fewer than max_sessions."""

from __future__ import annotations

import threading

from conftest import (
    IP_US,
    MAC_CHROME,
    Backend,
    indexed_sessions,
    record_ms,
    session_record,
    settings,
)

from sessionwarden.keys import KeySchema


def test_20_threads_x_5_logins(backend: Backend) -> None:
    mgr = backend.manager(settings(max_sessions=5))
    tokens: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)
    lock = threading.Lock()

    def worker() -> None:
        try:
            start.wait()
            for _ in range(5):
                created = mgr.create_session("dave", user_agent=MAC_CHROME, ip=IP_US)
                with lock:
                    tokens.append(created.token)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(tokens) == 100
    live = [t for t in tokens if mgr.validate_session(t) is not None]
    assert len(live) == 5
    keys = KeySchema("sw").for_user("dave")
    raw = backend.raw()
    members = sorted(indexed_sessions(raw, keys.record))
    session_keys = sorted(k.decode().rsplit(":", 1)[1]
                          for k in raw.scan_iter(match=keys.base.replace("{", "\\{")
                                                 .replace("}", "\\}") + "s:*"))
    assert members == session_keys
    assert len(members) == 5
    events = mgr.recent_events(1000)
    assert sum(e.type == "login" for e in events) == 100
    assert sum(e.type == "session_evicted" for e in events) == 95
    # One expiry-index entry for the user, at or below the earliest live session's expiry.
    score = raw.zscore("sw:exp", keys.tag)
    earliest = min(record_ms(session_record(raw, keys.session(m))["a"]) + mgr.settings.idle_ms
                   for m in members)
    assert score is not None and score <= earliest


def test_bounded_memos_survive_threads_racing_to_evict() -> None:
    """validate's memos (routing hint, decoded records, user agents) are shared by a manager's
    threads; when full, racing evictions must neither raise nor let the memo grow unbounded."""
    import sys
    import threading

    from sessionwarden.core import bounded_put

    memo: dict[str, int] = {}
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for i in range(20_000):
                bounded_put(memo, f"{worker}:{i}", i, 100)
        except BaseException as exc:
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: provoke the races
    try:
        threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    assert 100 <= len(memo) <= 100 + len(threads)
