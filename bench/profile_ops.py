#!/usr/bin/env python
"""Where the time of validate_session and create_session goes (companion of bench_store.py).

    .venv/bin/python bench/profile_ops.py [--quick] [--cprofile] [--loop OP --seconds S]

1. Interleaved wall-time ladder, each step adding one layer to the one before:
   GET -> EVALSHA of a no-op script -> the same with validate.lua's keys and arguments ->
   the GET of the session record that validate's fast path sends -> validate.lua called
   straight through redis-py -> the library call, on its fast path (one GET, for a session
   this process has seen) and on its script path (a session it has not seen).
   The library's pure-Python part is timed apart by feeding it canned replies (no I/O at all):
   validate_probe + validate_read of a GET reply for validate, the generator for create.
2. Redis-side execution time per call (INFO commandstats usec_per_call): per operation, and
   validate.lua built up piece by piece (_lib.lua, TIME, GET of the record, its parse and
   checks, the reply).
3. The pure-Python pieces of create_session, one by one.
   With --cprofile: the top functions of the pure-Python part of each operation.
4. With --loop OP: just run OP (validate | create | get) for S seconds, for a sampling profiler:
   ``py-spy record -o out.svg -- .venv/bin/python bench/profile_ops.py --loop validate``.

Uses its own redis-server on a free loopback port, like bench_store.py (or --redis-url).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_store as bs

from sessionwarden import SessionManager, Settings
from sessionwarden.devices import device_class_key, fingerprint, parse_user_agent
from sessionwarden.models import Session
from sessionwarden.protocol import Command, Eval
from sessionwarden.sanitize import clean_text, require_ip
from sessionwarden.scripts import SCRIPTS
from sessionwarden.tokens import new_rand, new_token, parse_token


def drive(op: Any, replies: list[Any]) -> Any:
    """Run a core generator with canned replies (no I/O)."""
    try:
        next(op)
        for reply in replies:
            op.send(reply)
    except StopIteration as done:
        return done.value
    raise AssertionError("operation asked for more replies than were canned")


def capture(mgr: SessionManager, op: Any) -> tuple[list[Any], list[Any], Any]:
    """Run an operation for real, recording its requests and replies."""
    requests, replies = [], []
    try:
        request = next(op)
        while True:
            requests.append(request)
            reply = mgr._execute(request)
            replies.append(reply)
            request = op.send(reply)
    except StopIteration as done:
        return requests, replies, done.value


def canned_validate(mgr: SessionManager, token: str) -> Callable[[int], Any]:
    """validate_session's pure-Python part on its fast path, the GET's reply canned:
    validate_probe, then validate_read. ``token``'s session must be one ``mgr`` has just
    created (its hint makes the probe send the GET, and no touch is due for a touch interval,
    so the read decides): build this right before use."""
    core = mgr.core
    probe = core.validate_probe(token)
    if probe is None or probe.read is None:
        raise AssertionError("validate_probe did not choose the GET path")
    raw = mgr._execute(probe.read)

    def run(_: int) -> Any:
        return core.validate_read(core.validate_probe(token), raw)

    if not isinstance(run(0), Session):
        raise AssertionError("validate_read did not decide on the GET reply")
    return run


def ladder(steps: dict[str, Callable[[int], Any]], rounds: int, n: int) -> dict[str, float]:
    """Median µs/op of each step over interleaved rounds (noise hits every step alike)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            t0 = time.perf_counter_ns()
            for i in range(n):
                fn(i)
            times[name].append((time.perf_counter_ns() - t0) / n / 1000)
    return {name: statistics.median(v) for name, v in times.items()}


def server_usec(client: Any, fn: Callable[[int], Any], n: int) -> dict[str, tuple[float, float]]:
    """(usec of Redis command execution, calls) per call of ``fn``, by command (nested calls of
    a script are listed under their own names and are included in the script's EVALSHA time)."""
    client.config_resetstat()
    for i in range(n):
        fn(i)
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): (v["usec"] / n, v["calls"] / n)
            for k, v in stats.items()
            if not k.startswith("cmdstat_config") and not k.startswith("cmdstat_info")}


