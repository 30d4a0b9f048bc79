"""Console targets of issue #9 with 100,000 users: first paint < 1 s, each search keystroke
< 100 ms. Starts its own redis-server, fills the directory, then measures (a) the core calls
the console makes (users_page with and without a prefix, totals) and (b) in a headless Textual
app (App.run_test), the time from start to the first painted user rows and from each keystroke
in the search box to the table showing its result (directory read + widget update).

    .venv/bin/python bench/bench_console.py [--users 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

from sessionwarden import SessionManager, Settings

UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(url: str, users: int, with_sessions: int) -> None:
    writer = SessionManager.from_url(url, Settings(secret="bench-" + "x" * 40))
    for i in range(with_sessions):  # real sign-ins: records, devices, recent index, totals
        writer.create_session(f"user{i:06d}", user_agent=UA, ip=f"8.8.{i % 250}.{i % 200 + 1}")
    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    for i in range(with_sessions, users):  # the rest: directory entries only
        pipe.zadd("sw:users", {f"user{i:06d}": 0})
        if i % 10_000 == 0:
            pipe.execute()
    pipe.execute()
    assert client.zcard("sw:users") == users


def timed(fn, n: int = 20) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


async def ui(url: str) -> dict[str, float]:
    from sessionwarden_console.app import ConsoleApp
    from sessionwarden_console.config import ConsoleConfig
    from sessionwarden_console.data import ConsoleData
    from textual.widgets import DataTable, Input

    t0 = time.perf_counter()
    manager = SessionManager.from_url(url, Settings())
    app = ConsoleApp(ConsoleData(manager, operator="bench"), ConsoleConfig(refresh_seconds=60))
    out: dict[str, float] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#users", DataTable)
        while table.row_count == 0:
            await pilot.pause(0.005)
        await pilot.pause()
        out["first_paint_ms"] = (time.perf_counter() - t0) * 1000
        search = app.screen.query_one("#search", Input)
        search.focus()
        keystrokes = []
        for prefix in ["u", "us", "use", "user", "user0", "user00", "user001", "user0012"]:
            first = None
            t = time.perf_counter()
            await pilot.press(prefix[-1])
            expected = prefix
            while True:
                await pilot.pause(0.002)
                rows = table.row_count
                first = str(table.get_row_at(0)[0]) if rows else ""
                if rows and first.startswith(expected) and app.screen.loaded_prefix == prefix:
                    break
            keystrokes.append((time.perf_counter() - t) * 1000)
        out["keystroke_median_ms"] = statistics.median(keystrokes)
        out["keystroke_max_ms"] = max(keystrokes)
    manager.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--with-sessions", type=int, default=2_000)
    args = ap.parse_args()
    port = free_port()
    workdir = tempfile.mkdtemp()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        t = time.perf_counter()
        fill(url, args.users, args.with_sessions)
        print(f"filled {args.users:,} users ({args.with_sessions:,} with a session) in "
              f"{time.perf_counter() - t:.1f} s")
        mgr = SessionManager.from_url(url, Settings())
        for label, fn in [
            ("users_page() recent, 100 rows", lambda: mgr.users_page(limit=100)),
            ("users_page('u') 100 rows", lambda: mgr.users_page("u", limit=100)),
            ("users_page('user0012') 100 rows", lambda: mgr.users_page("user0012", limit=100)),
            ("users_page('user09') dir-only rows", lambda: mgr.users_page("user09", limit=100)),
            ("totals()", mgr.totals),
        ]:
            med, worst = timed(fn)
            print(f"{label:<40} median {med:6.2f} ms  max {worst:6.2f} ms")
        result = asyncio.run(ui(url))
        print(f"first paint (app start -> user rows)    {result['first_paint_ms']:7.1f} ms "
              f"(target < 1000)")
        print(f"search keystroke -> table updated       median {result['keystroke_median_ms']:.1f}"
              f" ms  max {result['keystroke_max_ms']:.1f} ms (target < 100)")
    finally:
        proc.terminate()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
