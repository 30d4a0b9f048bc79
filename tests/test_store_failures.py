"""Store trouble, on real redis-servers: one failure type, no command sent twice, load is not an
outage, a closed manager stays closed (issue #7, item 3).

Destructive tests (maxmemory, replicaof, requirepass) start their own redis-server so the
shared one stays healthy; lost replies and refused connections go through `FaultProxy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import IP_US, MAC_CHROME, TEST_SECRET, Clock, free_port, settings
from faultproxy import FaultProxy

from sessionwarden import (
    AsyncSessionManager,
    ManagerClosed,
    PoolExhausted,
    RedisSettings,
    SessionManager,
    SessionWardenError,
    StoreAuthFailed,
    StoreRefused,
    StoreUnavailable,
)

FAST = RedisSettings(socket_timeout=2, connect_timeout=1)


class OwnRedis:
    """A redis-server of one test's own."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.password = extra[extra.index("--requirepass") + 1] if "--requirepass" in extra \
            else None
        deadline = time.monotonic() + 10
        while True:
            try:
                self.admin().ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    pytest.fail("redis-server did not start")
                time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def admin(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, socket_timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


def _session(mgr: SessionManager, user: str = "alice") -> str:
    return mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US).token


def _load_scripts(admin: redis.Redis) -> None:
    from sessionwarden.scripts import SCRIPTS

    for script in SCRIPTS.values():
        admin.script_load(script.source)


def _calls(admin: redis.Redis, command: str) -> int:
    stats = admin.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


# -- 1. every kind of store trouble is StoreUnavailable ------------------------------------------

def test_out_of_memory_is_store_refused_from_create_and_a_touching_validate(
        own_redis: OwnRedis) -> None:
    clock = Clock()
    mgr = SessionManager.from_url(own_redis.url, settings(), redis=FAST, clock=clock)
    token = _session(mgr)
    admin = own_redis.admin()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    clock.advance(120)  # a touch is due: validate must write
    with pytest.raises(StoreRefused) as caught:
        mgr.validate_session(token)
    assert caught.value.code == "OOM" and "maxmemory" in str(caught.value)
    assert isinstance(caught.value, StoreUnavailable)
    with pytest.raises(StoreUnavailable, match="OOM"):
        _session(mgr, "bob")

    async def scenario() -> None:
        amgr = AsyncSessionManager.from_url(own_redis.url, settings(), redis=FAST, clock=clock)
        with pytest.raises(StoreRefused, match="OOM"):
            await amgr.validate_session(token)
        await amgr.aclose()

    asyncio.run(scenario())
    mgr.close()


def test_read_only_replica_and_master_down_are_store_refused(own_redis: OwnRedis) -> None:
    clock = Clock()
    mgr = SessionManager.from_url(own_redis.url, settings(), redis=FAST, clock=clock)
    token = _session(mgr)
    assert mgr.validate_session(token) is not None  # seen: the next validate is a plain GET
    admin = own_redis.admin()
    admin.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # a master not there
    with pytest.raises(StoreRefused) as caught:
        _session(mgr, "bob")
    assert caught.value.code == "READONLY"
    clock.advance(120)
    with pytest.raises(StoreRefused, match="READONLY"):
        mgr.validate_session(token)  # due a touch: the script writes
    admin.config_set("replica-serve-stale-data", "no")
    with pytest.raises(StoreRefused) as caught:
        mgr.get_active_sessions("alice")
    assert caught.value.code == "MASTERDOWN"
    fresh = SessionManager.from_url(own_redis.url, settings(), redis=FAST, clock=clock)
    with pytest.raises(StoreUnavailable, match="MASTERDOWN"):
        fresh.validate_session(token)
    mgr.close()
    fresh.close()


def test_a_busy_server_is_store_refused(own_redis: OwnRedis) -> None:
    admin = own_redis.admin()
    admin.config_set("busy-reply-threshold", 100)
    mgr = SessionManager.from_url(own_redis.url, settings(), redis=FAST)
    token = _session(mgr)
    spinner = threading.Thread(target=lambda: _swallow(
        lambda: redis.Redis(port=own_redis.port).eval("while true do end", 0)))
    spinner.start()
    time.sleep(0.3)
    try:
        with pytest.raises(StoreRefused) as caught:
            SessionManager.from_url(own_redis.url, settings(), redis=FAST).validate_session(token)
        assert caught.value.code == "BUSY"
    finally:
        admin.script_kill()
        spinner.join()
    mgr.close()


