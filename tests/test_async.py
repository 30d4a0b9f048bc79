"""AsyncSessionManager runs the same operations over redis.asyncio."""

from __future__ import annotations

import asyncio

import pytest
from conftest import IP_US, IPHONE_SAFARI, MAC_CHROME, TEST_SECRET, Backend
from test_round_trips import kind

from sessionwarden import (
    AsyncSessionManager,
    RedisSettings,
    SessionManager,
    Settings,
    StoreUnavailable,
)


def test_async_lifecycle(backend: Backend) -> None:
    async def scenario() -> None:
        mgr = backend.async_manager()
        try:
            laptop = await mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
            await asyncio.sleep(0.003)  # server clock: keep the two sign-ins' activity apart
            phone = await mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_US)
            session = await mgr.validate_session(laptop.token)
            assert session is not None and session.user_id == "alice"
            assert await mgr.validate_session("nonsense") is None
            views = await mgr.get_active_sessions("alice", current_token=phone.token)
            assert [v.session_id for v in views] == [phone.session_id, laptop.session_id]
            assert views[0].current
            assert await mgr.revoke_all_sessions("alice", except_token=phone.token) == 1
            assert await mgr.validate_session(laptop.token) is None
            types = [e.type for e in await mgr.recent_events(10)]
            assert types[0] == "revoked_token_used"
            assert "session_revoked" in types and types.count("login") == 2
            assert await mgr.users("al") == ["alice"]
        finally:
            await mgr.aclose()

    asyncio.run(scenario())


def test_sync_and_async_share_one_store(backend: Backend) -> None:
    sync_mgr: SessionManager = backend.manager()
    created = sync_mgr.create_session("bob", user_agent=MAC_CHROME, ip=IP_US)

    async def check() -> None:
        mgr = backend.async_manager()
        try:
            assert (await mgr.validate_session(created.token)).session_id == created.session_id
            assert await mgr.revoke_session("bob", created.session_id)
        finally:
            await mgr.aclose()

    asyncio.run(check())
    assert sync_mgr.validate_session(created.token) is None


def test_async_parallel_logins_respect_the_limit(backend: Backend) -> None:
    async def scenario() -> None:
        mgr = backend.async_manager(Settings(secret=TEST_SECRET, max_sessions=3))
        try:
            await asyncio.gather(*[
                mgr.create_session("carol", user_agent=MAC_CHROME, ip=IP_US)
                for _ in range(20)
            ])
            assert len(await mgr.get_active_sessions("carol")) == 3
        finally:
            await mgr.aclose()

    asyncio.run(scenario())


def test_async_redis_down_is_store_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        mgr = AsyncSessionManager.from_url(f"redis://127.0.0.1:{port}/0",
                                           Settings(secret=TEST_SECRET),
                                           redis=RedisSettings(socket_timeout=0.5))
        with pytest.raises(StoreUnavailable):
            await mgr.validate_session("A" * 27 + "." + "B" * 43)
        await mgr.aclose()

    asyncio.run(scenario())


def test_async_validate_takes_the_read_and_judges_a_foreign_key_by_script(
        backend: Backend) -> None:
    from sessionwarden.keys import KeySchema

    async def scenario() -> None:
        mgr = backend.async_manager()
        sent: list[str] = []
        original = mgr._execute

        async def counting(request):
            sent.append(kind(request).removesuffix("+epoch"))  # the epoch rides along
            return await original(request)

        mgr._execute = counting
        try:
            created = await mgr.create_session("dora", user_agent=MAC_CHROME, ip=IP_US)
            sent.clear()
            assert (await mgr.validate_session(created.token)).user_id == "dora"
            assert sent == ["Command"]  # seen at creation: the one GET
            key = KeySchema("sw").for_user("dora").session(created.session_id[16:])
            raw = backend.raw()
            raw.delete(key)
            raw.hset(key, "h", "x")  # a hash where the record belongs
            sent.clear()
            assert await mgr.validate_session(created.token) is None
            assert sent == ["Command", "Eval"]  # WRONGTYPE on the read: the script decides
        finally:
            await mgr.aclose()

    asyncio.run(scenario())
