"""The demo's Redis, for the demo's lifetime only.

* ``REDIS_URL`` set: that Redis, under a key prefix of the demo's own (``swdemo-<random>``), so
  nothing else stored there is read or written; the demo's keys are deleted when it stops.
* otherwise, a private ``redis-server`` on a unix socket in a temporary directory when the
  binary is on PATH (no TCP port: nothing else on the machine can reach it), stopped with the
  demo and its directory removed;
* otherwise fakeredis's TCP server on a free loopback port, in this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

DEFAULT_PREFIX = "sw"


@dataclass(frozen=True, slots=True)
class Store:
    url: str
    prefix: str
    what: str  # one line for the screen: which store and where
    kind: str  # "redis-server", "fakeredis" or "external"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the demo dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None,
                timeout: float = 10.0) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except (redis.ConnectionError, FileNotFoundError, OSError):
                if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                    raise RuntimeError(f"demo: the store at {url} did not start") from None
                time.sleep(0.05)
    finally:
        client.close()


@contextlib.contextmanager
def redis_server(binary: str) -> Iterator[Store]:
    with tempfile.TemporaryDirectory(prefix="sessionwarden-demo-") as workdir:
        sock = Path(workdir) / "redis.sock"
        proc = subprocess.Popen(  # noqa: S603 - redis-server from PATH, fixed arguments
            [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        url = f"unix://{sock}"
        try:
            _wait_ready(url, proc)
            yield Store(url, DEFAULT_PREFIX, f"a private redis-server (pid {proc.pid}) on the "
                        f"unix socket {sock}", "redis-server")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def fake_server() -> Iterator[Store]:
    try:
        from fakeredis import TcpFakeServer
    except ImportError:
        raise SystemExit("demo: no redis-server on PATH and fakeredis is missing: "
                         "pip install 'sessionwarden-console[demo]' (or apt-get install "
                         "redis-server)") from None
    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fakeredis",
                              kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_ready(url)
        yield Store(url, DEFAULT_PREFIX, f"fakeredis's TCP server in this process on "
                    f"127.0.0.1:{port} (no redis-server on PATH)", "fakeredis")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def external(url: str) -> Iterator[Store]:
    prefix = "swdemo-" + secrets.token_hex(3)
    try:
        yield Store(url, prefix, f"REDIS_URL under the key prefix {prefix} (its keys are "
                    "deleted when the demo stops; nothing else there is touched)", "external")
    finally:
        delete_prefix(url, prefix)


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``<prefix>:`` (SCAN + UNLINK); returns how many."""
    client = redis.Redis.from_url(url)
    count = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                count += client.unlink(*batch)
                batch.clear()
        if batch:
            count += client.unlink(*batch)
    except redis.RedisError as exc:
        print(f"demo: could not delete the demo's keys under {prefix}: {exc}", file=sys.stderr)
    finally:
        client.close()
    return count


@contextlib.contextmanager
def open_store(choice: str = "auto", url: str | None = None) -> Iterator[Store]:
    """``choice``: ``auto`` (the rules above), ``redis-server`` or ``fakeredis``."""
    if url and choice == "auto":
        with external(url) as store:
            yield store
        return
    binary = shutil.which("redis-server")
    if choice == "redis-server" and binary is None:
        raise SystemExit("demo: --store redis-server: redis-server is not on PATH")
    if binary is not None and choice != "fakeredis":
        with redis_server(binary) as store:
            yield store
    else:
        with fake_server() as store:
            yield store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


__all__ = ["Store", "delete_prefix", "free_port", "open_store"]
