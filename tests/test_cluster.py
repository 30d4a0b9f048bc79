"""SessionWarden on a real 3-master Redis Cluster ("Redis Cluster ready").

A module fixture starts three ``redis-server --cluster-enabled yes`` processes on free loopback
ports and joins them with ``redis-cli --cluster create``. The tests use users whose hash tags land
on different masters, so every per-user script runs on the node that owns the user's slot and
every batch of global writes (event stream, expiry index, user directory) fans out over several
nodes in one cluster pipeline. Same skip/fail policy as ``tests/conftest.py``: without
``redis-server`` the module is skipped, unless ``SESSIONWARDEN_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio.cluster as aiocluster
from conftest import (
    IP_JP,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    REQUIRE_REAL,
    WINDOWS_EDGE,
    Clock,
    settings,
)
from redis.cluster import RedisCluster
from test_incidents import round_robin

from sessionwarden import (
    AccountLocked,
    AsyncSessionManager,
    CreatedSession,
    DetectionSettings,
    Event,
    InvalidAlertAction,
    SessionManager,
)
from sessionwarden.keys import KeySchema, user_tag
from sessionwarden.scripts import SCRIPTS

HOUR = 3600
KEYS = KeySchema("sw")
# Users picked so that their tags fall in different thirds of the slot space; the fixture checks
# the real placement (CLUSTER KEYSLOT + slot owner) instead of trusting this comment.
SPREAD = ("alice", "carol", "dave")
GLOBAL_KEYS = ("sw:users", "sw:users:recent", "sw:exp", "sw:events")


# --------------------------------------------------------------------------- the cluster


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open at once, so no duplicates)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _cluster_ok(port: int) -> bool:
    node = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    try:
        info = node.execute_command("CLUSTER", "INFO")
    except redis.RedisError:
        return False
    finally:
        node.close()
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text and "cluster_slots_ok:16384" in text


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Client ports of a running 3-master Redis Cluster (no replicas), loopback only."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        message = "redis-server/redis-cli are not installed (apt-get install redis-server)"
        if REQUIRE_REAL:
            pytest.fail(message + "; SESSIONWARDEN_REQUIRE_REDIS=1 makes this a failure")
        pytest.skip(message)
    workdir: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = _free_ports(6)
    client_ports, bus_ports = ports[:3], ports[3:]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port, bus in zip(client_ports, bus_ports, strict=True):
            log = (workdir / f"redis-{port}.log").open("wb")
            procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
                 "--cluster-enabled", "yes", "--cluster-port", str(bus),
                 "--cluster-config-file", str(workdir / f"nodes-{port}.conf"),
                 "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                stdout=log, stderr=subprocess.STDOUT,
            ))
            log.close()
        deadline = time.monotonic() + 10
        for port, proc in zip(client_ports, procs, strict=True):
            node = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            while True:
                try:
                    node.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        log_text = (workdir / f"redis-{port}.log").read_text(errors="replace")
                        pytest.fail(f"redis-server did not start on port {port}:\n{log_text}")
                    time.sleep(0.02)
            node.close()
        created = subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in client_ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=30,
        )
        if created.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
        deadline = time.monotonic() + 10
        while not all(_cluster_ok(p) for p in client_ports):
            if time.monotonic() > deadline:
                pytest.fail("the cluster did not reach cluster_state:ok on every node")
            time.sleep(0.05)
        yield client_ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def client(cluster: list[int]) -> Iterator[RedisCluster]:
    """A cluster client on an empty cluster (FLUSHALL + SCRIPT FLUSH on every master)."""
    made = RedisCluster(host="127.0.0.1", port=cluster[0], decode_responses=False,
                        socket_timeout=5)
    made.flushall(target_nodes=RedisCluster.PRIMARIES)
    made.script_flush()  # SCRIPT FLUSH goes to every master
    yield made
    made.close()


def manager(client: RedisCluster, clock: Clock | None = None, **kw: Any) -> SessionManager:
    return SessionManager(client, settings(**kw), clock=clock)


def login(mgr: SessionManager, user: str, ua: str = MAC_CHROME, **kw: Any) -> CreatedSession:
    return mgr.create_session(user, user_agent=ua, ip=IP_US, **kw)


def node_of(client: RedisCluster, key: str) -> str:
    """``host:port`` of the master that owns ``key``'s slot."""
    return client.get_node_from_key(key).name