def top_functions(fn: Callable[[int], Any], n: int, limit: int = 18) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        fn(i)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(limit)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cprofile", action="store_true", help="print cProfile top functions")
    parser.add_argument("--loop", choices=("validate", "create", "get"),
                        help="only run this operation in a loop (for py-spy)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--redis-url")
    parser.add_argument("--pin", choices=("same", "split", "none"), default="same",
                        help="CPU placement, as in bench_store.py")
    opts = parser.parse_args(argv)
    placement = bs.pin(opts.pin)
    print(f"CPU placement: {placement}; library: {bs.LIBRARY}")
    if opts.redis_url:
        import redis

        pool_kwargs = redis.connection.parse_url(opts.redis_url)
        return run(pool_kwargs.get("host", "127.0.0.1"), pool_kwargs.get("port", 6379), opts)
    with bs.own_server(placement["server_cpus"]) as (host, port):
        return run(host, port, opts)


def run(host: str, port: int, opts: argparse.Namespace) -> int:
    client = bs.make_client(host, port, 0, None, None)
    if client.dbsize():
        print("refusing: the database is not empty", file=sys.stderr)
        return 2
    mgr = SessionManager(client, Settings(secret=bs.SECRET))
    w = bs.Workload(client, mgr, mgr, bs.QUICK, random.Random(2))
    # Created by mgr, which so has seen their last activity: its validates take the GET path.
    tokens = [w.create(w.login_args(f"v{i}")).token for i in range(500)]
    client.set("k", b"x" * bs.GET_VALUE_BYTES)
    logins = [w.login_args(f"u{i // 2}") for i in range(200_000)]
    counter = iter(range(10**9))

    def create(_: int) -> Any:
        return w.create(logins[next(counter)])

    if opts.loop:
        fn = {"validate": lambda i: mgr.validate_session(tokens[i % 500]), "create": create,
              "get": lambda i: client.get("k")}[opts.loop]
        deadline = time.monotonic() + opts.seconds
        i = 0
        while time.monotonic() < deadline:
            for _ in range(200):
                fn(i)
                i += 1
        print(f"{opts.loop}: {i} calls")
        client.flushall()
        return 0

    rounds, n = (5, 300) if opts.quick else (15, 1000)
    busy0, own0, srv0, t0 = (bs.machine_busy_seconds(), time.process_time(),
                             bs.server_cpu(client), time.monotonic())
    steal0 = bs.steal_seconds()
    for i in range(500):  # warm up (scripts loaded, caches filled)
        mgr.validate_session(tokens[i % 500])
        create(i)

    # -- validate ---------------------------------------------------------------------------
    # The keys and arguments validate.lua gets: the script path's request, built but not sent.
    probe = mgr.core.validate_probe(tokens[1])
    assert probe is not None
    v_req = next(mgr.core.validate_script(probe))
    v_args = (len(v_req.keys), *v_req.keys, *v_req.args)
    noop = client.script_load("return 1")
    noop_args = client.script_load("return 1 -- with arguments")
    v_sha = client.script_load(SCRIPTS["validate"].source)
    session_keys = [mgr.core.keys.session(parsed.tag, parsed.rand)
                    for parsed in map(parse_token, tokens)]
    record_bytes = len(client.get(session_keys[0]))

    def validate(i: int) -> Any:
        return mgr.validate_session(tokens[i % 500])

    # A manager that forgets every session: each of its validates takes the script path.
    cold = SessionManager(client, Settings(secret=bs.SECRET))

    def validate_cold(i: int) -> Any:
        cold.core._activity.clear()
        return cold.validate_session(tokens[i % 500])

    validate_python = canned_validate(mgr, create(0).token)
    validate_steps: dict[str, Callable[[int], Any]] = {
        "GET 300 B": lambda i: client.get("k"),
        "EVALSHA no-op script, no keys": lambda i: client.evalsha(noop, 0),
        f"EVALSHA no-op script, validate.lua's {len(v_req.keys)} keys + {len(v_req.args)} "
        "args": lambda i: client.evalsha(noop_args, *v_args),
        f"GET of the {record_bytes} B session record straight (the fast path's request; "
        "redis-py only)": lambda i: client.execute_command("GET", session_keys[i % 500]),
        "EVALSHA validate.lua straight (redis-py only)": lambda i: client.evalsha(
            v_sha, *v_args),
        "mgr.validate_session(token), fast path (GET of a session this process has seen)": (
            validate),
        "  its pure-Python part alone (probe + read of a canned GET reply)": validate_python,
        "  GET, then that pure-Python part (caches shared with Redis)": lambda i: (
            client.get("k"), validate_python(i)),
        "mgr.validate_session(token), script path (a session this process has not seen)": (
            validate_cold),
    }
    # -- create -----------------------------------------------------------------------------
    requests, replies_c, _ = capture(mgr, mgr.core.create_session(
        "probe", user_agent=bs.USER_AGENTS[0], ip="81.2.69.160"))
    c_shape = " + ".join(describe(r) for r in requests)
    c_req, *c_after = requests
    if not isinstance(c_req, Eval) or c_req.script != "create":
        print(f"create_session now sends {c_shape}: update this script", file=sys.stderr)
        return 1
    c_sha = SCRIPTS["create"].sha

    def create_script(_: int) -> Any:
        args = list(c_req.args)
        args[1] = new_rand()  # a new session each time (same user: evicts at the limit)
        return client.evalsha(c_sha, len(c_req.keys), *c_req.keys, *args)

    py_logins = [w.login_args(f"py{i}") for i in range(200_000)]
    py_counter = iter(range(10**9))

    def create_python(_: int) -> Any:
        user, ua, ip = py_logins[next(py_counter)]
        return drive(mgr.core.create_session(user, user_agent=ua, ip=ip), replies_c)

    create_steps: dict[str, Callable[[int], Any]] = {
        "GET 300 B": lambda i: client.get("k"),
        "EVALSHA create.lua straight (redis-py only)": create_script,
    }
    if c_after:
        create_steps[f"the {' + '.join(describe(r) for r in c_after)} after it, straight "
                     "(redis-py only)"] = straight(client, c_after)
    create_steps.update({
        f"mgr.create_session (distinct users; a first sign-in sends {c_shape})": create,
        "  its pure-Python part alone (canned replies)": create_python,
    })

    print(f"interleaved ladder: {rounds} rounds x {n} calls per step, median µs per call")
    results = {}
    for title, steps in (("validate", validate_steps), ("create", create_steps)):
        results[title] = ladder(steps, rounds, n if title == "validate" else n // 2)
        base = results[title]["GET 300 B"]
        print(f"\n{title}:")
        for name, us in results[title].items():
            print(f"  {us:7.1f} µs  ({us / base:4.2f}x GET time)  {name}")

    print("\nRedis-side execution, usec per call (and commands per call), by command "
          "(INFO commandstats):")
    for name, fn in (("GET", validate_steps["GET 300 B"]),
                     ("validate_session", validate),
                     ("  script path", validate_cold),
                     ("create_session", create)):
        stats = server_usec(client, fn, n)
        parts = ", ".join(f"{k} {usec:.2f} (x{calls:.2f})" for k, (usec, calls)
                          in sorted(stats.items(), key=lambda x: -x[1][0]))
        print(f"  {name:17} {parts}")
    print("  (EVALSHA includes the commands its script calls, which are also listed on their "
          "own)")

    lua_ladder(client, v_args, n, validate_steps["GET 300 B"],
               lambda i: client.execute_command("GET", session_keys[i % 500]))
    create_pieces(mgr, py_logins, n)
    busy1, own1, srv1, t1 = (bs.machine_busy_seconds(), time.process_time(),
                             bs.server_cpu(client), time.monotonic())
    if busy0 is not None and busy1 is not None:
        other = max(0.0, (busy1 - busy0) - (own1 - own0) - (srv1 - srv0))
        steal1 = bs.steal_seconds()
        steal = f"{steal1 - steal0:.1f}" if steal0 is not None and steal1 is not None else "?"
        print(f"\nother processes on this machine used {other:.1f} CPU-s during these "
              f"{t1 - t0:.0f} s ({other / (t1 - t0):.0%} of one CPU), hypervisor steal {steal} "
              "CPU-s: more = noisier numbers")

    clock_skew(client, w)

    if opts.cprofile:
        print("\ncProfile of validate_session's pure-Python part (probe + read of a canned GET "
              "reply):")
        print(top_functions(canned_validate(mgr, create(0).token), 5000))
        print("\ncProfile of create_session's pure-Python part (canned replies):")
        print(top_functions(create_python, 3000))
        print("\ncProfile of validate_session, with I/O (fast path):")
        print(top_functions(validate, 5000))
    client.flushall()
    return 0


def lua_ladder(client: Any, v_args: tuple[Any, ...], n: int, get: Callable[[int], Any],
               get_record: Callable[[int], Any]) -> None:
    """validate.lua's Redis-side execution time, built up one piece at a time."""
    print("\nRedis-side cost of validate.lua, built up (EVALSHA usec per call, median of 5):")
    lib = files("sessionwarden.scripts").joinpath("_lib.lua").read_text(encoding="utf-8")
    now = lib + "\nlocal now = now_ms(ARGV[3])\n"
    read = now + "local v = redis.pcall('GET', KEYS[1])\n"
    # validate.lua's reading of the record: its parts, then live? (hash, expiry) touch due?
    parse = read + (
        "local r = read_session(v)\n"
        "local a, deadline, idle = from_b36(r[2]), from_b36(r[3]), from_b36(r[4])\n"
        "local live = r.h == ARGV[2] and now < deadline and now - a < idle\n"
        "local due = now - a >= (r[13] ~= '' and from_b36(r[13]) or tonumber(ARGV[4]))\n")
    n_keys, n_args = v_args[0], len(v_args) - 1 - v_args[0]
    lua_steps = {
        "no-op script, no arguments": ("return 1", (0,)),
        f"no-op script, validate.lua's {n_keys} keys + {n_args} args": (
            "return 1 -- args", v_args),
        "+ _lib.lua's definitions (prepended to every script)": (lib + "\nreturn 1", v_args),
        "+ now_ms (TIME)": (now + "return 1", v_args),
        "+ GET of the session record": (read + "return 1", v_args),
        "+ read_session (split into its fields) and the checks (hash, expiry, touch due)": (
            parse + "return 1", v_args),
        "+ return {status, now, record}": (
            parse + "return {live and (due and 'touch' or 'ok') or 'none', now, v}", v_args),
        "validate.lua as shipped": (SCRIPTS["validate"].source, v_args),
    }
    shas = {name: client.script_load(src) for name, (src, _) in lua_steps.items()}
    usec: dict[str, list[float]] = {name: [] for name in lua_steps}
    for _ in range(5):
        for name, (_, args) in lua_steps.items():
            client.config_resetstat()
            for _ in range(n):
                client.evalsha(shas[name], *args)
            usec[name].append(client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])
    for name, fn in (("GET 300 B", get), ("GET of the session record (the fast path)",
                                           get_record)):
        print(f"  {server_usec(client, fn, n)['get'][0]:6.2f}  {name}, for comparison")
    for name, values in usec.items():
        print(f"  {statistics.median(values):6.2f}  {name}")


