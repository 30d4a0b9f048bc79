"""Daemon benchmarks on a throwaway redis-server (started here, on a free port):

1. The expiry sweep: 10k due users of 100k and of 1M live sessions (one session per user),
   seeded in the documented layout by a Lua loop (pipelined chunks), swept in one call of
   ``sweep_due(limit=10000)``. Cost must follow what is due, not what exists.
2. Alert delivery through the log sink: N alerts in the alert stream, the daemon's delivery
   loop (batched group reads, batched delivery records, one XACK per batch) drains them.

    .venv/bin/python bench/bench_daemon.py [--big 1000000] [--alerts 50000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

import redis

from sessionwarden import SessionManager, Settings

SEED = """
local now, first, last, due, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5])
local sep = '\\31'
for i = first, last do
  local tag = string.format('t%015d', i)
  local base = 'sw:{' .. tag .. '}:'
  redis.call('HSET', base .. 'u', 'id', 'user' .. i, 's:r0000000000', now)
  if i < due then
    redis.call('ZADD', 'sw:exp', now - 1000, tag)   -- its session key already expired
  else
    local rec = string.rep('h', 32) .. table.concat({now, now, now + ttl, ttl, '8.8.8.8', 'US',
      '', '', 'fp', 'abcdefgh', '', 'user' .. i}, sep)
    redis.call('SET', base .. 's:r0000000000', rec, 'PX', ttl)
    redis.call('ZADD', 'sw:exp', now + ttl, tag)
  end
end
return last - first + 1
"""


def server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port",
                             str(port), "--save", "", "--appendonly", "no", "--dir",
                             tempfile.mkdtemp()], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, url


def seed(raw: redis.Redis, total: int, due: int) -> float:
    started = time.perf_counter()
    now = int(time.time() * 1000)
    chunk = 20_000
    pipe = raw.pipeline(transaction=False)
    for first in range(0, total, chunk):
        pipe.eval(SEED, 0, now, first, min(first + chunk, total) - 1, due, 3_600_000)
        if len(pipe) >= 5:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def bench_sweep(url: str, total: int, due: int = 10_000, runs: int = 3) -> list[float]:
    raw = redis.Redis.from_url(url)
    mgr = SessionManager(redis.Redis.from_url(url, socket_timeout=30), Settings())
    times = []
    for _ in range(runs):
        raw.flushall()
        seeded = seed(raw, total, due)
        started = time.perf_counter()
        result = mgr.sweep_due(limit=10_000)
        times.append(time.perf_counter() - started)
        assert result.expired == due and result.still_due == 0, result
    print(f"sweep {due:,} due of {total:,} sessions (seeded in {seeded:.1f} s): "
          + ", ".join(f"{t:.3f}" for t in times) + " s")
    return times


def _daemon(url: str, env: dict[str, str] | None = None) -> object:
    from sessionwarden_daemon.app import Daemon
    from sessionwarden_daemon.settings import load_config
    config = load_config(None, env={"REDIS_URL": url, **(env or {})})
    return Daemon(config)


def bench_webhook_sink(url: str, count: int) -> float:
    """Sends under the in-flight claim (lease, record and group re-check, record, release)
    to a loopback HTTP receiver that answers at once: the per-send cost of exactly-once."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    raw = redis.Redis.from_url(url)
    raw.flushall()
    daemon: Any = _daemon(url, {
        "SESSIONWARDEN_ALERTS__LOG": "false", "SESSIONWARDEN_ALERTS__WEBHOOK__ENABLED": "true",
        "SESSIONWARDEN_ALERTS__WEBHOOK__URL": f"http://127.0.0.1:{http.server_address[1]}/",
        "SESSIONWARDEN_ALERTS__WEBHOOK__SECRET": "bench-secret-0123456789"})
    elapsed = _time_delivery(daemon, raw, count)
    http.shutdown()
    rate = count / elapsed
    print(f"webhook sink (claimed sends, loopback receiver): {count:,} alerts in "
          f"{elapsed:.2f} s = {rate:,.0f} alerts/s")
    return rate


def _time_delivery(daemon: Any, raw: Any, count: int) -> float:
    """Seconds the daemon takes to deliver ``count`` alerts seeded into its alert stream; every
    one must be acknowledged at the end."""
    daemon.mgr.ensure_alert_group()
    _seed_alerts(raw, daemon.mgr.core.keys.alerts, count)
    started = time.perf_counter()
    done = 0
    while done < count:
        done += daemon.deliver_once(block_ms=100)
    elapsed = time.perf_counter() - started
    assert daemon.mgr.alert_status().pending == 0
    return elapsed


def _seed_alerts(raw: Any, key: str, count: int) -> None:
    pipe = raw.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(key, {"eid": f"{1000 + i}-0", "type": "new_device", "user": f"u{i}",
                        "sid": "", "sev": "medium", "at": str(int(time.time() * 1000)),
                        "d": '{"reason":"bench","device":"Mac/Chrome"}'})
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()


def bench_log_sink(url: str, count: int) -> float:
    raw = redis.Redis.from_url(url)
    raw.flushall()
    daemon: Any = _daemon(url)
    daemon.sinks["log"].stream = open(os.devnull, "w")  # noqa: SIM115
    elapsed = _time_delivery(daemon, raw, count)
    rate = count / elapsed
    print(f"log sink: {count:,} alerts in {elapsed:.2f} s = {rate:,.0f} alerts/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--webhooks", type=int, default=2_000)
    args = parser.parse_args()
    proc, url = server()
    try:
        bench_sweep(url, 100_000)
        bench_sweep(url, args.big)
        bench_log_sink(url, args.alerts)
        bench_webhook_sink(url, args.webhooks)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