def user_node(client: RedisCluster, user: str) -> str:
    return node_of(client, KEYS.for_user(user).record)


def events(mgr: SessionManager, type_: str | None = None) -> list[Event]:
    """Events oldest first, optionally of one type."""
    found = list(reversed(mgr.recent_events(1000)))
    return [e for e in found if type_ is None or e.type == type_]


def keys_per_node(cluster: list[int]) -> dict[str, set[bytes]]:
    """Every key of every master, read from each node directly."""
    found = {}
    for port in cluster:
        node = redis.Redis(host="127.0.0.1", port=port)
        try:
            found[f"127.0.0.1:{port}"] = set(node.keys("*"))
        finally:
            node.close()
    return found


# --------------------------------------------------------------------------- placement


def test_cluster_is_three_masters_and_users_span_them(client: RedisCluster) -> None:
    assert len(client.get_primaries()) == 3
    slots = {u: client.keyslot(KEYS.for_user(u).record) for u in SPREAD}
    for user, slot in slots.items():
        # The server's own CLUSTER KEYSLOT agrees with the client's CRC16.
        assert client.cluster_keyslot(KEYS.for_user(user).record) == slot
    nodes = {u: user_node(client, u) for u in SPREAD}
    assert len(set(nodes.values())) >= 2, nodes  # the brief's minimum
    assert len(set(nodes.values())) == 3, nodes  # and in fact one user per master


def test_all_keys_of_a_user_share_one_slot_on_its_master(
    cluster: list[int], client: RedisCluster
) -> None:
    mgr = manager(client, max_sessions=2)
    tokens, revoked = {}, {}
    for user in SPREAD:
        tokens[user] = [login(mgr, user), login(mgr, user, IPHONE_SAFARI),
                        login(mgr, user, WINDOWS_EDGE)]  # evicts one: a tombstone key too
        # another tombstone, and an audit entry (unless that session was the evicted one)
        revoked[user] = mgr.revoke_session(user, tokens[user][1].session_id)
    stored = keys_per_node(cluster)
    for user in SPREAD:
        tag = user_tag(user).encode()
        home = user_node(client, user)
        slot = client.keyslot(KEYS.for_user(user).record)
        mine = {node: {k for k in keys if b"{" + tag + b"}" in k} for node, keys in stored.items()}
        assert {node for node, keys in mine.items() if keys} == {home}
        kinds = {k.split(b"}:", 1)[1].split(b":")[0] for k in mine[home]}
        # a: the revocation's audit entry in the user's own trail; al: the user's alerts (when
        # a rule fired, e.g. a new device), in the same slot
        expected = {b"s", b"x", b"u"} | ({b"a"} if revoked[user] else set())
        assert kinds - {b"al"} == expected, mine[home]
        assert {client.keyslot(k) for k in mine[home]} == {slot}
    every_key = set().union(*stored.values())
    assert set(GLOBAL_KEYS) <= {k.decode() for k in every_key}
    global_nodes = {node_of(client, k) for k in GLOBAL_KEYS}
    assert len(global_nodes) >= 2  # the global batch really spans several masters


# --------------------------------------------------------------------------- sessions


