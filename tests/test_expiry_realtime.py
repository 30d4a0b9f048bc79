"""Expiry held by Redis itself, with second-scale settings and the server's own clock.

No clock is injected here: the session keys must disappear because Redis expires them, and a
session kept busy must still die at its absolute lifetime.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from conftest import IP_US, MAC_CHROME, Backend, settings

from sessionwarden.keys import KeySchema

pytestmark = pytest.mark.slow

FAST = dict(idle_timeout=timedelta(seconds=1), absolute_lifetime=timedelta(seconds=3),
            touch_interval=timedelta(milliseconds=100))


def test_idle_session_key_is_expired_by_redis(backend: Backend) -> None:
    mgr = backend.manager(settings(**FAST))
    created = mgr.create_session("erin", user_agent=MAC_CHROME, ip=IP_US)
    key = KeySchema("sw").for_user("erin").session(created.session_id[16:])
    raw = backend.raw()
    assert raw.exists(key)
    time.sleep(1.3)
    assert not raw.exists(key)  # gone without any daemon or read
    assert mgr.validate_session(created.token) is None


def test_activity_never_outlives_absolute_lifetime(backend: Backend) -> None:
    mgr = backend.manager(settings(**FAST))
    created = mgr.create_session("erin", user_agent=MAC_CHROME, ip=IP_US)
    started = time.monotonic()
    alive_until = None
    while time.monotonic() - started < 4.5:
        if mgr.validate_session(created.token) is None:
            alive_until = time.monotonic() - started
            break
        time.sleep(0.2)
    assert alive_until is not None, "session outlived its absolute lifetime"
    assert 2.7 <= alive_until <= 3.5


def test_sweep_reports_redis_expired_session(backend: Backend) -> None:
    mgr = backend.manager(settings(**FAST))
    created = mgr.create_session("erin", user_agent=MAC_CHROME, ip=IP_US)
    time.sleep(1.2)
    assert mgr.sweep_expired() == 1
    [event] = [e for e in mgr.recent_events(10) if e.type == "session_expired"]
    assert (event.session_id, event.user_id) == (created.session_id, "erin")
    assert mgr.sweep_expired() == 0