def _swallow(call: Any) -> None:
    with contextlib.suppress(redis.RedisError):
        call()


def test_loading_maps_to_store_refused() -> None:
    # A server that is loading its dataset cannot be produced on demand here; the mapping is
    # checked on the exception redis-py raises for it.
    from sessionwarden.manager import _store_error

    error = _store_error(redis.BusyLoadingError("Redis is loading the dataset in memory"))
    assert isinstance(error, StoreRefused) and error.code == "LOADING"


def test_noauth_is_store_auth_failed_at_once(tmp_path: Path) -> None:
    server = OwnRedis(tmp_path, "--requirepass", "right-password")
    try:
        for url in (server.url, f"redis://:wrong-password@127.0.0.1:{server.port}/0"):
            mgr = SessionManager.from_url(url, settings(), redis=FAST)
            started = time.monotonic()
            with pytest.raises(StoreAuthFailed) as caught:
                mgr.validate_session("A" * 27 + "." + "B" * 43)
            assert time.monotonic() - started < 0.5, "authentication failures are not retried"
            assert caught.value.code == ("NOAUTH" if "wrong" not in url else "WRONGPASS")
            mgr.close()

            async def scenario(url: str = url) -> None:
                amgr = AsyncSessionManager.from_url(url, settings(), redis=FAST)
                started = time.monotonic()
                with pytest.raises(StoreAuthFailed):
                    await amgr.validate_session("A" * 27 + "." + "B" * 43)
                assert time.monotonic() - started < 0.5
                await amgr.aclose()

            asyncio.run(scenario())
        good = SessionManager.from_url(
            f"redis://:right-password@127.0.0.1:{server.port}/0", settings(), redis=FAST)
        assert good.validate_session(_session(good)) is not None
        good.close()
    finally:
        server.stop()


def _garbage_server() -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_a_server_that_is_not_redis_is_store_unavailable() -> None:
    listener, port = _garbage_server()
    try:
        mgr = SessionManager.from_url(f"redis://127.0.0.1:{port}/0", settings(), redis=FAST)
        with pytest.raises(StoreUnavailable, match="protocol"):
            mgr.validate_session("A" * 27 + "." + "B" * 43)
        with pytest.raises(StoreUnavailable):
            mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)

        async def scenario() -> None:
            amgr = AsyncSessionManager.from_url(f"redis://127.0.0.1:{port}/0", settings(),
                                                redis=FAST)
            with pytest.raises(StoreUnavailable, match="protocol"):
                await amgr.validate_session("A" * 27 + "." + "B" * 43)
            await amgr.aclose()

        asyncio.run(scenario())
    finally:
        listener.close()


def test_library_script_errors_stay_script_errors(redis_server: str) -> None:
    from sessionwarden.manager import _script_error, _store_error

    assert _script_error(redis.ResponseError("SWCOLLISION session id")) is not None
    assert isinstance(_store_error(redis.ResponseError("WRONGTYPE Operation")), StoreRefused)


# -- 2. a database that is not a number -----------------------------------------------------------

@pytest.mark.parametrize("url", ["redis://localhost/abc", "redis://localhost:6379/-1",
                                 "redis://localhost/0?db=x", "rediss://localhost/1x"])
def test_a_database_that_is_not_a_number_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="database"):
        SessionManager.from_url(url)
    with pytest.raises(ValueError, match="database"):
        AsyncSessionManager.from_url(url)
    with pytest.raises(ValueError, match="database"):
        RedisSettings(url=url)


