"""The daemon: APScheduler 3 jobs over one `SessionManager`.

Jobs (``coalesce``, ``max_instances=1``, a misfire grace, jitter): the expiry sweep (only by the
holder of the ``sweep`` lease), the heartbeat, retention (alert stream by age but never past
an unacknowledged alert; event stream by ``event_retention``; audit trail by
``audit_retention``), and the delivery loop (one consumer of the alert group: its own pending
entries first, then new ones, stale entries of dead consumers claimed; acknowledged only when
every routed sink has delivered or been given up as a dead letter).

Faults: SIGTERM stops reading, leaves in-flight entries unacknowledged, shuts the scheduler and
exits 0; Redis down is logged (once per outage) and retried with back-off; a failing sink is
retried with exponential back-off and jitter (honouring Retry-After) while other alerts and
sinks go on, and after ``max_attempts`` becomes a dead letter.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from sessionwarden import SessionManager
from sessionwarden.core.consumer import Alert
from sessionwarden.errors import SessionWardenError
from sessionwarden.settings import SEVERITIES

from . import __version__
from .metrics import Metrics
from .sdnotify import notify, watchdog_interval
from .settings import DaemonConfig
from .sinks import DesktopSink, EmailSink, LogSink, SinkError, WebhookSink, plain

log = logging.getLogger("sessionwarden.daemon")
SWEEP_LEASE = "sweep"
CLAIM_RETRY = 0.5  # seconds before trying an (alert, sink) another daemon is sending again
STOP_GRACE = 5.0  # seconds SIGTERM waits for a send in progress before the process exits


def claim_ttl_ms(timeout: float) -> int:
    """Lifetime of an in-flight claim for a sink with this timeout: longer than one send."""
    return int(min(max(2 * timeout + 2.0, 3.0), 3600.0) * 1000)


class Daemon:
    def __init__(self, config: DaemonConfig, *, manager: SessionManager | None = None) -> None:
        self.config = config
        d = config.daemon
        self.mgr = manager or config.shared.manager()
        self.instance = f"{socket.gethostname()[:60]}:{os.getpid()}".replace(" ", "_")
        self.instance = "".join(c if c.isalnum() or c in "-_.:@" else "_" for c in self.instance)
        self.stop = threading.Event()
        self.started = datetime.now(UTC)
        self.metrics = Metrics(d.listen)
        a = config.alerts
        self.sinks: dict[str, Any] = {}
        if a.log:
            self.sinks["log"] = LogSink()
        if a.desktop.enabled:
            self.sinks["desktop"] = DesktopSink(a.desktop)
        if a.email.enabled:
            self.sinks["email"] = EmailSink(a.email, self.mgr, key_prefix=config.key_prefix)
        if a.webhook.enabled:
            self.sinks["webhook"] = WebhookSink(a.webhook)
        self.delivered = dict.fromkeys(self.sinks, 0)
        self.failed = dict.fromkeys(self.sinks, 0)
        self.dead = dict.fromkeys(self.sinks, 0)
        self.expired = 0
        self.last_sweep: str | None = None
        self.sweeping = False
        self.lag: int | None = 0
        self.pending = 0
        # the watchdog's view (see `alive`): when the delivery loop last finished a step, and
        # since when each scheduled job has been running (absent: not running)
        self.progress = {"deliver": time.monotonic()}
        self.busy: dict[str, float] = {}
        self.running: set[str] = set()  # jobs in progress (SIGTERM waits for them a while)
        self._claim_ms = {name: claim_ttl_ms(getattr(getattr(a, name), "timeout",
                                                     timedelta(0)).total_seconds())
                          for name in self.sinks if self.sinks[name].record_each}
        self.claim_waits = 0  # (alert, sink) sends left to the daemon holding their claim
        self._retry: dict[str, tuple[Alert, float]] = {}  # alert id -> (alert, due monotonic)
        self._open_until: dict[str, float] = {}  # sink -> monotonic time its back-off ends
        self._pending_cursor: str | None = "0"  # re-read own pending entries first
        self._next_claim = 0.0
        self._down_since: float | None = None
        self._backoff = 0.2

    # -- routing -----------------------------------------------------------------------------

    def route(self, alert: Alert) -> list[str]:
        if alert.only:
            return [alert.only] if alert.only in self.sinks else []
        a, event = self.config.alerts, alert.event
        rank = SEVERITIES.index(event.severity) if event.severity in SEVERITIES else 0
        if rank < SEVERITIES.index(a.min_severity):
            return []
        names = a.routes.get(event.type) or a.routes.get(event.severity) or a.sinks
        chosen = [n for n in names if n in self.sinks]
        if "email" in chosen and event.type not in a.email.types:
            chosen.remove("email")
        return chosen

    # -- Redis health ----------------------------------------------------------------------

    def _redis_failed(self, what: str, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("Redis unavailable during %s: %s; retrying with back-off", what,
                      plain(exc, 300))

    def _redis_ok(self) -> None:
        if self._down_since is not None:
            log.warning("Redis reachable again after %.1f s", time.monotonic() -
                        self._down_since)
            self._down_since = None
        self._backoff = 0.2

    # -- delivery --------------------------------------------------------------------------

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        d = self.config.daemon
        delay = min(d.retry_base.total_seconds() * 2 ** max(attempts - 1, 0),
                    d.retry_max.total_seconds())
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        return max(delay, retry_after or 0.0)

    def _still_pending(self, alert_id: str) -> bool:
        """Whether the entry is still unacknowledged in the group (another daemon may have
        finished it: acknowledging drops the delivery records, so a record alone cannot say).
        Takes the entry over for this consumer (XAUTOCLAIM from its id, idle 0)."""
        batch, _ = self.mgr.claim_stale_alerts(self.instance, group=self.config.daemon.group,
                                               min_idle_ms=0, count=1, start=alert_id)
        return any(a.id == alert_id for a in batch.alerts)

    def _claim(self, alert: Alert, name: str) -> str | None:
        """Take the in-flight claim of (alert, sink) and confirm under it that the send is
        still owed. Returns the claim's name, or ``None``: another daemon holds the claim
        (``self.claim_waits`` counts it; try later) — or the send is no longer owed, in which
        case ``""`` is returned."""
        claim = f"send:{alert.id}:{name}"
        if not self.mgr.acquire_lease(claim, self.instance, ttl_ms=self._claim_ms[name]):
            self.claim_waits += 1
            return None
        fresh = self.mgr.delivery_states([alert.id])[alert.id]
        if name in fresh.done or not self._still_pending(alert.id):
            self.mgr.release_lease(claim, self.instance)
            return ""
        return claim

    def process(self, alerts: Sequence[Alert]) -> None:
        """Deliver a batch; acknowledge what is finished; keep the rest pending for retry.

        Email and webhook (``record_each``) sends are exactly once per (alert, sink) up to
        the residual window documented in docs/decisions.md: each send happens under an
        in-flight claim in Redis (a lease ``send:<alert>:<sink>``, SET NX PX), after
        confirming under the claim that it is neither recorded nor acknowledged, and is
        recorded before the claim is released. Sends are sequential: at most one is in flight
        per process at any instant."""
        if not alerts:
            return
        states = self.mgr.delivery_states([a.id for a in alerts])
        batch_done: list[tuple[str, str]] = []
        finished: list[str] = []
        now = time.monotonic()
        for alert in alerts:
            if self.stop.is_set():
                break  # in flight: left unacknowledged, re-read on the next start
            state = states[alert.id]
            waits: list[float] = []
            for name in self.route(alert):
                if name in state.done:
                    continue
                sink = self.sinks[name]
                if self._open_until.get(name, 0) > now:
                    waits.append(self._open_until[name])  # backing off: do not hammer it
                    continue
                claim = self._claim(alert, name) if sink.record_each else None
                if claim is None and sink.record_each:
                    waits.append(time.monotonic() + CLAIM_RETRY)
                    continue
                if claim == "":
                    continue  # delivered (or the alert finished) by another daemon
                try:
                    sink.send(alert)
                except SinkError as exc:
                    self.failed[name] += 1
                    self.metrics.count("failed", name)
                    attempts = self.mgr.record_attempt(alert.id, name)
                    if attempts >= self.config.daemon.max_attempts:
                        self.mgr.dead_letter(alert, name, attempts=attempts, error=str(exc))
                        self.dead[name] += 1
                        self.metrics.count("dead", name)
                        log.error("alert %s: %s given up after %d attempts: %s", alert.id,
                                  name, attempts, plain(exc))
                    else:
                        delay = self._delay(attempts, exc.retry_after)
                        self._open_until[name] = time.monotonic() + delay
                        waits.append(self._open_until[name])
                        log.warning("alert %s: %s failed (attempt %d), retry in %.1f s: %s",
                                    alert.id, name, attempts, delay, plain(exc))
                    if claim:
                        self.mgr.release_lease(claim, self.instance)
                    continue
                self.delivered[name] += 1
                self.metrics.count("delivered", name)
                if claim:
                    self.mgr.record_deliveries([(alert.id, name)])
                    self.mgr.release_lease(claim, self.instance)
                else:
                    batch_done.append((alert.id, name))
            if waits:
                self._retry[alert.id] = (alert, max(min(waits), now))
            else:
                self._retry.pop(alert.id, None)
                finished.append(alert.id)
        if "log" in self.sinks:
            self.sinks["log"].flush()
        stopping = self.stop.is_set()
        acked = set() if stopping else set(finished)
        # deliveries of what stays pending are recorded, so a replay skips them
        to_record = [(i, s) for i, s in batch_done if i not in acked]
        if to_record:
            self.mgr.record_deliveries(to_record)
        if acked:
            self.mgr.ack_alerts(finished, group=self.config.daemon.group)

    def deliver_once(self, block_ms: int = 500) -> int:
        """One step of the delivery loop; returns how many alerts it handled."""
        d = self.config.daemon
        group, me = d.group, self.instance
        if self._pending_cursor is not None:
            batch = self.mgr.read_alerts(me, group=group, count=d.read_batch,
                                         pending_after=self._pending_cursor)
            if batch.unusable:
                self.mgr.ack_alerts(batch.unusable, group=group)
            if not batch.alerts and not batch.unusable:
                self._pending_cursor = None
            else:
                self._pending_cursor = batch.cursor
                self.process(batch.alerts)
            return len(batch.alerts)
        now = time.monotonic()
        due = [alert for alert, when in list(self._retry.values()) if when <= now]
        if due:
            self.process(due)
            return len(due)
        claim_idle = d.claim_idle.total_seconds()
        if now >= self._next_claim:
            self._next_claim = now + max(claim_idle / 2, 0.05)
            claimed, _ = self.mgr.claim_stale_alerts(
                me, group=group, min_idle_ms=int(claim_idle * 1000), count=d.read_batch)
            if claimed.unusable:
                self.mgr.ack_alerts(claimed.unusable, group=group)
            fresh = [a for a in claimed.alerts if a.id not in self._retry]
            if fresh:
                log.info("claimed %d alert(s) from a stopped consumer", len(fresh))
                self.process(fresh)
                return len(fresh)
        if self._retry:  # do not block past the next retry
            block_ms = max(1, min(block_ms, int((min(w for _, w in self._retry.values())
                                                 - now) * 1000) + 1))
        batch = self.mgr.read_alerts(me, group=group, count=d.read_batch, block_ms=block_ms)
        if batch.unusable:
            self.mgr.ack_alerts(batch.unusable, group=group)
        self.process(batch.alerts)
        return len(batch.alerts)

    def deliver_job(self) -> None:
        """The delivery loop, as a job: runs for a few seconds at a time (the scheduler starts
        it again at once), so a crash of one run never ends delivery. Each finished step —
        delivered, nothing to read, or a Redis failure handled by backing off — is progress
        for the watchdog; a step that does not return (a hung send) is not."""
        until = time.monotonic() + 5
        self.running.add("deliver")
        try:
            while not self.stop.is_set() and time.monotonic() < until:
                try:
                    self.deliver_once()
                    self._redis_ok()
                except SessionWardenError as exc:
                    self._redis_failed("delivery", exc)
                    self.stop.wait(self._backoff)
                    self._backoff = min(self._backoff * 2, 5.0)
                self.progress["deliver"] = time.monotonic()
        finally:
            self.running.discard("deliver")

    # -- sweep, heartbeat, retention -------------------------------------------------------

    def sweep_job(self) -> None:
        d = self.config.daemon
        interval = d.sweep_interval.total_seconds()
        try:
            ttl = int(max(3 * interval, 2.0) * 1000)
            self.sweeping = self.mgr.acquire_lease(SWEEP_LEASE, self.instance, ttl_ms=ttl)
            if not self.sweeping:
                return
            started = time.monotonic()
            while not self.stop.is_set():
                result = self.mgr.sweep_due(limit=d.sweep_batch)
                self.expired += result.expired
                self.metrics.count("expired", n=result.expired)
                if not result.still_due or time.monotonic() - started > interval:
                    break
            # after revoke_everyone: end the signed-out sessions, a batch of users at a time,
            # within the same time budget (the walk resumes at the next sweep where it stopped)
            while not self.stop.is_set() and time.monotonic() - started <= interval:
                if self.mgr.purge_everyone(limit=d.sweep_batch).done:
                    break
            self.metrics.observe(time.monotonic() - started)
            self.last_sweep = datetime.now(UTC).isoformat()
            self._redis_ok()
        except SessionWardenError as exc:
            self._redis_failed("sweep", exc)

    def state(self) -> dict[str, Any]:
        return {
            "version": __version__, "host": socket.gethostname(), "pid": os.getpid(),
            "started": self.started.isoformat(), "last_sweep": self.last_sweep,
            "sweeping": self.sweeping, "sessions_expired": self.expired,
            "delivered": dict(self.delivered), "failed": dict(self.failed),
            "dead_letters": dict(self.dead), "consumer_lag": self.lag,
            "pending": self.pending, "retrying": len(self._retry),
        }

    def heartbeat_job(self) -> None:
        d = self.config.daemon
        try:
            status = self.mgr.alert_status(group=d.group)
            previous, self.lag, self.pending = self.lag, status.lag, status.pending
            self.metrics.set("lag", status.lag or 0)
            self.metrics.set("pending", status.pending)
            if (status.lag or 0) >= d.lag_warning and (status.lag or 0) > (previous or 0):
                log.warning("alert delivery is falling behind: %s alerts not yet read",
                            status.lag)
            ttl = int(max(3 * d.heartbeat_interval.total_seconds(), 1.0) * 1000)
            self.mgr.write_heartbeat(self.instance, self.state(), ttl_ms=ttl)
            self._redis_ok()
        except SessionWardenError as exc:
            self._redis_failed("heartbeat", exc)

    def retention_job(self) -> None:
        d = self.config.daemon
        now_ms = int(time.time() * 1000)
        events_ms = int(d.event_retention.total_seconds() * 1000)
        audit_ms = int(d.audit_retention.total_seconds() * 1000)
        try:
            self.mgr.trim_alerts(max(now_ms - events_ms, 0))
            self.mgr.trim_history(events_before_ms=max(now_ms - events_ms, 0),
                                  audit_before_ms=max(now_ms - audit_ms, 0))
            self._redis_ok()
        except SessionWardenError as exc:
            self._redis_failed("retention", exc)

    # -- running ---------------------------------------------------------------------------

    def _start_consuming(self) -> None:
        delay = 0.2
        while not self.stop.is_set():
            try:
                self.mgr.ensure_alert_group(self.config.daemon.group)
                self._redis_ok()
                return
            except SessionWardenError as exc:
                self._redis_failed("start-up", exc)
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _tracked(self, name: str, func: Any) -> Any:
        def job() -> None:
            self.busy[name] = time.monotonic()
            self.running.add(name)
            try:
                func()
            finally:
                self.busy.pop(name, None)
                self.running.discard(name)
        return job

    def alive(self, limit: float) -> bool:
        """Progress, as the watchdog sees it: the delivery loop finished a step within the
        last ``limit`` seconds, and no scheduled job (sweep, heartbeat, retention) has been
        running for longer than that. A Redis outage is progress (each step fails fast and
        backs off); a hung call is not."""
        now = time.monotonic()
        return (now - self.progress["deliver"] < limit
                and all(now - since < limit for since in list(self.busy.values())))

    def run(self, *, install_signals: bool = True) -> int:
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self.stop.set())
        log.info("sessionwarden-daemon %s starting as %s (sinks: %s)", __version__,
                 self.instance, ", ".join(self.sinks) or "none")
        ping = watchdog_interval()
        if ping:
            a = self.config.alerts
            slowest = max([s.timeout.total_seconds() for n, s in
                           (("email", a.email), ("webhook", a.webhook)) if n in self.sinks]
                          + [0.0])
            if slowest >= 2 * ping:
                log.warning("a sink's timeout allows a send longer than WatchdogSec (%.1f s): "
                            "a slow sink may get the daemon restarted", 2 * ping)
        self._start_consuming()
        d = self.config.daemon
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})

        def every(func: Any, seconds: float, job_id: str) -> None:
            scheduler.add_job(func, "interval", seconds=seconds, id=job_id,
                              jitter=min(seconds / 10, 1.0) or None,
                              next_run_time=datetime.now(UTC))

        every(self.deliver_job, 0.05, "deliver")
        every(self._tracked("heartbeat", self.heartbeat_job),
              d.heartbeat_interval.total_seconds(), "heartbeat")
        every(self._tracked("sweep", self.sweep_job), d.sweep_interval.total_seconds(),
              "sweep")
        every(self._tracked("retention", self.retention_job),
              d.retention_interval.total_seconds(), "retention")
        self.progress["deliver"] = time.monotonic()
        if not self.stop.is_set():
            scheduler.start()
            notify(f"READY=1\nSTATUS=delivering to {', '.join(self.sinks) or 'no sinks'}")
        while not self.stop.wait(min(ping or 1.0, 1.0)):
            # the stall limit is WatchdogSec itself (pings every half of it): a loop stuck
            # for longer than WatchdogSec gets the process killed within 2 x WatchdogSec
            if ping and self.alive(2 * ping):
                notify("WATCHDOG=1")
        notify("STOPPING=1")
        log.info("stopping: in-flight alerts stay pending for the next start")
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if "desktop" in self.sinks:
            self.sinks["desktop"].flush()
        try:
            self.mgr.release_lease(SWEEP_LEASE, self.instance)
            self.mgr.clear_heartbeat(self.instance)
        except SessionWardenError:
            pass
        return 0

    def jobs_finished(self, timeout: float = STOP_GRACE) -> bool:
        """Wait up to ``timeout`` for a job still running (a send in progress) to return."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                return True
            time.sleep(0.05)
        return not self.running
