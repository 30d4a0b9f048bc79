"""How the managers reach Redis: address, timeouts, pool and TLS, validated at construction.

Kept apart from `Settings` (how sessions live and die): the same sessions are reached by
processes with different connection needs (a web app's pool, the daemon's blocking reads, an
operator's one-off CLI), and none of these may change which sessions are alive.
"""

from __future__ import annotations

import asyncio
import queue
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.connection as aioconn
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_URL = "redis://localhost:6379/0"


def _positive_seconds(name: str, value: object, top: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= top:
        raise ValueError(f"{name}: must be a number of seconds above 0 and at most {top}, "
                         f"got {value!r}")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Connection options of a manager.

    ``socket_timeout`` bounds every reply, ``connect_timeout`` every connection attempt.
    ``connect_attempts`` counts attempts to *connect* (a command that may have run is never
    sent again). ``max_connections`` caps the pool; a caller that finds it full waits up to
    ``pool_timeout`` for a free connection before `PoolExhausted` (load, not an outage).
    The ``tls_*`` files apply to ``rediss://`` URLs (redis-py's ``ssl_ca_certs``,
    ``ssl_certfile``, ``ssl_keyfile``). Any value out of range raises ``ValueError`` naming the
    field; so does a ``url`` that `check_url` refuses.
    """

    url: str = DEFAULT_URL
    socket_timeout: float = 2.0
    connect_timeout: float = 2.0
    connect_attempts: int = 3
    max_connections: int = 100
    pool_timeout: float = 1.0
    health_check_interval: float = 30.0
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    def __post_init__(self) -> None:
        check_url(self.url)
        _positive_seconds("socket_timeout", self.socket_timeout, 60)
        _positive_seconds("connect_timeout", self.connect_timeout, 60)
        _positive_seconds("pool_timeout", self.pool_timeout, 60)
        _positive_seconds("health_check_interval", self.health_check_interval, 3600)
        for name, top in (("connect_attempts", 10), ("max_connections", 10_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"{name}: must be an integer from 1 to {top}, got {value!r}")
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name}: must be a file path or absent")



# -- building clients from RedisSettings --------------------------------------------------------
#
# redis-py applies a client's ``Retry`` to each command's send *and* reply (and nests it inside
# connecting), so a command whose reply was lost would be sent again: a create or a revoke that
# ran could run twice. The pools built here give redis-py a Retry of zero retries everywhere
# and retry only *connecting* (no command has been sent on a connection that is not yet
# established), up to ``connect_attempts`` attempts with a short backoff. A health-check PING
# that fails before a command is sent reconnects the same way. Authentication failures, and a
# server that does not speak Redis, are never retried.

_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 0.25
_REFUSED_AT_CONNECT = (redis.AuthenticationError, redis.exceptions.AuthorizationError,
                       redis.BusyLoadingError, redis.exceptions.ExternalAuthProviderError)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed connection attempt ``attempt`` (1-based): 50 ms, 100 ms,
    200 ms, then 250 ms."""
    return float(min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))


def _retryable(exc: BaseException) -> bool:
    """A connection attempt that failed for a reason another attempt may not meet."""
    return (isinstance(exc, redis.ConnectionError | redis.TimeoutError)
            and not isinstance(exc, _REFUSED_AT_CONNECT) and not isinstance(exc, PoolTimeout))


def _without_password(url: str) -> str:
    """The URL for an error message: any password in it replaced by ``***``."""
    return re.sub(r"(?i)^([a-z][a-z0-9+.-]*://[^:/@]*:)[^@]*@", r"\1***@", url)[:200]


def check_url(url: object) -> str:
    """Validate a Redis URL and return its scheme (``redis``, ``rediss`` or ``unix``).

    ``ValueError`` for anything else: not a string, another scheme, no host, or a database
    (the path of ``redis://host/N``, or ``?db=N``) that is not a non-negative integer; redis-py
    itself would quietly use database 0 for ``redis://host/abc``.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("url: must be a redis://, rediss:// or unix:// URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError("url: not a Redis URL (redis://, rediss:// or unix://): "
                         f"{_without_password(url)!r}")
    dbs = parse_qs(parts.query).get("db", [])
    if scheme == "unix":
        if not parts.path:
            raise ValueError("url: a unix:// Redis URL needs a socket path")
    else:
        if not parts.hostname:
            raise ValueError(f"url: no host in the Redis URL {_without_password(url)!r}")
        path = unquote(parts.path).strip("/")
        if path:
            dbs.append(path)
    for db in dbs:
        if not db.isascii() or not db.isdigit():
            raise ValueError("url: the database of a Redis URL must be a number "
                             f"(redis://host:6379/0), got {db!r}")
    return scheme


class PoolTimeout(redis.ConnectionError):
    """No connection of the pool came free within ``pool_timeout`` (told apart from Redis
    being down; the managers turn it into `PoolExhausted`). Nothing was sent."""


class _ConnectOnly:
    """Mixin for redis-py's blocking connection classes: connecting is retried, nothing else."""

    def __init__(self, *args: Any, connect_attempts: int = 3, **kwargs: Any) -> None:
        self.connect_attempts = connect_attempts
        self._connecting = False
        super().__init__(*args, **kwargs)

    def connect_check_health(self, check_health: bool = True,
                             retry_socket_connect: bool = True) -> None:
        attempt = 1
        while True:
            self._connecting = True
            try:
                super().connect_check_health(  # type: ignore[misc]
                    check_health=check_health, retry_socket_connect=False)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt >= self.connect_attempts or not _retryable(exc):
                    raise
            finally:
                self._connecting = False
            self.disconnect()  # type: ignore[attr-defined]
            time.sleep(backoff(attempt))
            attempt += 1

    def check_health(self) -> None:
        # Runs before a command is sent: a stale connection is replaced, the command not lost.
        # (Not while connecting: the attempt loop above is in charge then.)
        try:
            super().check_health()  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if self._connecting or not _retryable(exc):
                raise
            self.disconnect()  # type: ignore[attr-defined]
            self.connect_check_health(check_health=False)
            interval = self.health_check_interval  # type: ignore[attr-defined]
            self.next_health_check = time.monotonic() + interval