def test_tls_files_reach_the_pool_and_need_rediss() -> None:
    rs = RedisSettings(url="rediss://localhost:6380/0", tls_ca_file="/ca.pem",
                       tls_cert_file="/cert.pem", tls_key_file="/key.pem")
    for face in (SessionManager, AsyncSessionManager):
        mgr = face.from_settings(None, rs)
        kwargs = mgr.client.connection_pool.connection_kwargs
        assert (kwargs["ssl_ca_certs"], kwargs["ssl_certfile"], kwargs["ssl_keyfile"]) == (
            "/ca.pem", "/cert.pem", "/key.pem")
        with pytest.raises(ValueError, match="rediss"):
            face.from_url("redis://localhost/0", redis=rs)


# -- 3. no command is ever sent twice -------------------------------------------------------------

def _fill(direct: SessionManager, user: str, n: int) -> list[str]:
    return [direct.create_session(user, user_agent=MAC_CHROME, ip=IP_US).session_id
            for _ in range(n)]


def _event_types(direct: SessionManager, user: str) -> list[str]:
    return [e.type for e in reversed(direct.recent_events(1000)) if e.user_id == user]


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_lost_create_reply_is_store_unavailable_and_the_script_ran_once(
        own_redis: OwnRedis, face: str) -> None:
    direct = SessionManager.from_url(own_redis.url, settings(max_sessions=5), redis=FAST)
    before = _fill(direct, "alice", 4)
    admin = own_redis.admin()
    _load_scripts(admin)  # so the first EVALSHA runs the script (not NOSCRIPT)
    admin.config_resetstat()
    with FaultProxy(own_redis.port, drop_after=(b"EVALSHA", 1)) as proxy:
        if face == "sync":
            mgr = SessionManager.from_url(proxy.url, settings(max_sessions=5), redis=FAST)
            with pytest.raises(StoreUnavailable):
                mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
            mgr.close()
        else:
            async def scenario() -> None:
                amgr = AsyncSessionManager.from_url(proxy.url, settings(max_sessions=5),
                                                    redis=FAST)
                with pytest.raises(StoreUnavailable):
                    await amgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
                await amgr.aclose()

            asyncio.run(scenario())
        assert proxy.dropped.is_set()
        assert proxy.seen[b"EVALSHA"] == 1
    assert (_calls(admin, "evalsha"), _calls(admin, "eval")) == (1, 0)
    live = {v.session_id for v in direct.get_active_sessions("alice")}
    assert len(live) == 5 and set(before) <= live  # nobody evicted
    types = _event_types(direct, "alice")
    assert types.count("login") == 5 and "session_evicted" not in types
    direct.close()


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_lost_revoke_reply_is_store_unavailable(own_redis: OwnRedis, face: str) -> None:
    direct = SessionManager.from_url(own_redis.url, settings(), redis=FAST)
    victim, keeper = _fill(direct, "alice", 2)
    admin = own_redis.admin()
    _load_scripts(admin)  # so the first EVALSHA runs the script (not NOSCRIPT)
    admin.config_resetstat()
    with FaultProxy(own_redis.port, drop_after=(b"EVALSHA", 1)) as proxy:
        if face == "sync":
            mgr = SessionManager.from_url(proxy.url, settings(), redis=FAST)
            with pytest.raises(StoreUnavailable):
                mgr.revoke_session("alice", victim)
            mgr.close()
        else:
            async def scenario() -> None:
                amgr = AsyncSessionManager.from_url(proxy.url, settings(), redis=FAST)
                with pytest.raises(StoreUnavailable):
                    await amgr.revoke_session("alice", victim)
                await amgr.aclose()

            asyncio.run(scenario())
    assert (_calls(admin, "evalsha"), _calls(admin, "eval")) == (1, 0)
    assert [v.session_id for v in direct.get_active_sessions("alice")] == [keeper]
    assert _event_types(direct, "alice").count("session_revoked") == 1
    direct.close()


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("attempts", [1, 3])
def test_connection_attempts_are_bounded(redis_server: str, face: str, attempts: int) -> None:
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    options = RedisSettings(connect_attempts=attempts, connect_timeout=1, socket_timeout=1)
    with FaultProxy(port, refuse_first=1000) as proxy:
        started = time.monotonic()
        _validate_once(face, proxy.url, options, expect=StoreUnavailable)
        assert proxy.connections == attempts
        assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("face", ["sync", "async"])