def test_create_with_limit_evicts_and_validate_and_list(client: RedisCluster, clock: Clock) -> None:
    mgr = manager(client, clock, max_sessions=2)
    made: dict[str, list[CreatedSession]] = {}
    for user in SPREAD:
        first = login(mgr, user)
        clock.advance(60)
        second = login(mgr, user, IPHONE_SAFARI)
        clock.advance(60)
        third = login(mgr, user, WINDOWS_EDGE)
        clock.advance(60)
        made[user] = [first, second, third]

    for user, (first, second, third) in made.items():
        views = mgr.get_active_sessions(user, current_token=third.token)
        assert [v.session_id for v in views] == [third.session_id, second.session_id]
        assert [v.current for v in views] == [True, False]
        for kept in (second, third):
            session = mgr.validate_session(kept.token)
            assert session is not None
            assert (session.user_id, session.session_id) == (user, kept.session_id)
        assert mgr.validate_session(first.token) is None  # evicted by the third sign-in

    logins = events(mgr, "login")
    assert [(e.user_id, e.session_id) for e in logins] == [
        (u, c.session_id) for u in SPREAD for c in made[u]]
    evicted = events(mgr, "session_evicted")
    assert [(e.user_id, e.session_id) for e in evicted] == [
        (u, made[u][0].session_id) for u in SPREAD]
    assert [e.details["new_session_id"] for e in evicted] == [
        made[u][2].session_id for u in SPREAD]
    reused = events(mgr, "revoked_token_used")
    assert [(e.user_id, e.session_id) for e in reused] == [
        (u, made[u][0].session_id) for u in SPREAD]
    assert {e.details["revoked_reason"] for e in reused} == {"evicted"}
    assert {e.severity for e in reused} == {"high"}
    # The expiry index holds one entry per user, whichever node the user lives on.
    assert set(client.zrange("sw:exp", 0, -1)) == {user_tag(u).encode() for u in SPREAD}


def test_new_device_detection_per_user_across_nodes(client: RedisCluster, clock: Clock) -> None:
    mgr = manager(client, clock)
    second = {}
    for user in SPREAD:
        login(mgr, user)
    clock.advance(HOUR)
    for user in SPREAD:
        login(mgr, user)  # the same laptop again: quiet
    clock.advance(60)
    for user in SPREAD:
        second[user] = login(mgr, user, IPHONE_SAFARI)
    found = events(mgr, "new_device")
    assert [(e.user_id, e.session_id) for e in found] == [
        (u, second[u].session_id) for u in SPREAD]
    for event in found:
        assert event.severity == "low"
        assert event.details["device"] == "iPhone/Safari"
        assert event.details["known_devices"] == 1
    for user in SPREAD:
        assert [d.label for d in mgr.known_devices(user)] == ["iPhone/Safari", "Mac/Chrome"]


def test_racing_sign_ins_join_one_incident_in_the_event_streams_slot(
        client: RedisCluster, clock: Clock) -> None:
    """Two sign-ins of one user stepped side by side (both create scripts before either's
    findings), for users on every master: one incident per user, one delivered alert, and
    the incident key on the event stream's master, not the user's; a session probe joins it."""
    mgr = manager(client, clock, detection=DetectionSettings(
        learning_period=timedelta(seconds=1), probe_wrong_secrets=2))
    assert mgr.ensure_alert_group()
    owners = {u: login(mgr, u) for u in SPREAD}
    clock.advance(20 * 60)
    for user in SPREAD:
        round_robin(mgr._execute, [mgr.core.create_session(user, user_agent=ua, ip=IP_JP)
                                   for ua in (WINDOWS_EDGE, IPHONE_SAFARI)])
        for i in range(2):  # wrong secrets for the owner's session: a session_probe
            assert mgr.validate_session(f"{owners[user].session_id}.{'AB'[i] * 43}") is None
    delivered = [f for _, f in client.xrange(KEYS.alerts)]
    for user in SPREAD:
        found = [e for e in events(mgr) if e.user_id == user and e.type != "login"]
        assert {e.type for e in found} >= {"new_device", "session_probe"}
        assert len({e.details["incident"] for e in found}) == 1
        assert [e.details["notify"] for e in found].count(True) == 1
        assert [f[b"user"] for f in delivered].count(user.encode()) == 1
        key = KEYS.incident(user_tag(user))
        assert node_of(client, key) == node_of(client, "sw:events")
        assert client.keyslot(key) == client.keyslot("sw:events")
        assert client.get(key).split(b"|")[0].decode() == found[0].details["incident"]
        # the user's own alert list (the user's slot) has every finding, pushed after them
        assert len(mgr.user_alerts(user)) == len(found)
    # so for some user the finding's script and the user's scripts ran on different masters
    assert any(user_node(client, u) != node_of(client, "sw:events") for u in SPREAD)


