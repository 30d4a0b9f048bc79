"""How the managers reach Redis: address, timeouts, pool and TLS, validated at construction.

Kept apart from `Settings` (how sessions live and die): the same sessions are reached by
processes with different connection needs (a web app's pool, the daemon's blocking reads, an
operator's one-off CLI), and none of these may change which sessions are alive.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    The ``tls_*`` files apply to ``rediss://`` URLs.
    """

    url: str = DEFAULT_URL
    socket_timeout: float = 2.0
    connect_timeout: float = 2.0
    connect_attempts: int = 3
    max_connections: int = 100
    pool_timeout: float = 1.0
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise ValueError("url: must be a redis://, rediss:// or unix:// URL")
        _positive_seconds("socket_timeout", self.socket_timeout, 60)
        _positive_seconds("connect_timeout", self.connect_timeout, 60)
        _positive_seconds("pool_timeout", self.pool_timeout, 60)
        for name, top in (("connect_attempts", 10), ("max_connections", 10_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"{name}: must be an integer from 1 to {top}, got {value!r}")
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name}: must be a file path or absent")