def test_connecting_is_retried_on_both_faces(redis_server: str, face: str) -> None:
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    with FaultProxy(port, refuse_first=2) as proxy:
        _validate_once(face, proxy.url, RedisSettings(connect_attempts=3), expect=None)
        assert proxy.connections == 3


def _validate_once(face: str, url: str, options: RedisSettings,
                   expect: type[BaseException] | None) -> None:
    token = "A" * 27 + "." + "B" * 43
    if face == "sync":
        mgr = SessionManager.from_url(url, settings(), redis=options)
        if expect is None:
            assert mgr.validate_session(token) is None
        else:
            with pytest.raises(expect):
                mgr.validate_session(token)
        mgr.close()
        return

    async def scenario() -> None:
        amgr = AsyncSessionManager.from_url(url, settings(), redis=options)
        if expect is None:
            assert await amgr.validate_session(token) is None
        else:
            with pytest.raises(expect):
                await amgr.validate_session(token)
        await amgr.aclose()

    asyncio.run(scenario())


# -- 4. load is not an outage ---------------------------------------------------------------------

def test_500_concurrent_async_validates_all_succeed(real_backend: Any) -> None:
    direct = SessionManager.from_url(real_backend.url, settings())
    token = _session(direct)

    async def scenario() -> list[Any]:
        amgr = AsyncSessionManager.from_url(real_backend.url, settings())
        try:
            return await asyncio.gather(*(amgr.validate_session(token) for _ in range(500)),
                                        return_exceptions=True)
        finally:
            await amgr.aclose()

    results = asyncio.run(scenario())
    assert all(r is not None and not isinstance(r, BaseException) for r in results), \
        [r for r in results if isinstance(r, BaseException)][:3]
    direct.close()


def test_200_threads_share_the_sync_pool(real_backend: Any) -> None:
    mgr = SessionManager.from_url(real_backend.url, settings(),
                                  redis=RedisSettings(max_connections=20, pool_timeout=10))
    token = _session(mgr)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            assert mgr.validate_session(token) is not None
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    mgr.close()


def test_a_full_pool_is_pool_exhausted_not_an_outage(real_backend: Any) -> None:
    tiny = RedisSettings(max_connections=1, pool_timeout=0.1, socket_timeout=5)
    mgr = SessionManager.from_url(real_backend.url, settings(), redis=tiny)
    token = _session(mgr)
    holder = threading.Thread(target=lambda: mgr.events_after("$", block_ms=1000))
    holder.start()
    time.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(PoolExhausted, match="pool exhausted") as caught:
        mgr.validate_session(token)
    assert "unavailable" not in str(caught.value).lower()
    assert time.monotonic() - started < 0.6
    holder.join()
    assert mgr.validate_session(token) is not None  # load passed: served again

    async def scenario() -> None:
        amgr = AsyncSessionManager.from_url(real_backend.url, settings(), redis=tiny)
        blocked = asyncio.create_task(amgr.events_after("$", block_ms=1000))
        await asyncio.sleep(0.2)
        with pytest.raises(PoolExhausted, match="pool exhausted"):
            await amgr.validate_session(token)
        await blocked
        assert await amgr.validate_session(token) is not None
        await amgr.aclose()

    asyncio.run(scenario())
    mgr.close()


# -- 5. close while in use ------------------------------------------------------------------------