class _AsyncConnectOnly:
    """As `_ConnectOnly`, for ``redis.asyncio`` connection classes."""

    def __init__(self, *args: Any, connect_attempts: int = 3, **kwargs: Any) -> None:
        self.connect_attempts = connect_attempts
        self._connecting = False
        super().__init__(*args, **kwargs)

    async def connect_check_health(self, check_health: bool = True,
                                   retry_socket_connect: bool = True) -> None:
        attempt = 1
        while True:
            self._connecting = True
            try:
                await super().connect_check_health(  # type: ignore[misc]
                    check_health=check_health, retry_socket_connect=False)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt >= self.connect_attempts or not _retryable(exc):
                    raise
            finally:
                self._connecting = False
            await self.disconnect()  # type: ignore[attr-defined]
            await asyncio.sleep(backoff(attempt))
            attempt += 1

    async def check_health(self) -> None:
        try:
            await super().check_health()  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if self._connecting or not _retryable(exc):
                raise
            await self.disconnect()  # type: ignore[attr-defined]
            await self.connect_check_health(check_health=False)
            interval = self.health_check_interval  # type: ignore[attr-defined]
            self.next_health_check = asyncio.get_running_loop().time() + interval


class _Conn(_ConnectOnly, redis.Connection):
    pass


class _SSLConn(_ConnectOnly, redis.SSLConnection):
    pass


class _UnixConn(_ConnectOnly, redis.UnixDomainSocketConnection):
    pass


class _AsyncConn(_AsyncConnectOnly, aioconn.Connection):
    pass


class _AsyncSSLConn(_AsyncConnectOnly, aioconn.SSLConnection):
    pass


class _AsyncUnixConn(_AsyncConnectOnly, aioconn.UnixDomainSocketConnection):
    pass


_SYNC_CLASSES: dict[str, type[Any]] = {"redis": _Conn, "rediss": _SSLConn, "unix": _UnixConn}
_ASYNC_CLASSES: dict[str, type[Any]] = {"redis": _AsyncConn, "rediss": _AsyncSSLConn,
                                        "unix": _AsyncUnixConn}


class _Pool(redis.BlockingConnectionPool):
    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_connection(*args, **kwargs)
        except redis.ConnectionError as exc:
            if isinstance(exc.__context__, queue.Empty):
                raise PoolTimeout(_exhausted(self)) from exc
            raise


class _AsyncPool(aioredis.BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)
        except redis.ConnectionError as exc:
            if isinstance(exc.__cause__, asyncio.TimeoutError | TimeoutError):
                raise PoolTimeout(_exhausted(self)) from exc
            raise


def _exhausted(pool: Any) -> str:
    return (f"connection pool exhausted: all {pool.max_connections} connections stayed busy "
            f"for {pool.timeout} s (this process is overloaded or its pool too small; "
            "Redis was not found down)")


def _pool_kwargs(url: str, settings: RedisSettings) -> tuple[str, dict[str, Any]]:
    scheme = check_url(url)
    tls = {"ssl_ca_certs": settings.tls_ca_file, "ssl_certfile": settings.tls_cert_file,
           "ssl_keyfile": settings.tls_key_file}
    tls = {k: v for k, v in tls.items() if v is not None}
    if tls and scheme != "rediss":
        raise ValueError("tls_ca_file/tls_cert_file/tls_key_file: apply to rediss:// URLs only, "
                         f"got a {scheme}:// URL")
    return scheme, {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "max_connections": settings.max_connections,
        "timeout": settings.pool_timeout,
        "decode_responses": False,
        "health_check_interval": settings.health_check_interval,
        "retry_on_error": [],
        "connect_attempts": settings.connect_attempts,
        **tls,
    }


def sync_client(url: str, settings: RedisSettings) -> redis.Redis:
    """A ``redis.Redis`` for `SessionManager` over a blocking pool of
    ``settings.max_connections`` that waits up to ``pool_timeout`` for a free connection and
    retries connecting only. ``ValueError`` for a bad URL (see `check_url`) or TLS files with
    a URL that is not ``rediss://``."""
    scheme, kwargs = _pool_kwargs(url, settings)
    pool = _Pool.from_url(url, connection_class=_SYNC_CLASSES[scheme],
                          retry=Retry(NoBackoff(), 0), **kwargs)
    return redis.Redis.from_pool(pool)


def async_client(url: str, settings: RedisSettings) -> aioredis.Redis:
    """As `sync_client`, a ``redis.asyncio.Redis`` for `AsyncSessionManager`."""
    scheme, kwargs = _pool_kwargs(url, settings)
    pool = _AsyncPool.from_url(url, connection_class=_ASYNC_CLASSES[scheme],
                               retry=AsyncRetry(NoBackoff(), 0), **kwargs)
    return aioredis.Redis.from_pool(pool)
