"""Test backends: every store test runs on fakeredis and on a real redis-server.

The real server is started by the test session itself on a free loopback port. When
``redis-server`` is missing the real-backend tests are skipped, unless
``SESSIONWARDEN_REQUIRE_REDIS=1`` (set by ``.ci/run``), which turns a missing server into a
failure: CI never reports a skipped backend as a pass.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio as aioredis

from sessionwarden import AsyncSessionManager, SessionManager, Settings

REQUIRE_REAL = os.environ.get("SESSIONWARDEN_REQUIRE_REDIS") == "1"
TEST_SECRET = "test-secret-" + "0123456789abcdef" * 3

MAC_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36")
MAC_CHROME_NEWER = MAC_CHROME.replace("Chrome/119", "Chrome/121")
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
WINDOWS_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
                " Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91")
ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36")
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"

# Public addresses whose registry country is stable (checked in tests/test_geo.py).
IP_US = "8.8.8.8"
IP_NL = "193.0.6.139"
IP_JP = "133.11.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server started for this test session."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if REQUIRE_REAL:
            pytest.fail(message + "; SESSIONWARDEN_REQUIRE_REDIS=1 makes this a failure")
        pytest.skip(message)
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    client.close()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@dataclass
class Clock:
    """A settable clock (seconds since the epoch) for rules that depend on time."""

    now: float = field(default_factory=lambda: float(int(time.time())))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """One Redis to test against: makes clients and managers on it."""

    name: str
    sync_client: Callable[[], Any]
    async_client: Callable[[], Any]
    url: str | None = None
    made: list[Any] = field(default_factory=list)

    def manager(self, settings: Settings | None = None, **kw: Any) -> SessionManager:
        settings = settings or Settings(secret=TEST_SECRET)
        client = self.sync_client()
        self.made.append(client)
        return SessionManager(client, settings, **kw)

    def async_manager(self, settings: Settings | None = None, **kw: Any) -> AsyncSessionManager:
        return AsyncSessionManager(self.async_client(), settings or Settings(secret=TEST_SECRET),
                                   **kw)

    def raw(self) -> Any:
        client = self.sync_client()
        self.made.append(client)
        return client


def settings(**kw: Any) -> Settings:
    kw.setdefault("secret", TEST_SECRET)
    return Settings(**kw)


@pytest.fixture(params=["fake", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "fake":
        server = fakeredis.FakeServer()
        made = Backend(
            "fake",
            sync_client=lambda: fakeredis.FakeRedis(server=server),
            async_client=lambda: fakeredis.aioredis.FakeRedis(server=server),
        )
    else:
        made = _real(request.getfixturevalue("redis_server"))
    yield made
    for client in made.made:
        client.close()


def _real(url: str) -> Backend:
    redis.Redis.from_url(url).flushall()
    return Backend(
        "real",
        sync_client=lambda: redis.Redis.from_url(url, socket_timeout=5),
        async_client=lambda: aioredis.Redis.from_url(url, socket_timeout=5),
        url=url,
    )


@pytest.fixture
def real_backend(redis_server: str) -> Iterator[Backend]:
    """The real redis-server only, for tests that need a URL (subprocesses, the CLI's own
    connection)."""
    made = _real(redis_server)
    yield made
    for client in made.made:
        client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- the stored session record, as docs/redis-schema.md describes it ---------------------------

RECORD_FIELDS = ("c", "a", "e", "i", "ip", "cc", "nw", "ct", "d", "k", "mm", "u",
                 # the policy and the last proof of identity: touch interval, authenticated at,
                 # assurance rank, re-authentication extension and its bound, policy name
                 "t", "at", "as", "x", "xm", "p")


def session_record(raw: Any, key: str) -> dict[str, bytes]:
    """The fields of a stored session record by their schema names, plus ``h`` (token hash).
    Parsed here by the documented layout, not by the library's decoder (the times ``c``, ``a``,
    ``e``, ``i``, ``t``, ``at``, ``x``, ``xm`` are base-36 milliseconds: read them with
    `record_ms`; the policy fields are empty for a session without a policy)."""
    value = raw.get(key)
    fields = value[32:].split(b"\x1f", len(RECORD_FIELDS) - 1)
    assert len(fields) == len(RECORD_FIELDS), value
    return {"h": value[:32], **dict(zip(RECORD_FIELDS, fields, strict=True))}


def record_ms(value: bytes) -> int:
    """A base-36 time of a session record (documented layout), as an int of milliseconds."""
    return int(value, 36)


def set_record_fields(raw: Any, key: str, **changes: str | bytes) -> None:
    """Rewrite fields of a stored session record in place (keeping its TTL), as a hostile or
    broken writer could."""
    record = session_record(raw, key)
    for name, value in changes.items():
        record[name] = value.encode() if isinstance(value, str) else value
    raw.set(key, record["h"] + b"\x1f".join(record[n] for n in RECORD_FIELDS), keepttl=True)


def indexed_sessions(raw: Any, record_key: str) -> list[str]:
    """The session index of a user record ('s:<rand>' fields), least recently active first."""
    fields = raw.hgetall(record_key)
    entries = [(int(v), k[2:].decode()) for k, v in fields.items() if k.startswith(b"s:")]
    return [rand for _, rand in sorted(entries)]