def test_close_while_threads_use_the_manager(real_backend: Any) -> None:
    direct = SessionManager.from_url(real_backend.url, settings(max_sessions=1000))
    token = _session(direct)
    for round_ in range(40):
        mgr = SessionManager.from_url(real_backend.url, settings(max_sessions=1000))
        user = f"closer-{round_}"
        started, returned = [0], [0]
        foreign: list[BaseException] = []
        stop = threading.Event()

        def work(create: bool, mgr: SessionManager = mgr, user: str = user,
                 started: list[int] = started, returned: list[int] = returned,
                 foreign: list[BaseException] = foreign) -> None:
            while not stop.is_set():
                try:
                    if create:
                        started[0] += 1
                        mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)
                        returned[0] += 1
                    else:
                        mgr.validate_session(token)
                except ManagerClosed:
                    return
                except SessionWardenError:
                    pass
                except BaseException as exc:
                    foreign.append(exc)
                    return

        threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.01)
        mgr.close()
        stop.set()
        for t in threads:
            t.join()
        assert foreign == [], foreign
        live = len(direct.get_active_sessions(user))
        assert returned[0] <= live <= started[0]
        for call in (lambda m=mgr: m.validate_session(token),
                     lambda m=mgr: m.create_session("x", user_agent=None, ip=IP_US),
                     lambda m=mgr: m.recent_events(1)):
            with pytest.raises(ManagerClosed):
                call()
        mgr.close()  # idempotent
    direct.close()


def test_aclose_while_tasks_use_the_manager(real_backend: Any) -> None:
    direct = SessionManager.from_url(real_backend.url, settings(max_sessions=1000))
    token = _session(direct)

    async def round_(n: int) -> tuple[int, int, list[BaseException]]:
        amgr = AsyncSessionManager.from_url(real_backend.url, settings(max_sessions=1000))
        user = f"aclose-{n}"
        counts = [0, 0]
        foreign: list[BaseException] = []

        async def work(create: bool) -> None:
            while True:
                try:
                    if create:
                        counts[0] += 1
                        await amgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)
                        counts[1] += 1
                    else:
                        await amgr.validate_session(token)
                except ManagerClosed:
                    return
                except SessionWardenError:
                    pass
                except BaseException as exc:
                    foreign.append(exc)
                    return

        tasks = [asyncio.create_task(work(i % 2 == 0)) for i in range(8)]
        await asyncio.sleep(0.01)
        await amgr.aclose()
        await asyncio.gather(*tasks)
        with pytest.raises(ManagerClosed):
            await amgr.validate_session(token)
        with pytest.raises(ManagerClosed):
            await amgr.users()
        await amgr.aclose()
        return counts[0], counts[1], foreign

    for n in range(40):
        started, returned, foreign = asyncio.run(round_(n))
        assert foreign == [], foreign
        live = len(direct.get_active_sessions(f"aclose-{n}"))
        assert returned <= live <= started
    direct.close()


def test_a_closed_manager_does_not_reconnect(real_backend: Any) -> None:
    mgr = SessionManager.from_url(real_backend.url, settings())
    token = _session(mgr)
    mgr.close()
    with pytest.raises(ManagerClosed):
        mgr.validate_session(token)
    with pytest.raises(ManagerClosed):
        mgr.validate_session(object())  # even one that needs no I/O
    assert mgr.closed


# -- 6. building from RedisSettings ---------------------------------------------------------------

def test_from_settings_uses_the_redis_settings_url(real_backend: Any) -> None:
    rs = RedisSettings(url=real_backend.url, socket_timeout=1.5, connect_timeout=0.5,
                       max_connections=7, pool_timeout=0.25, connect_attempts=2)
    mgr = SessionManager.from_settings(settings(), rs)
    pool = mgr.client.connection_pool
    assert (pool.max_connections, pool.timeout) == (7, 0.25)
    kwargs = pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.5, 0.5)
    assert kwargs["connect_attempts"] == 2 and mgr.redis_settings is rs
    assert mgr.validate_session(_session(mgr)) is not None
    mgr.close()

    async def scenario() -> None:
        amgr = AsyncSessionManager.from_settings(settings(), rs)
        assert amgr.client.connection_pool.max_connections == 7
        assert await amgr.validate_session("nope") is None
        await amgr.aclose()

    asyncio.run(scenario())
    with pytest.raises(TypeError):
        SessionManager.from_settings(None, {"url": real_backend.url})  # type: ignore[arg-type]


def test_a_bring_your_own_client_still_works(real_backend: Any) -> None:
    mgr = SessionManager(redis.Redis.from_url(real_backend.url), settings(
        touch_interval=timedelta(seconds=60)))
    assert mgr.validate_session(_session(mgr)) is not None
    assert mgr.redis_settings is None
    mgr.close()
    assert TEST_SECRET
