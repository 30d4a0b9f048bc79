"""Fixed data and app builders for the console's tests (pilot, snapshot, end to end)."""

from __future__ import annotations

from typing import Any

from conftest import (
    ANDROID_CHROME,
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    TEST_SECRET,
    WINDOWS_EDGE,
    Clock,
)

from sessionwarden import SessionManager, Settings

# 2026-03-02 09:30:00 UTC: a fixed clock for snapshots
FROZEN = 1772443800.0
HOSTILE_USER = "[bold red]mallory[/]:[link=http://x]y"
HOSTILE_UA = "Mozilla/5.0 \x1b[31mEvil\x1b]0;pwned\x07 (X11; Linux x86_64) Firefox/121.0"


def seed(writer: SessionManager, clock: Clock) -> dict[str, Any]:
    """A small deployment: alice with three sessions (one from a new device in another
    country), bob, a hostile user id and user agent, and one revocation. Session ids are
    fixed (a counter instead of random bits) so snapshots are the same on every run."""
    import itertools
    from unittest import mock

    from sessionwarden.keys import b64

    counter = itertools.count(1)
    with mock.patch("sessionwarden.core.sessions.new_rand",
                    lambda: b64(next(counter).to_bytes(8, "big"))):
        return _seed(writer, clock)


def _seed(writer: SessionManager, clock: Clock) -> dict[str, Any]:
    made: dict[str, Any] = {}
    made["alice_mac"] = writer.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(60)
    made["alice_phone"] = writer.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_NL)
    clock.advance(120)
    made["alice_win"] = writer.create_session("alice", user_agent=WINDOWS_EDGE, ip=IP_JP)
    clock.advance(30)
    made["bob"] = writer.create_session("bob", user_agent=ANDROID_CHROME, ip=IP_US)
    clock.advance(30)
    made["hostile"] = writer.create_session(HOSTILE_USER, user_agent=HOSTILE_UA, ip=IP_NL,
                                            city="[link=x]Ams\x1b[2Jterdam")
    clock.advance(60)
    made["carol"] = writer.create_session("carol", user_agent=MAC_CHROME, ip=IP_JP)
    writer.revoke_session("carol", made["carol"].session_id, actor="admin:zoe",
                          reason="lost laptop")
    clock.advance(90)
    return made


def writer_manager(client: Any, clock: Clock) -> SessionManager:
    return SessionManager(client, Settings(secret=TEST_SECRET), clock=clock)


def operator_manager(client: Any, clock: Clock | None = None) -> SessionManager:
    return SessionManager(client, Settings(), clock=clock)


def make_app(manager: SessionManager, clock: Any, **kw: Any) -> Any:
    from sessionwarden_console.app import ConsoleApp
    from sessionwarden_console.config import ConsoleConfig
    from sessionwarden_console.data import ConsoleData

    config = kw.pop("config", None) or ConsoleConfig(refresh_seconds=0.2)
    return ConsoleApp(ConsoleData(manager, operator=kw.pop("operator", "tester")), config,
                      clock=clock, **kw)


async def settle(pilot: Any, seconds: float = 0.0) -> None:
    """Wait ``seconds`` (only for what a timer brings: a refresh, an animation), then until
    the workers are done and what they posted is handled, a few rounds (a handled result may
    start the next read). Conditions, not fixed pauses: each round costs milliseconds."""
    if seconds:
        await pilot.pause(seconds)
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return


async def until(pilot: Any, condition: Any, timeout: float = 10.0) -> None:
    """Poll ``condition()`` every 20 ms (letting the app run) until it holds; fail after
    ``timeout``. For what a refresh timer brings: no fixed wait."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    await settle(pilot)