def test_revoke_one_and_revoke_all_except_current(client: RedisCluster) -> None:
    mgr = manager(client)
    made = {u: [login(mgr, u), login(mgr, u, IPHONE_SAFARI), login(mgr, u, WINDOWS_EDGE)]
            for u in SPREAD}
    for user, (a, b, c) in made.items():
        assert mgr.revoke_session(user, a.session_id, actor="admin:bob", reason="lost laptop")
        assert not mgr.revoke_session(user, a.session_id)  # already gone
        assert mgr.validate_session(a.token) is None
        assert mgr.validate_session(b.token) is not None
    # A well-formed id of a user on another master is not this user's session.
    alice, carol = SPREAD[0], SPREAD[1]
    assert not mgr.revoke_session(alice, made[carol][1].session_id)
    assert mgr.validate_session(made[carol][1].token) is not None

    for user, (_a, b, c) in made.items():
        assert mgr.revoke_all_sessions(user, except_token=c.token,
                                       reason="password changed") == 1
        assert mgr.validate_session(c.token) is not None
        assert mgr.validate_session(b.token) is None
        assert [v.session_id for v in mgr.get_active_sessions(user)] == [c.session_id]

    revoked = events(mgr, "session_revoked")
    assert [(e.user_id, e.session_id, e.details["reason"]) for e in revoked] == [
        (u, made[u][0].session_id, "lost laptop") for u in SPREAD
    ] + [(u, made[u][1].session_id, "password changed") for u in SPREAD]
    assert [e.details["actor"] for e in revoked[:3]] == ["admin:bob"] * 3
    assert all(e.details["all"] and e.details["kept_current"] for e in revoked[3:])
    assert set(client.zrange("sw:exp", 0, -1)) == {user_tag(u).encode() for u in SPREAD}
    # A foreign except_token keeps nothing.
    assert mgr.revoke_all_sessions(alice, except_token=made[carol][2].token) == 1
    assert mgr.get_active_sessions(alice) == []
    assert mgr.validate_session(made[carol][2].token) is not None


def test_reauthenticate_and_rotate_across_nodes(client: RedisCluster, clock: Clock) -> None:
    """Their scripts return their events (the stream is in another slot): the library appends
    them; the rotated-out token is reported like a revoked one."""
    mgr = manager(client, clock)
    for user in SPREAD:
        created = login(mgr, user, policy="aal2")
        clock.advance(60)
        again = mgr.reauthenticate(created.token, assurance="mfa")
        assert again is not None and again.assurance == "mfa"
        rotated = mgr.rotate_session(created.token)
        assert rotated is not None and rotated.session_id == created.session_id
        assert mgr.validate_session(created.token, user_agent=MAC_CHROME) is None
        assert mgr.validate_session(rotated.token) is not None
    for kind in ("reauthenticated", "session_rotated", "revoked_token_used"):
        assert [e.user_id for e in events(mgr, kind)] == list(SPREAD), kind


def test_incident_controls_across_nodes(client: RedisCluster, clock: Clock) -> None:
    """Lock / unlock and sign out everyone on a cluster: the lock script on the user's master,
    its listing entries, events and audit after it; the not-before epoch (on its own master)
    read in validate's pipeline next to a script on another master; the purge over every
    master."""
    mgr = manager(client, clock)
    made = {u: [login(mgr, u), login(mgr, u, IPHONE_SAFARI)] for u in SPREAD}
    alice = SPREAD[0]
    clock.advance(1)
    assert mgr.lock_user(alice, actor="admin:zoe", reason="takeover") == 2
    assert all(mgr.validate_session(c.token) is None for c in made[alice])
    with pytest.raises(AccountLocked):
        login(mgr, alice)
    assert [u.user_id for u in mgr.locked_users()] == [alice]
    assert mgr.audit_trail(user_id=alice)[0].kind == "account_locked"
    assert events(mgr, "account_locked")[0].user_id == alice
    assert mgr.unlock_user(alice, actor="admin:zoe", reason="ok")
    assert mgr.locked_users() == []
    other = manager(client, clock)  # a second process, which has read the epoch (none)
    assert other.validate_session(made[SPREAD[1]][0].token) is not None
    clock.advance(1)
    mgr.revoke_everyone(actor="admin:zoe", reason="breach")
    clock.advance(0.5)
    for user in SPREAD[1:]:
        assert all(other.validate_session(c.token) is None for c in made[user])
    assert mgr.audit_trail()[0].kind == "everyone_revoked"
    while not mgr.purge_everyone(limit=1).done:
        pass
    assert all(mgr.get_active_sessions(u) == [] for u in SPREAD)
    clock.advance(0.001)
    assert mgr.validate_session(login(mgr, alice).token) is not None