def create_pieces(mgr: SessionManager, logins: list[tuple[str, str, str]], n: int) -> None:
    """The pure-Python pieces of create_session, one at a time."""
    print("\nPure-Python pieces of create_session (µs per call, no I/O):")
    core = mgr.core
    ua = bs.USER_AGENTS[0]
    info = parse_user_agent(ua)
    ips = [login[2] for login in logins[:n]]
    pieces: dict[str, Callable[[int], Any]] = {
        "clean_text(user agent) (sanitize.clean_text)": lambda i: clean_text(ua, 512),
        "require_ip(ip)": lambda i: require_ip(ips[i % n]),
        "geo.locate(ip), new addresses": lambda i: core.geo.locate(ips[i % n]),
        "geo.locate(ip), one address (iptocc cached)": lambda i: core.geo.locate(ips[0]),
        "parse_user_agent (LRU hit)": lambda i: parse_user_agent(ua),
        "fingerprint + device_class_key (2 HMAC-SHA256)": lambda i: (
            fingerprint(core._fp_key, info, None), device_class_key(core._fp_key, info)),
        "user key tag (SHA-256 of the user id)": lambda i: core.keys.for_user(f"user{i}"),
        "new_rand + new_token": lambda i: new_token("t" * 16 + new_rand()),
        "one XADD command (event_fields + JSON)": lambda i: core._xadd(
            "login", "u1", "sid", "info", 1, {"ip": "1.2.3.4", "country": "US",
                                              "device": "Mac/Chrome", "fingerprint": "0" * 16}),
    }
    for name, us in ladder(pieces, 5, n).items():
        print(f"  {us:6.2f}  {name}")


