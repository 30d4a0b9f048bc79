#!/usr/bin/env python
"""Throughput, latency, round trips and memory of the Redis store, against a bare GET.

    .venv/bin/python bench/bench_store.py [--quick] [--redis-url URL] [--json out.json]

Without ``--redis-url`` a private ``redis-server`` is started on a free loopback port
(``--save "" --appendonly no``) and stopped at the end. With ``--redis-url`` the server must be
a disposable one: the memory part runs FLUSHALL (the script refuses a non-empty server unless
``--force``).

Everything runs on ONE connection of ONE ``redis.Redis`` client (``single_connection_client``;
pipelines reuse that same connection through a one-connection pool), so a GET and a library
call pay the same client and socket costs. Throughput is measured in alternating rounds
(GET, op A, GET, op B, ..., repeated), and each ratio is median ops/s of the operation over
median ops/s of GET. By default this process and its redis-server share one CPU (``--pin``:
same | split | none; see docs/performance.md, which also has the method and the results).
``--strict`` exits with status 1 when a target fails.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import ipaddress
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sessionwarden import SessionManager, Settings  # noqa: E402
from sessionwarden.keys import split_session_id  # noqa: E402

SECRET = "bench-secret-" + "0123456789abcdef" * 3
GET_VALUE_BYTES = 300

# Real user agents of common browsers (desktop, phone, tablet).
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
)
# Public /16 networks that iptocc places in one country each (US, JP, BR, DE, IN, FR, LU):
# a user keeps one network (a new address each sign-in), so travel alerts stay occasional.
PUBLIC_PREFIXES = ("8.8", "24.0", "133.11", "130.54", "200.160", "187.16", "217.160", "49.44",
                   "80.12", "147.67")

# The targets as re-scoped in the core hardening issue (#7): create at least the naive
# design's rate (measured here in the same run: `create_naive`), 1 round trip when no rule
# fires; memory at 4 sessions per user on Redis 7.0.
TARGETS = {
    "validate_ratio": 0.85,
    "validate_round_trips": 1,
    "create_round_trips": 2,
    "list_round_trips": 1,
    "bytes_per_session_4": 520,
}


@dataclass(frozen=True)
class Profile:
    rounds: int
    n: dict[str, int]
    validate_sessions: int
    list_users: int
    evict_users: int
    rt_ops: int
    memory: tuple[tuple[int, int], ...]  # (users, sessions per user)


FULL = Profile(
    rounds=7,
    n={"get": 5000, "validate": 5000, "validate_epoch_every": 5000, "validate_touch": 5000,
       "validate_ua": 5000, "validate_hints": 5000, "validate_junk": 2000, "create": 1500,
       "create_naive": 1500, "create_evict": 1000, "list": 2000, "revoke": 1000,
       "validate_poll": 5000, "reauthenticate": 2000, "rotate": 2000},
    validate_sessions=2000, list_users=200, evict_users=500, rt_ops=300,
    memory=((5000, 4), (20000, 1)),
)
QUICK = Profile(
    rounds=3,
    n={"get": 1500, "validate": 1500, "validate_epoch_every": 1500, "validate_touch": 1000,
       "validate_ua": 1000, "validate_hints": 1000, "validate_junk": 500, "create": 400,
       "create_naive": 400, "create_evict": 300, "list": 500, "revoke": 300,
       "validate_poll": 1500, "reauthenticate": 500, "rotate": 500},
    validate_sessions=500, list_users=50, evict_users=100, rt_ops=100,
    memory=((500, 4), (2000, 1)),
)


# --------------------------------------------------------------------------- server & client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(mode: str) -> dict[str, Any]:
    """CPU placement of this process and of the redis-server it starts.

    ``same`` (default): both on one CPU. The client waits for every reply anyway (one
    connection, one request at a time), so nothing is lost, and the numbers become the CPU cost
    of each side; on small VMs a wake-up across CPUs can cost more than the work itself and
    varies from run to run (see docs/performance.md). ``split``: client on one CPU, server on
    another. ``none``: leave it to the scheduler.
    """
    if mode == "none" or not hasattr(os, "sched_setaffinity"):
        return {"mode": "none", "client_cpus": None, "server_cpus": None}
    cpus = sorted(os.sched_getaffinity(0))
    client_cpus = {cpus[0]}
    server_cpus = {cpus[0]} if mode == "same" or len(cpus) < 2 else {cpus[1]}
    try:
        os.sched_setaffinity(0, client_cpus)
    except OSError:
        return {"mode": "none", "client_cpus": None, "server_cpus": None}
    return {"mode": "same" if server_cpus == client_cpus else "split",
            "client_cpus": sorted(client_cpus), "server_cpus": sorted(server_cpus)}


@contextmanager
def own_server(server_cpus: list[int] | None = None) -> Iterator[tuple[str, int]]:
    """A private redis-server on a free loopback port, stopped (and its dir removed) at exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found on PATH (or pass --redis-url)")
    port = free_port()

    def place() -> None:  # runs in the child, before exec
        if server_cpus is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, set(server_cpus))

    with tempfile.TemporaryDirectory(prefix="sw-bench-") as workdir:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=place,
        )
        try:
            probe = redis.Redis(host="127.0.0.1", port=port)
            deadline = time.monotonic() + 10
            while True:
                try:
                    probe.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"redis-server did not start on port {port}") from None
                    time.sleep(0.05)
            probe.close()
            yield "127.0.0.1", port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class OneConnectionPool(redis.ConnectionPool):
    """Hands out the same connection every time (single-threaded use only).

    ``single_connection_client=True`` pins plain commands to one connection, but redis-py's
    pipelines take theirs from the pool; this pool makes them share the client's connection,
    so everything the library does crosses one socket, like the GET baseline.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._one: Any = None

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._one is None:
            self._one = super().get_connection(*args, **kwargs)
        return self._one

    def release(self, connection: Any) -> None:
        """Keep the connection: there is only one."""


def make_client(host: str, port: int, db: int, password: str | None,
                username: str | None) -> redis.Redis:
    # The connection options SessionManager.from_url uses (manager._client_options).
    pool = OneConnectionPool(
        host=host, port=port, db=db, password=password, username=username,
        socket_timeout=2.0, socket_connect_timeout=2.0,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2,
                    supported_errors=(redis.ConnectionError,)),
        health_check_interval=30, decode_responses=False,
    )
    return redis.Redis(connection_pool=pool, single_connection_client=True,
                       decode_responses=False)


class Wire:
    """Counts requests written (round trips) and replies read on the client's connection."""

    def __init__(self, client: redis.Redis) -> None:
        self.conn: Any = client.connection
        self.sends = 0
        self.reads = 0

    @contextmanager
    def counting(self) -> Iterator[Wire]:
        conn = self.conn
        send, read = conn.send_packed_command, conn.read_response

        def counted_send(*args: Any, **kwargs: Any) -> Any:
            self.sends += 1
            return send(*args, **kwargs)

        def counted_read(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            return read(*args, **kwargs)

        conn.send_packed_command, conn.read_response = counted_send, counted_read
        try:
            yield self
        finally:
            del conn.send_packed_command, conn.read_response


def machine_busy_seconds() -> float | None:
    """User + system CPU-seconds of all processes of this machine (Linux /proc/stat; interrupt
    and steal time are left out), or None."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:4]]
    except (OSError, IndexError, ValueError):
        return None
    return sum(ticks) / os.sysconf("SC_CLK_TCK")


def steal_seconds() -> float | None:
    """CPU-seconds the hypervisor gave to someone else (the 'steal' column of /proc/stat)."""
    try:
        return int(Path("/proc/stat").read_text().splitlines()[0].split()[8]) / os.sysconf(
            "SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# --------------------------------------------------------------------------- workload


@dataclass
class Workload:
    client: redis.Redis
    mgr: SessionManager
    mgr_touch: SessionManager
    mgr_epoch: SessionManager  # re-reads revoke_everyone's epoch on every validate
    profile: Profile
    rng: random.Random
    get_keys: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    token_ua_ip: list[tuple[str, str, str]] = field(default_factory=list)
    list_users: list[str] = field(default_factory=list)
    evict_users: list[str] = field(default_factory=list)
    create_plan: list[tuple[str, str, str]] = field(default_factory=list)
    user_home: dict[str, tuple[str, str]] = field(default_factory=dict)
    step_tokens: list[str] = field(default_factory=list)  # aal2 sessions to re-authenticate
    rotate_tokens: list[str] = field(default_factory=list)  # current token of each slot
    revoke_counter: int = 0
    junk_counter: int = 0
    evict_calls: int = 0
    pool_generation: int = 0
    pool_made_at: float = 0.0

    def ip_in(self, prefix: str) -> str:
        return f"{prefix}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"

    def home(self, user: str) -> tuple[str, str]:
        """A user's usual browser and network."""
        if user not in self.user_home:
            self.user_home[user] = (self.rng.choice(USER_AGENTS),
                                    self.rng.choice(PUBLIC_PREFIXES))
        return self.user_home[user]

    def login_args(self, user: str) -> tuple[str, str, str]:
        """Mostly the user's own browser and network (a new address each time), sometimes
        another device or another country."""
        ua, prefix = self.home(user)
        if self.rng.random() < 0.15:
            ua = self.rng.choice(USER_AGENTS)
        if self.rng.random() < 0.05:
            prefix = self.rng.choice(PUBLIC_PREFIXES)
        return user, ua, self.ip_in(prefix)

    def create(self, args: tuple[str, str, str]) -> Any:
        return self.mgr.create_session(args[0], user_agent=args[1], ip=args[2])

    def create_naive(self, args: tuple[str, str, str]) -> str:
        """The design the core store replaced (issue #2), as its baseline for create: a session
        hash with a 30-day TTL and a per-user set index, one command per round trip, checking
        the limit by counting and writing one event, with no devices, places, detection or
        atomicity. Six round trips, on the same connection as everything else."""
        user, ua, ip = args
        c = self.client
        token = os.urandom(32).hex()
        index = f"naive:{user}:idx"
        c.scard(index)
        c.smembers(index)
        c.hset(f"naive:s:{token}", mapping={"user": user, "ua": ua, "ip": ip,
                                            "created": time.time()})
        c.expire(f"naive:s:{token}", 30 * 86400)
        c.sadd(index, token)
        c.xadd("naive:events", {"type": "login", "user": user, "sid": token}, maxlen=100_000,
               approximate=True)
        return token

    def setup(self) -> None:
        p = self.profile
        value = os.urandom(GET_VALUE_BYTES // 2).hex().encode()
        assert len(value) == GET_VALUE_BYTES
        self.get_keys = [f"bench:get:{i}" for i in range(1000)]
        pipe = self.client.pipeline(transaction=False)
        for key in self.get_keys:
            pipe.set(key, value)
        pipe.execute()
        self.make_validate_pool()
        # Sessions to re-authenticate (an aal2 policy: each call may extend the deadline) and
        # to rotate (each call replaces its slot's token), a quarter of the validate pool each.
        for i in range(max(1, p.validate_sessions // 4)):
            user, ua, ip = self.login_args(f"step{i}")
            self.step_tokens.append(self.mgr.create_session(
                user, user_agent=ua, ip=ip, policy="aal2", assurance="mfa").token)
            self.rotate_tokens.append(self.create(self.login_args(f"rot{i}")).token)
        for i in range(p.list_users):
            for _ in range(5):
                self.create(self.login_args(f"list{i}"))
            self.list_users.append(f"list{i}")
        max_sessions = self.mgr.settings.max_sessions
        for i in range(p.evict_users):
            for _ in range(max_sessions):
                self.create(self.login_args(f"full{i}"))
            self.evict_users.append(f"full{i}")
        # Creates for distinct users u0..uK, 3 logins each in random order: the session limit
        # (5) is never reached, every round mixes first and repeat logins.
        total = p.n["create"] * p.rounds + 200
        users = [f"u{i}" for i in range((total + 2) // 3)]
        plan = [u for u in users for _ in range(3)]
        self.rng.shuffle(plan)
        self.create_plan = [self.login_args(u) for u in plan[:total]]

    def make_validate_pool(self) -> None:
        """Fresh sessions to validate. A session is touched at most once per touch interval
        (60 s): the pool is renewed (untimed) before it gets that old, so the plain validate
        rounds measure the steady state without touch writes, as intended."""
        self.pool_generation += 1
        self.tokens, self.token_ua_ip = [], []
        for i in range(self.profile.validate_sessions):
            user, ua, ip = self.login_args(f"v{self.pool_generation}-{i}")
            created = self.create((user, ua, ip))
            self.tokens.append(created.token)
            self.token_ua_ip.append((created.token, ua, ip))
        self.pool_made_at = time.monotonic()

    def args_for(self, op: str, round_no: int, n: int) -> list[Any]:
        def cycle(items: list[Any]) -> list[Any]:
            start = (round_no * n) % len(items)
            return [items[(start + i) % len(items)] for i in range(n)]

        if op == "get":
            return cycle(self.get_keys)
        if (op in ("validate", "validate_ua", "validate_hints", "validate_poll")
                and time.monotonic() - self.pool_made_at > 40):
            self.make_validate_pool()
        if op in ("validate", "validate_touch", "validate_epoch_every", "validate_poll"):
            return cycle(self.tokens)
        if op == "reauthenticate":
            return cycle(self.step_tokens)
        if op == "rotate":
            return cycle(list(range(len(self.rotate_tokens))))
        if op == "validate_ua":
            return cycle(self.token_ua_ip)
        if op == "validate_hints":
            return [(*a, client_hints(a[1])) for a in cycle(self.token_ua_ip)]
        if op == "validate_junk":
            return self.junk_requests(n)
        if op in ("create", "create_naive"):
            start = 200 + round_no * n  # the first 200 are for the warm-up
            return self.create_plan[start:start + n]
        if op == "create_evict":
            self.evict_calls += n
            return [self.login_args(u) for u in cycle(self.evict_users)]
        if op == "list":
            return cycle(self.list_users)
        if op == "revoke":
            return self.fresh_sessions(n)
        raise ValueError(op)

    def junk_requests(self, n: int) -> list[tuple[str, str, str]]:
        """Unauthenticated junk: a token of no valid shape with a user agent never seen before
        (512 characters, the most that is parsed), as a scanner or a flood sends. Each is
        novel, so no cache of this process helps."""
        out = []
        for i in range(self.junk_counter, self.junk_counter + n):
            ua = f"{self.rng.choice(USER_AGENTS)} junk/{i} "
            out.append((f"junk-{i}", (ua + "x" * 512)[:512], "203.0.113.7"))
        self.junk_counter += n
        return out

    def fresh_sessions(self, n: int) -> list[tuple[str, str]]:
        """``n`` new sessions to revoke (made untimed, before the round), 4 per user."""
        out = []
        for i in range(n):
            user = f"rv{self.revoke_counter + i // 4}"
            out.append((user, self.create(self.login_args(user)).session_id))
        self.revoke_counter += (n + 3) // 4 + 1
        return out

    def rotate_at(self, slot: int) -> Any:
        """Rotate the token of one slot of the rotation pool (the new token replaces it)."""
        rotated = self.mgr.rotate_session(self.rotate_tokens[slot])
        if rotated is not None:
            self.rotate_tokens[slot] = rotated.token
        return rotated

    def op(self, name: str) -> Callable[[Any], Any]:
        mgr = self.mgr
        if name == "get":
            return self.client.get
        if name == "validate":
            return mgr.validate_session
        if name == "validate_touch":
            return self.mgr_touch.validate_session
        if name == "validate_epoch_every":
            return self.mgr_epoch.validate_session
        if name in ("validate_ua", "validate_junk"):
            return lambda a: mgr.validate_session(a[0], user_agent=a[1], ip=a[2])
        if name == "validate_hints":
            return lambda a: mgr.validate_session(a[0], user_agent=a[1], ip=a[2],
                                                  client_hints=a[3])
        if name in ("create", "create_evict"):
            return self.create
        if name == "create_naive":
            return self.create_naive
        if name == "list":
            return mgr.get_active_sessions
        if name == "revoke":
            return lambda a: mgr.revoke_session(a[0], a[1])
        if name == "validate_poll":
            return lambda t: mgr.validate_session(t, touch=False)
        if name == "reauthenticate":
            return lambda t: mgr.reauthenticate(t, assurance="mfa")
        if name == "rotate":
            return self.rotate_at
        raise ValueError(name)

    def check(self, name: str, result: Any) -> None:
        """The op did what it is meant to (a benchmark of failing calls would be worthless)."""
        ok = {
            "get": lambda r: r is not None and len(r) == GET_VALUE_BYTES,
            "validate": lambda r: r is not None,
            "validate_touch": lambda r: r is not None,
            "validate_epoch_every": lambda r: r is not None,
            "validate_ua": lambda r: r is not None,
            "validate_hints": lambda r: r is not None,
            "validate_junk": lambda r: r is None,
            "create": lambda r: r.token,
            "create_naive": lambda r: r,
            "create_evict": lambda r: r.token,
            "list": lambda r: len(r) == 5,
            "revoke": lambda r: r is True,
            "validate_poll": lambda r: r is not None,
            "reauthenticate": lambda r: r is not None and r.assurance == "mfa",
            "rotate": lambda r: r is not None and r.token,
        }[name](result)
        if not ok:
            raise AssertionError(f"{name}: unexpected result {result!r}")


OPS = ("validate", "validate_epoch_every", "validate_touch", "validate_ua", "validate_hints",
       "validate_junk", "validate_poll", "create", "create_naive", "create_evict", "list",
       "revoke", "reauthenticate", "rotate")
LABELS = {
    "get": "GET 300 B (baseline)",
    "validate": "validate_session(token)",
    "validate_epoch_every": "validate, epoch re-read every call",
    "validate_touch": "validate, touch every call",
    "validate_ua": "validate(token, ip, user_agent)",
    "validate_hints": "validate(token, ip, user_agent, hints)",
    "validate_junk": "validate(junk token, novel UA)",
    "create": "create_session (below limit)",
    "create_naive": "naive design's create (baseline)",
    "create_evict": "create_session at limit (evicts)",
    "list": "get_active_sessions (5 live)",
    "revoke": "revoke_session",
    "validate_poll": "validate(token, touch=False)",
    "reauthenticate": "reauthenticate (aal2 session)",
    "rotate": "rotate_session",
}


# --------------------------------------------------------------------------- measurements


@dataclass
class RoundResult:
    ops_per_s: float
    client_cpu_us: float
    server_cpu_us: float
    latencies_ns: list[int]


def timed_round(client: redis.Redis, fn: Callable[[Any], Any],
                args: list[Any]) -> tuple[RoundResult, list[Any]]:
    n = len(args)
    lat = [0] * n
    results: list[Any] = [None] * n
    clock = time.perf_counter_ns
    srv0 = server_cpu(client)
    cpu0 = time.process_time()
    t0 = clock()
    for i in range(n):
        s = clock()
        results[i] = fn(args[i])
        lat[i] = clock() - s
    elapsed = clock() - t0
    cpu1 = time.process_time()
    srv1 = server_cpu(client)
    return RoundResult(n / (elapsed / 1e9), (cpu1 - cpu0) / n * 1e6, (srv1 - srv0) / n * 1e6,
                       lat), results


def hset_calls(client: redis.Redis) -> int:
    """HSET calls the server has run (a touch is one HSET of the user record's index field,
    next to the SET of the session, inside validate.lua)."""
    return int(client.info("commandstats").get("cmdstat_hset", {}).get("calls", 0))


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k] / 1000.0


def throughput(w: Workload, say: Callable[[str], None]) -> dict[str, Any]:
    p = w.profile
    # Warm-up: load scripts, fill the user-agent and address caches, settle the allocator.
    for name in ("get", *OPS):
        args = (w.create_plan[:200] if name == "create"
                else w.args_for(name, 0, min(200, p.n[name])))
        fn = w.op(name)
        for a in args:
            w.check(name, fn(a))
    results: dict[str, list[RoundResult]] = {name: [] for name in ("get", *OPS)}
    paired: dict[str, list[float]] = {name: [] for name in OPS}  # op round / GET round before
    writes: dict[str, list[float]] = {name: [] for name in ("get", *OPS)}  # HSET calls per op
    for r in range(p.rounds):
        for name in OPS:
            for op_name in ("get", name):
                args = w.args_for(op_name, r, p.n[op_name])
                fn = w.op(op_name)
                gc.collect()
                hsets = hset_calls(w.client)
                measured, replies = timed_round(w.client, fn, args)
                writes[op_name].append((hset_calls(w.client) - hsets) / len(args))
                for reply in replies:  # checked after the clock stopped
                    w.check(op_name, reply)
                results[op_name].append(measured)
            paired[name].append(results[name][-1].ops_per_s / results["get"][-1].ops_per_s)
        say(f"  round {r + 1}/{p.rounds} done")
    get_median = statistics.median(x.ops_per_s for x in results["get"])
    out: dict[str, Any] = {}
    for name, rounds in results.items():
        lat = sorted(v for x in rounds for v in x.latencies_ns)
        median = statistics.median(x.ops_per_s for x in rounds)
        out[name] = {
            "label": LABELS[name],
            "rounds_ops_per_s": [round(x.ops_per_s, 1) for x in rounds],
            "median_ops_per_s": round(median, 1),
            "ratio_vs_get": round(median / get_median, 3),
            "ratio_paired_median": round(statistics.median(paired[name]), 3) if name in paired
            else 1.0,
            "p50_us": round(percentile(lat, 0.50), 1),
            "p99_us": round(percentile(lat, 0.99), 1),
            "client_cpu_us_per_op": round(statistics.median(x.client_cpu_us for x in rounds), 1),
            "server_cpu_us_per_op": round(statistics.median(x.server_cpu_us for x in rounds), 1),
            "ops_measured": len(lat),
            "hset_calls_per_op": round(statistics.fmean(writes[name]), 3),
        }
    return out


def event_counts(client: redis.Redis, stream: str) -> dict[str, int]:
    """Events in the stream by type (to confirm what the workload did, e.g. no evictions
    outside the create-at-limit rounds)."""
    counts: dict[str, int] = {}
    start = "-"
    while True:
        entries = client.xrange(stream, start, "+", count=10_000)
        for _, fields in entries:
            kind = fields.get(b"type", b"?").decode()
            counts[kind] = counts.get(kind, 0) + 1
        if len(entries) < 10_000:
            return dict(sorted(counts.items()))
        last = entries[-1][0].decode()
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"


def round_trips(w: Workload) -> dict[str, Any]:
    """Exact requests written and replies read per operation, counted on the connection."""
    wire = Wire(w.client)
    out: dict[str, Any] = {}
    n = w.profile.rt_ops
    for name in ("get", *OPS):
        args = w.args_for(name, 1000 + 1, n)
        if name in ("create", "create_naive"):  # fresh users, two logins each: below the limit
            args = [w.login_args(f"rt{name}{i // 2}") for i in range(n)]
        fn = w.op(name)
        sends, reads = [], []
        with wire.counting():
            for a in args:
                s0, r0 = wire.sends, wire.reads
                w.check(name, fn(a))
                sends.append(wire.sends - s0)
                reads.append(wire.reads - r0)
        out[name] = {
            "ops": len(args),
            "round_trips_min": min(sends), "round_trips_max": max(sends),
            "round_trips_mean": round(statistics.fmean(sends), 3),
            "replies_min": min(reads), "replies_max": max(reads),
            "replies_mean": round(statistics.fmean(reads), 3),
        }
    # Cold path: after SCRIPT FLUSH (a restart or failover) the first call gets NOSCRIPT,
    # loads the script and retries.
    for name, mgr in (("validate", w.mgr), ("validate_touch", w.mgr_touch)):
        w.client.script_flush()
        with wire.counting():
            s0, r0 = wire.sends, wire.reads
            w.check(name, mgr.validate_session(w.tokens[0]))
            out[f"{name}_after_script_flush"] = {"round_trips": wire.sends - s0,
                                                 "replies": wire.reads - r0}
    return out


def memory_usage(client: redis.Redis, key: str) -> int:
    return int(client.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)


def used_memory(client: redis.Redis) -> int:
    time.sleep(0.05)
    return int(client.info("memory")["used_memory"])


def memory(w: Workload, users: int, per_user: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Bytes per live session: used_memory delta over N sessions, without the event stream."""
    client, mgr = w.client, w.mgr
    keys = mgr.core.keys
    client.flushall()
    w.user_home.clear()
    base = used_memory(client)
    sessions: list[str] = []
    t0 = time.perf_counter()
    for i in range(users):
        for _ in range(per_user):
            sessions.append(w.create(w.login_args(f"m{i}")).session_id)
    created_s = time.perf_counter() - t0
    n = len(sessions)
    with_stream = used_memory(client)
    stream_bytes = memory_usage(client, keys.events)
    stream_len = int(client.xlen(keys.events))
    client.delete(keys.events)
    without_stream = used_memory(client)

    sample = w.rng.sample(sessions, min(500, n))
    session_bytes = statistics.fmean(
        memory_usage(client, keys.for_tag(split_session_id(s)[0]).session(
            split_session_id(s)[1])) for s in sample)
    user_sample = w.rng.sample(range(users), min(500, users))
    per_user_key: dict[str, float] = {}
    for kind in user_key_kinds():
        per_user_key[kind] = statistics.fmean(
            memory_usage(client, getattr(keys.for_user(f"m{i}"), kind)) for i in user_sample)
    globals_ = {"expiry_index": memory_usage(client, keys.expiry_index),
                "user_directory": memory_usage(client, keys.directory),
                "recent_users": memory_usage(client, keys.recent_users)}
    db = client.memory_stats().get(f"db.{client.connection_pool.connection_kwargs['db']}", {})
    ttl_table = int(db.get("overhead.hashtable.expires", 0))
    breakdown = {"session_record": session_bytes}
    breakdown.update({f"user_{k}": v * users / n for k, v in per_user_key.items()})
    breakdown.update({k: v / n for k, v in globals_.items()})
    breakdown["ttl_table"] = ttl_table / n
    attributed = sum(breakdown.values())
    per_session = (without_stream - base) / n
    breakdown["unattributed"] = per_session - attributed
    dbsize = int(client.dbsize())
    # The users' own alert lists are event history too (an index of the stream's alerts, for
    # the console): measured apart, as the stream is.
    alert_lists = [keys.for_user(f"m{i}").alerts for i in range(users)
                   if hasattr(keys.for_user(f"m{i}"), "alerts")]  # (older versions: none)
    for start in range(0, len(alert_lists), 1000):
        client.delete(*alert_lists[start:start + 1000])
    without_history = used_memory(client)
    per_session_state = (without_history - base) / n
    # A session with a policy (aal2) and a stronger proof carries its policy fields filled:
    # its record, measured apart (after the totals, so they are not changed by it).
    policy_keys = []
    for i in range(min(200, users)):
        user, ua, ip = w.login_args(f"m{i}")
        made = mgr.create_session(user, user_agent=ua, ip=ip, policy="aal2", assurance="mfa")
        tag, rand = split_session_id(made.session_id)  # type: ignore[misc]
        policy_keys.append(keys.for_tag(tag).session(rand))
    policy_session_bytes = statistics.fmean(memory_usage(client, k) for k in policy_keys)
    say(f"  memory {users} users x {per_user}: {per_session:.0f} B/session "
        f"({per_session_state:.0f} B without the users' alert lists; "
        f"{n} sessions made in {created_s:.1f} s)")
    return {
        "users": users, "sessions_per_user": per_user, "sessions": n, "keys": dbsize,
        "used_memory_baseline": base, "used_memory_with_stream": with_stream,
        "used_memory_without_stream": without_stream,
        "bytes_per_session": round(per_session, 1),
        "bytes_per_session_without_alert_lists": round(per_session_state, 1),
        "bytes_per_session_with_stream": round((with_stream - base) / n, 1),
        "event_stream_bytes": stream_bytes, "event_stream_entries": stream_len,
        "event_stream_bytes_per_session": round(stream_bytes / n, 1),
        "memory_usage_per_key": {"session_record": round(session_bytes, 1),
                                 "session_record_with_policy": round(policy_session_bytes, 1),
                                 **{f"user_{k}": round(v, 1) for k, v in per_user_key.items()},
                                 **globals_},
        "keyspace_overhead": {k: int(v) for k, v in db.items()},
        "breakdown_bytes_per_session": {k: round(v, 1) for k, v in breakdown.items()},
    }


def user_key_kinds() -> list[str]:
    """The per-user keys of the library's key schema (``UserKeys`` properties: record, index,
    devices, ...), whatever this version has."""
    from sessionwarden.keys import UserKeys

    return sorted(name for name in dir(UserKeys)
                  if isinstance(getattr(UserKeys, name, None), property))


# --------------------------------------------------------------------------- report


def library_version() -> dict[str, Any]:
    """Which library code was measured: SHA-256 over its sources (the scripts are read once, at
    import), and the newest modification time among them."""
    import hashlib

    import sessionwarden

    root = Path(sessionwarden.__file__).parent
    files = sorted([*root.glob("*.py"), *root.glob("scripts/*.lua")])
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    newest = max(path.stat().st_mtime for path in files)
    return {"sources_sha256": digest.hexdigest()[:16], "files": len(files),
            "newest_change_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(newest))}


LIBRARY = library_version()  # at import, when the scripts were read


def environment(client: redis.Redis) -> dict[str, Any]:
    info = client.info("server")
    try:
        hiredis_version: str | None = metadata.version("hiredis")
    except metadata.PackageNotFoundError:
        hiredis_version = None
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("sessionwarden", "ua-parser", "ua-parser-rs", "iptocc"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "redis_py": redis.__version__,
        "hiredis": hiredis_version,
        "hiredis_parser_in_use": bool(redis.utils.HIREDIS_AVAILABLE),
        "redis_server": info.get("redis_version"),
        "redis_server_allocator": client.info("memory").get("mem_allocator"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "packages": versions,
        "library": LIBRARY,
        "measured_at_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def client_hints(user_agent: str) -> dict[str, str]:
    """The request headers a Chromium browser sends with ``user_agent`` once the site asked for
    its model and platform version (Accept-CH): what a web app passes as ``client_hints``.
    A new dict per request, as a framework builds its headers object per request."""
    mobile = "Mobile" in user_agent
    platform = ("Android" if "Android" in user_agent else "macOS" if "Mac OS" in user_agent
                else "Windows" if "Windows" in user_agent else "Linux")
    return {
        "Sec-CH-UA": '"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"',
        "Sec-CH-UA-Mobile": "?1" if mobile else "?0",
        "Sec-CH-UA-Platform": f'"{platform}"',
        "Sec-CH-UA-Platform-Version": '"14.0.0"',
        "Sec-CH-UA-Model": '"Pixel 8"' if mobile else '""',
    }


def fmt_targets(tp: dict[str, Any], rt: dict[str, Any],
                mem: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t = TARGETS
    rows = []

    def row(name: str, measured: str, target: str, passed: bool) -> None:
        rows.append({"target": name, "measured": measured, "goal": target, "pass": passed})

    v, c = tp["validate"], tp["create"]
    rv, rc, rl = rt["validate"], rt["create"], rt["list"]
    row("validate throughput vs GET", f"{v['ratio_vs_get']:.2f}x",
        f">= {t['validate_ratio']}x", v["ratio_vs_get"] >= t["validate_ratio"])
    row("validate round trips", _rt_text(rv), "exactly 1",
        rv["round_trips_min"] == rv["round_trips_max"] == t["validate_round_trips"])
    vt = rt["validate_touch"]
    row("validate round trips, touch due", _rt_text(vt), "exactly 1",
        vt["round_trips_min"] == vt["round_trips_max"] == t["validate_round_trips"])
    for name in ("validate_poll", "reauthenticate", "rotate"):
        if name in rt:  # (older versions: no such operation)
            row(f"{LABELS[name]} round trips", _rt_text(rt[name]), "exactly 1",
                rt[name]["round_trips_min"] == rt[name]["round_trips_max"] == 1)
    naive = tp["create_naive"]
    row("create throughput vs the naive design's", f"{c['ratio_vs_get']:.2f}x GET vs "
        f"{naive['ratio_vs_get']:.2f}x", ">= the naive design's",
        c["ratio_vs_get"] >= naive["ratio_vs_get"])
    rc_new = rt["create"]
    row("create round trips, no rule fires", _rt_text(rc_new), "1 (2 when a rule fires)",
        rc_new["round_trips_min"] == 1)
    row("create round trips", _rt_text(rc), f"<= {t['create_round_trips']}",
        rc["round_trips_max"] <= t["create_round_trips"])
    ce = rt["create_evict"]
    row("create at limit round trips", _rt_text(ce), f"<= {t['create_round_trips']}",
        ce["round_trips_max"] <= t["create_round_trips"])
    row("list round trips", _rt_text(rl), "exactly 1",
        rl["round_trips_min"] == rl["round_trips_max"] == t["list_round_trips"])
    for m in mem:
        if m["sessions_per_user"] != 4:
            continue  # reported above, no target: the re-scoped goal is at 4 per user
        row(f"bytes/session ({m['users']} users x 4)",
            f"{m['bytes_per_session']:.0f} B", f"<= {t['bytes_per_session_4']} B",
            m["bytes_per_session"] <= t["bytes_per_session_4"])
        row("  the same without the users' alert lists",
            f"{m['bytes_per_session_without_alert_lists']:.0f} B",
            f"<= {t['bytes_per_session_4']} B",
            m["bytes_per_session_without_alert_lists"] <= t["bytes_per_session_4"])
    return rows


def _rt_text(r: dict[str, Any]) -> str:
    if r["round_trips_min"] == r["round_trips_max"]:
        return str(r["round_trips_min"])
    return f"{r['round_trips_min']}-{r['round_trips_max']} (mean {r['round_trips_mean']})"


def print_report(result: dict[str, Any]) -> None:
    env, tp, rt, mem = (result["environment"], result["throughput"], result["round_trips"],
                        result["memory"])
    print()
    print(f"Python {env['python']}, redis-py {env['redis_py']} (hiredis {env['hiredis']}, "
          f"parser in use: {env['hiredis_parser_in_use']}), redis-server {env['redis_server']}, "
          f"{env['cpu_count']} CPUs ({env['cpu_model']})")
    lib = env["library"]
    print(f"library sources sha256 {lib['sources_sha256']} (newest change "
          f"{lib['newest_change_utc']} UTC), measured {env['measured_at_utc']} UTC")
    place = result["config"]["cpu_placement"]
    print(f"profile: {result['config']['profile']}, {result['config']['rounds']} rounds, "
          f"server: {result['config']['server']}, CPU placement: {place['mode']} (client "
          f"{place['client_cpus']}, server {place['server_cpus']})")
    noise = result["config"]["machine_noise"]
    if "other_processes_cpu_share" in noise:
        print(f"other processes on this machine used {noise['other_processes_cpu_seconds']} "
              f"CPU-s during the {noise['throughput_seconds']} s of throughput rounds "
              f"({noise['other_processes_cpu_share']:.0%} of one CPU), hypervisor steal "
              f"{noise.get('steal_cpu_seconds', '?')} CPU-s: more = noisier numbers")
    print()
    head = (f"{'operation':36} {'ops/s':>8} {'x GET':>6} {'paired':>6} {'p50 us':>7} {'p99 us':>7} "
            f"{'cli us':>7} {'srv us':>7} {'RT':>5} {'replies':>7}")
    print(head)
    print("-" * len(head))
    for name in ("get", *OPS):
        x, r = tp[name], rt[name]
        rts = (str(r["round_trips_min"]) if r["round_trips_min"] == r["round_trips_max"]
               else f"{r['round_trips_min']}-{r['round_trips_max']}")
        reps = (str(r["replies_min"]) if r["replies_min"] == r["replies_max"]
                else f"{r['replies_min']}-{r['replies_max']}")
        print(f"{x['label']:36} {x['median_ops_per_s']:>8.0f} {x['ratio_vs_get']:>6.2f} "
              f"{x['ratio_paired_median']:>6.2f} "
              f"{x['p50_us']:>7.1f} {x['p99_us']:>7.1f} {x['client_cpu_us_per_op']:>7.1f} "
              f"{x['server_cpu_us_per_op']:>7.1f} {rts:>5} {reps:>7}")
    print("ops/s = median over rounds; x GET = ratio of medians; paired = median of (round / "
          "the GET round just before it);\ncli/srv us = client / redis-server CPU time per op; "
          "RT = requests written (round trips); replies = replies read")
    ev = result["events_written_during_throughput"]
    print("events written during set-up and throughput: "
          + ", ".join(f"{k} {v}" for k, v in ev.items())
          + f" (session_evicted expected from the at-limit rounds: "
          f"{result['evictions_expected_from_create_at_limit']})")
    print("touch writes (HSET) per validate: "
          + ", ".join(f"{name} {tp[name]['hset_calls_per_op']:.3f}"
                      for name in ("validate", "validate_touch", "validate_ua",
                                   "validate_hints", "validate_poll")))
    junk, get = tp["validate_junk"], tp["get"]
    print(f"unauthenticated junk (no valid token shape, a novel 512-character user agent): "
          f"{junk['p50_us']:.1f} us per call at p50 ({junk['client_cpu_us_per_op']:.1f} us CPU), "
          f"a bare GET {get['p50_us']:.1f} us; round trips "
          f"{rt['validate_junk']['round_trips_max']}")
    print("right after SCRIPT FLUSH (a restart, a failover): validate "
          f"{rt['validate_after_script_flush']['round_trips']} round trips, validate with a "
          f"touch due {rt['validate_touch_after_script_flush']['round_trips']}")
    print()
    for m in mem:
        print(f"memory, {m['users']} users x {m['sessions_per_user']} sessions "
              f"({m['sessions']} sessions, {m['keys']} keys):")
        print(f"  {m['bytes_per_session']:.0f} B/session without the event stream, "
              f"{m['bytes_per_session_with_stream']:.0f} B with it "
              f"(stream: {m['event_stream_entries']} entries, "
              f"{m['event_stream_bytes_per_session']:.0f} B/session)")
        parts = ", ".join(f"{k} {v:.0f}" for k, v in m["breakdown_bytes_per_session"].items())
        print(f"  per session (B): {parts}")
        parts = ", ".join(f"{k} {v:.0f}" for k, v in m["memory_usage_per_key"].items())
        print(f"  MEMORY USAGE per key (B): {parts}")
    print()
    print("targets:")
    for t in result["targets"]:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']:40} {t['measured']:>22}  "
              f"(goal {t['goal']})")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~20 s smoke run (small counts)")
    parser.add_argument("--redis-url", help="use this (disposable!) server instead of starting "
                        "one; the memory part runs FLUSHALL")
    parser.add_argument("--force", action="store_true",
                        help="with --redis-url: run even if the database is not empty")
    parser.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the workload")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target fails (default: 0 either way)")
    parser.add_argument("--pin", choices=("same", "split", "none"), default="same",
                        help="CPU placement: client and own server on the same CPU (default), "
                        "on two CPUs, or left to the scheduler")
    opts = parser.parse_args(argv)
    profile = QUICK if opts.quick else FULL

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    placement = pin(opts.pin)
    if opts.redis_url:
        url = urlparse(opts.redis_url)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            say(f"warning: {host} is not a loopback address: numbers include network latency")
        db = int((url.path or "/0").lstrip("/") or 0)
        result = run(host, port, db, url.password, url.username, profile, opts, say,
                     server=opts.redis_url.split("@")[-1])
    else:
        with own_server(placement["server_cpus"]) as (host, port):
            result = run(host, port, 0, None, None, profile, opts, say,
                         server=f"own redis-server on 127.0.0.1:{port}")
    if result is None:
        return 2
    if opts.redis_url and placement["mode"] != "none":
        placement["mode"] = "client only"
        placement["server_cpus"] = "not controlled (--redis-url)"
    result["config"]["cpu_placement"] = placement
    result["config"]["wall_seconds"] = round(time.monotonic() - started, 1)
    print_report(result)
    print(f"\n(total {result['config']['wall_seconds']} s)")
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {opts.json}")
    if opts.strict and not all(t["pass"] for t in result["targets"]):
        return 1
    return 0


def run(host: str, port: int, db: int, password: str | None, username: str | None,
        profile: Profile, opts: argparse.Namespace, say: Callable[[str], None],
        server: str) -> dict[str, Any] | None:
    client = make_client(host, port, db, password, username)
    try:
        if opts.redis_url and client.dbsize() and not opts.force:
            say("refusing: the database is not empty and this benchmark runs FLUSHALL "
                "(use a disposable server, or --force)")
            return None
        client.flushall()
        settings = Settings(secret=SECRET)
        mgr = SessionManager(client, settings)
        mgr_touch = SessionManager(client, Settings(
            secret=SECRET, touch_interval=timedelta(milliseconds=1)))
        # Incident controls: an epoch is in place (revoke_everyone before any session), so
        # every validate row judges sessions against a real one and re-reads it, in its own
        # pipeline, every 0.5 s. validate_epoch_every shows what that cache saves: the same
        # validate with the epoch's GET in its pipeline on every call.
        mgr.revoke_everyone(actor="bench", reason="an epoch in place for the validate rows")
        mgr_epoch = SessionManager(client, settings)
        mgr_epoch.core._learn_not_before = (  # type: ignore[method-assign]
            lambda raw, learn=mgr_epoch.core._learn_not_before: (  # then due again at once
                learn(raw), setattr(mgr_epoch.core, "_not_before_at", float("-inf")))[0])
        w = Workload(client, mgr, mgr_touch, mgr_epoch, profile, random.Random(opts.seed))
        env = environment(client)
        say("setting up sessions ...")
        w.setup()
        say("throughput (alternating rounds) ...")
        busy0, own0, srv0, t0 = (machine_busy_seconds(), time.process_time(),
                                 server_cpu(client), time.monotonic())
        steal0 = steal_seconds()
        tp = throughput(w, say)
        busy1, own1, srv1, t1 = (machine_busy_seconds(), time.process_time(),
                                 server_cpu(client), time.monotonic())
        steal1 = steal_seconds()
        noise: dict[str, Any] = {"throughput_seconds": round(t1 - t0, 1),
                                 "loadavg_end": os.getloadavg()}
        if steal0 is not None and steal1 is not None:
            noise["steal_cpu_seconds"] = round(steal1 - steal0, 1)
        if busy0 is not None and busy1 is not None:
            # CPU used by anything else on the machine while throughput was measured.
            other = (busy1 - busy0) - (own1 - own0) - (srv1 - srv0)
            noise["other_processes_cpu_seconds"] = round(max(0.0, other), 1)
            noise["other_processes_cpu_share"] = round(max(0.0, other) / (t1 - t0), 3)
        events = event_counts(client, mgr.core.keys.events)
        expected_evictions = w.evict_calls
        say("round trips ...")
        rt = round_trips(w)
        connections = int(client.info("clients")["connected_clients"])
        say("memory ...")
        mem = [memory(w, users, per_user, say) for users, per_user in profile.memory]
        client.flushall()
        result: dict[str, Any] = {
            "environment": env,
            "config": {
                "profile": "quick" if opts.quick else "full", "rounds": profile.rounds,
                "ops_per_round": profile.n, "server": server, "seed": opts.seed,
                "settings": {"max_sessions": settings.max_sessions,
                             "touch_interval_s": settings.touch_interval.total_seconds(),
                             "idle_timeout_s": settings.idle_timeout.total_seconds()},
                "client_connections_seen_by_server": connections,
                "machine_noise": noise,
            },
            "throughput": tp,
            "events_written_during_throughput": events,
            "evictions_expected_from_create_at_limit": expected_evictions,
            "round_trips": rt,
            "memory": mem,
        }
        result["targets"] = fmt_targets(tp, rt, mem)
        return result
    finally:
        client.close()
        client.connection_pool.disconnect()


if __name__ == "__main__":
    sys.exit(main())