def test_user_directory_prefix_and_recent_users(client: RedisCluster, clock: Clock) -> None:
    mgr = manager(client, clock)
    order = ["carol", "alice", "alfred", "dave", "alan"]
    assert len({user_node(client, u) for u in ("alice", "alfred", "alan")}) >= 2
    for user in order:
        login(mgr, user)
        clock.advance(10)
    assert mgr.users("al") == ["alan", "alfred", "alice"]
    assert mgr.users() == sorted(order)
    assert mgr.users("zz") == []
    recent = mgr.recent_users(limit=3)
    assert [u.user_id for u in recent] == ["alan", "dave", "alfred"]
    assert recent[0].last_login_at.timestamp() == clock.now - 10


def test_recent_events_and_events_after_come_from_one_global_stream(
    client: RedisCluster,
) -> None:
    mgr = manager(client)
    sessions = [login(mgr, u) for u in SPREAD]
    newest_first = mgr.recent_events(10)
    assert [(e.type, e.user_id, e.session_id) for e in newest_first] == [
        ("login", s.session.user_id, s.session_id) for s in reversed(sessions)]
    page = mgr.events_after("0-0", limit=10)
    assert [e.id for e in page.events] == [e.id for e in reversed(newest_first)]
    assert page.cursor == newest_first[0].id
    assert mgr.events_after(page.cursor).events == []


def test_sweep_expired_across_nodes_with_a_clock(client: RedisCluster, clock: Clock) -> None:
    mgr = manager(client, clock, idle_timeout=timedelta(hours=1),
                  touch_interval=timedelta(minutes=1))
    dead = {u: login(mgr, u) for u in SPREAD}
    keep = login(mgr, SPREAD[1], IPHONE_SAFARI)
    clock.advance(1800)
    assert mgr.validate_session(keep.token) is not None  # touched: now expires 1 h later
    clock.advance(1801)
    assert mgr.sweep_expired() == 3
    assert client.zscore("sw:exp", user_tag(SPREAD[1])) == (clock.now - 1801 + HOUR) * 1000
    assert all(client.zscore("sw:exp", user_tag(u)) is None for u in dead if u != SPREAD[1])
    assert mgr.sweep_expired() == 0
    expired = events(mgr, "session_expired")
    assert sorted((e.user_id, e.session_id) for e in expired) == sorted(
        (u, d.session_id) for u, d in dead.items())
    # Pruning paths do not report them a second time; the kept session is still live.
    for user in SPREAD:
        assert [v.session_id for v in mgr.get_active_sessions(user)] == (
            [keep.session_id] if user == SPREAD[1] else [])
    assert len(events(mgr, "session_expired")) == 3


def test_server_clock_sweep_runs_time_on_a_cluster(client: RedisCluster) -> None:
    mgr = manager(client)  # no clock: the sweep asks a node for TIME
    made = [login(mgr, u) for u in SPREAD]
    assert mgr.sweep_expired() == 0  # nothing due: the lower bounds are a week away
    assert client.zcard("sw:exp") == len(made)


def test_event_retention_trim_in_the_global_batch(client: RedisCluster, clock: Clock) -> None:
    mgr = manager(client, clock, event_retention=timedelta(hours=1))
    old_ms = int(clock.now * 1000) - 2 * HOUR * 1000
    for i in range(300):
        client.xadd("sw:events", {"type": "login", "user": "old", "at": old_ms},
                    id=f"{old_ms}-{i}")
    for user in SPREAD:
        login(mgr, user)
    remaining = client.xrange("sw:events")
    assert len([i for i, _ in remaining if int(i.split(b"-")[0]) == old_ms]) <= 100
    assert [f[b"user"].decode() for _, f in remaining if f[b"user"] != b"old"] == list(SPREAD)