def clock_skew(client: Any, w: bs.Workload) -> None:
    """Round trips per validate when the application server's clock is ahead of Redis's.

    The fast path decides "touch due" with the local clock, corrected by the offset seen in
    the last script reply; the script decides with Redis's. This shifts the local clock of a
    manager that has not seen the sessions (its first validate of each runs the script) and
    counts."""
    mgr = SessionManager(client, Settings(secret=bs.SECRET))
    print("\nvalidate with the application server's clock ahead of Redis's (fresh sessions, "
          "touch interval 60 s):")
    fresh = [w.create(w.login_args(f"skew{i}")).token for i in range(100)]
    wire = bs.Wire(client)
    for skew in (0, 30, 61, 300):
        mgr.core._now_ms = lambda skew=skew: int((time.time() + skew) * 1000)  # type: ignore
        hsets = bs.hset_calls(client)
        with wire.counting():
            sends = wire.sends
            for token in fresh * 3:
                assert mgr.validate_session(token) is not None
            per_call = (wire.sends - sends) / (3 * len(fresh))
        touches = (bs.hset_calls(client) - hsets) / (3 * len(fresh))
        print(f"  {skew:4d} s ahead: {per_call:.2f} round trips and {touches:.2f} touch writes "
              "per validate")


def describe(request: Any) -> str:
    if isinstance(request, Eval):
        return f"EVALSHA {request.script}"
    if isinstance(request, Command):
        return str(request.args[0])
    return f"pipeline of {len(request.items)}"


def straight(client: Any, requests: list[Any]) -> Callable[[int], Any]:
    """Send an operation's recorded requests again with redis-py alone (no library code)."""
    def run(_: int) -> Any:
        for request in requests:
            if isinstance(request, Eval):
                client.evalsha(SCRIPTS[request.script].sha, len(request.keys), *request.keys,
                               *request.args)
            elif isinstance(request, Command):
                client.execute_command(*request.args)
            else:
                pipe = client.pipeline(transaction=False)
                for item in request.items:
                    if isinstance(item, Eval):
                        pipe.evalsha(SCRIPTS[item.script].sha, len(item.keys), *item.keys,
                                     *item.args)
                    else:
                        pipe.execute_command(*item.args)
                pipe.execute()
    return run


if __name__ == "__main__":
    sys.exit(main())