def test_alert_action_links_revoke_across_nodes(client: RedisCluster, clock: Clock) -> None:
    mgr = manager(client, clock)
    carol, dave = SPREAD[1], SPREAD[2]
    laptops = {u: login(mgr, u) for u in (carol, dave)}
    clock.advance(HOUR)
    phones = {u: login(mgr, u, IPHONE_SAFARI) for u in (carol, dave)}
    alerts = {e.user_id: e for e in events(mgr, "new_device")}
    assert {u: alerts[u].session_id for u in alerts} == {
        u: phones[u].session_id for u in (carol, dave)}

    one = mgr.create_alert_action(alerts[carol].id)
    assert mgr.revoke_from_alert(one) == 1
    assert mgr.validate_session(phones[carol].token) is None
    assert mgr.validate_session(laptops[carol].token) is not None
    with pytest.raises(InvalidAlertAction, match="already used"):
        mgr.revoke_from_alert(one)

    every = mgr.create_alert_action(alerts[dave].id, scope="all")
    assert mgr.revoke_from_alert(every) == 2
    assert mgr.get_active_sessions(dave) == []

    used = events(mgr, "alert_action_used")
    assert [(e.user_id, e.details["scope"], e.details["revoked"]) for e in used] == [
        (carol, "session", 1), (dave, "all", 2)]
    assert [e.details["event_id"] for e in used] == [alerts[carol].id, alerts[dave].id]
    revoked = events(mgr, "session_revoked")
    assert {e.details["actor"] for e in revoked} == {"account-owner"}
    assert sorted(e.session_id for e in revoked) == sorted(
        [phones[carol].session_id, phones[dave].session_id, laptops[dave].session_id])


def test_decode_responses_cluster_client_is_refused(cluster: list[int]) -> None:
    decoded = RedisCluster(host="127.0.0.1", port=cluster[0], decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses=False"):
            SessionManager(decoded, settings())
    finally:
        decoded.close()


# --------------------------------------------------------------------------- NOSCRIPT


def _scripts_on_nodes(cluster: list[int], name: str | None = None) -> set[bool]:
    """SCRIPT EXISTS, asked of every master, for one script (or all of them)."""
    shas = [s.sha for n, s in SCRIPTS.items() if name is None or n == name]
    found = set()
    for port in cluster:
        node = redis.Redis(host="127.0.0.1", port=port)
        try:
            found.update(node.script_exists(*shas))
        finally:
            node.close()
    return found


def test_script_flush_on_every_node_is_survived(
    cluster: list[int], client: RedisCluster
) -> None:
    mgr = manager(client)
    made = {u: login(mgr, u) for u in SPREAD}
    assert _scripts_on_nodes(cluster, "create") == {True}  # loaded on every master

    client.script_flush()  # SCRIPT FLUSH goes to every master
    assert _scripts_on_nodes(cluster) == {False}
    for user, created in made.items():  # EVALSHA on each user's node: NOSCRIPT, load, retry
        assert [v.session_id for v in mgr.get_active_sessions(user)] == [created.session_id]
        assert mgr.validate_session(created.token).user_id == user
    assert _scripts_on_nodes(cluster, "list") == {True}  # SCRIPT LOAD: every master

    client.script_flush()
    again = {u: login(mgr, u, IPHONE_SAFARI) for u in SPREAD}
    client.script_flush()
    assert all(len(mgr.get_active_sessions(u)) == 2 for u in SPREAD)
    client.script_flush()
    for user in SPREAD:
        assert mgr.revoke_session(user, made[user].session_id)
    client.script_flush()
    for user in SPREAD:
        assert mgr.revoke_all_sessions(user) == 1
        assert mgr.validate_session(again[user].token) is None
    # Revocation leaves each user's expiry-index entry; the sweep drops it once it is due.
    assert client.zcard("sw:exp") == len(SPREAD)


def test_script_flush_is_survived_inside_the_sweep_pipeline(
    cluster: list[int], client: RedisCluster, clock: Clock
) -> None:
    mgr = manager(client, clock, idle_timeout=timedelta(hours=1),
                  touch_interval=timedelta(minutes=1))
    made = [login(mgr, u) for u in SPREAD]
    # The sweep sends one EVALSHA per due user in a single cluster pipeline; after a flush
    # every one of them comes back NOSCRIPT and is reloaded and retried.
    client.script_flush()
    clock.advance(2 * HOUR)
    assert mgr.sweep_expired() == len(SPREAD)
    assert client.zcard("sw:exp") == 0
    assert sorted(e.session_id for e in events(mgr, "session_expired")) == sorted(
        c.session_id for c in made)


# --------------------------------------------------------------------------- asyncio


def test_async_cluster_create_validate_revoke(cluster: list[int], client: RedisCluster) -> None:
    async def scenario() -> None:
        aclient = aiocluster.RedisCluster(host="127.0.0.1", port=cluster[0],
                                          decode_responses=False, socket_timeout=5)
        mgr = AsyncSessionManager(aclient, settings(max_sessions=2))
        try:
            made = {}
            for user in SPREAD:
                made[user] = []
                for ua in (MAC_CHROME, IPHONE_SAFARI, WINDOWS_EDGE):
                    made[user].append(await mgr.create_session(user, user_agent=ua, ip=IP_US))
                    # Server clock: sign-ins in one millisecond tie on activity, and the limit
                    # then evicts by session id; keep them apart so "first" is the oldest.
                    await asyncio.sleep(0.003)
            for user, (first, second, third) in made.items():
                assert await mgr.validate_session(first.token) is None  # evicted
                session = await mgr.validate_session(second.token)
                assert session is not None and session.user_id == user
                views = await mgr.get_active_sessions(user, current_token=third.token)
                assert [v.session_id for v in views] == [third.session_id, second.session_id]
                assert await mgr.revoke_session(user, second.session_id, reason="lost")
                assert not await mgr.revoke_session(user, second.session_id)
                assert await mgr.validate_session(second.token) is None

            await aclient.script_flush()
            for user, (_first, _second, third) in made.items():  # NOSCRIPT reload, per node
                assert (await mgr.validate_session(third.token)).user_id == user
                assert await mgr.revoke_all_sessions(user) == 1
                assert await mgr.get_active_sessions(user) == []

            types = [e.type for e in reversed(await mgr.recent_events(100))]
            assert types.count("login") == 3 * len(SPREAD)
            assert types.count("session_evicted") == len(SPREAD)
            assert types.count("session_revoked") == 2 * len(SPREAD)
            assert types.count("revoked_token_used") == 2 * len(SPREAD)
            assert await mgr.users() == sorted(SPREAD)
            # the global audit trail (another slot) is appended after each revoke script
            trail = await mgr.audit_trail()
            assert sorted(e.reason or "" for e in trail) == sorted(["lost", ""] * len(SPREAD))
            for user in SPREAD:
                assert len(await mgr.audit_trail(user_id=user)) == 2
        finally:
            await mgr.aclose()

    asyncio.run(scenario())


def test_async_cluster_sweep_after_script_flush(cluster: list[int], client: RedisCluster) -> None:
    clock = Clock()
    sync_mgr = manager(client, clock, idle_timeout=timedelta(hours=1))
    made = {u: login(sync_mgr, u) for u in SPREAD}
    clock.advance(2 * HOUR)
    client.script_flush()

    async def scenario() -> int:
        aclient = aiocluster.RedisCluster(host="127.0.0.1", port=cluster[0],
                                          decode_responses=False, socket_timeout=5)
        mgr = AsyncSessionManager(aclient, sync_mgr.settings, clock=clock)
        try:
            return await mgr.sweep_expired()
        finally:
            await mgr.aclose()

    assert asyncio.run(scenario()) == len(SPREAD)
    assert client.zcard("sw:exp") == 0
    assert sorted((e.user_id, e.session_id) for e in events(sync_mgr, "session_expired")) == sorted(
        (u, c.session_id) for u, c in made.items())
