"""Everything the console reads and writes, through `sessionwarden`'s public API only.

Each method is blocking and meant for a thread worker; the console runs as an *operator*
manager (no deployment secret: it lists, revokes and reads, never issues or validates).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sessionwarden import SessionManager
from sessionwarden.models import AuditEntry, Device, Event, SessionView, Totals, UserPage

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass(frozen=True, slots=True)
class DaemonState:
    """The daemons as their heartbeats show them (`manager.heartbeats()`): ``state`` 'alive'
    (at least one heartbeat key has not expired) or 'down' (none); ``instances`` how many are
    alive; ``last_sweep_at`` the latest sweep any of them reported (only the holder of the
    sweep lease sweeps; ``None``: none yet); ``lag`` alerts not yet read by the daemon's
    consumer group (`alert_status()`; ``None`` when there is no group or Redis cannot
    tell); ``pending`` read but not acknowledged."""

    state: str
    instances: int = 0
    last_sweep_at: datetime | None = None
    last_beat_at: datetime | None = None
    lag: int | None = None
    pending: int = 0


def _when(value: object) -> datetime | None:
    """A reported time: ISO 8601 text (what the daemon writes) or epoch seconds / ms."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    return None


def read_daemon(manager: SessionManager) -> DaemonState:
    """Heartbeats and the alert group's status (two round trips). A daemon's state is what it
    reported about itself: its fields are checked, never trusted."""
    beats = manager.heartbeats()
    status = manager.alert_status()
    lag = status.lag if status.exists else None
    pending = status.pending if status.exists else 0
    if not beats:
        return DaemonState("down", lag=lag, pending=pending)
    sweeps = [w for w in (_when(b.state.get("last_sweep")) for b in beats) if w is not None]
    return DaemonState("alive", len(beats), max(sweeps, default=None),
                       max(b.at for b in beats), lag, pending)


@dataclass(frozen=True, slots=True)
class Status:
    totals: Totals
    daemon: DaemonState


@dataclass(frozen=True, slots=True)
class UserDetail:
    user_id: str
    sessions: list[SessionView]
    devices: list[Device]
    alerts: list[Event]
    audit: list[AuditEntry]


@dataclass(slots=True)
class Feed:
    """The alert feed's cursor in the event stream (plain XREAD: no consumer group)."""

    cursor: str = "0-0"
    started: bool = False
    seen: set[str] = field(default_factory=set)


#: Rules evaluated at sign-in (`evaluate_login`): their alert marks a sign-in, even of a
#: session that has ended since. The others (revoked_token_used, device_mismatch) fire later.
SIGN_IN_RULES = frozenset({"new_device", "new_country", "impossible_travel", "shared_account",
                           "login_burst"})
TIMELINE_ROWS = 30
#: What the timeline holds, shown under it: the core keeps no per-user sign-in history, so a
#: sign-in of an ended session that raised no alert is not in it.
TIMELINE_SCOPE = "kept per user: live and alerted sign-ins, devices' first/last, audit"


@dataclass(frozen=True, slots=True)
class TimelineRow:
    key: str
    at: datetime
    what: str  # sign-in, sign-in (ended), first sign-in, last seen, alert, or an audit kind
    subject: str  # device · place
    actor: str
    note: str  # reason, alert types, "live"


def timeline(detail: UserDetail) -> list[TimelineRow]:
    """One user's recent history from what the core keeps per user (never the global
    stream): live sessions (sign-in time, device, place), the user's alerts (a sign-in rule's
    alert marks that session's sign-in, live or ended; other alerts are rows of their own),
    known devices (first sign-in from each, and its last sign-in when no live session is on
    it), and the user's audit trail (revocations with actor and reason, acknowledgements,
    alert-link uses). Newest first, at most `TIMELINE_ROWS`."""
    devices = {d.fingerprint: d for d in detail.devices}
    live = {v.session_id: v for v in detail.sessions}
    rows: list[TimelineRow] = []
    signin_alerts: dict[str, list[Event]] = {}
    for alert in detail.alerts:
        if alert.type in SIGN_IN_RULES and alert.session_id:
            signin_alerts.setdefault(alert.session_id, []).append(alert)
        else:
            rows.append(TimelineRow("al:" + alert.id, alert.at, "alert", alert.type, "",
                                    alert.severity))
    signed_in: list[tuple[str, datetime]] = []  # (fingerprint, when) already a row
    for view in detail.sessions:
        types = sorted({a.type for a in signin_alerts.get(view.session_id, [])})
        rows.append(TimelineRow("in:" + view.session_id, view.created_at, "sign-in",
                                f"{view.device} · {view.place}", "",
                                "live" + (" · " + ", ".join(types) if types else "")))
        signed_in.append((view.fingerprint, view.created_at))
    for session_id, alerts in signin_alerts.items():
        if session_id in live:
            continue
        first = min(alerts, key=lambda a: a.at)
        details: dict[str, Any] = {}
        for a in alerts:
            details.update(a.details)
        device = details.get("device") or "device ?"
        place = details.get("to_country") or details.get("country") or ""
        ip = details.get("to_ip") or details.get("ip") or ""
        subject = " · ".join(str(x) for x in (device, place or ip) if x)
        rows.append(TimelineRow("in:" + session_id, first.at, "sign-in (ended)", subject, "",
                                ", ".join(sorted({a.type for a in alerts}))))
    close = timedelta(seconds=60)
    on_live = {v.fingerprint for v in detail.sessions}
    for d in detail.devices:
        if not any(fp == d.fingerprint and abs(at - d.first_seen_at) < close
                   for fp, at in signed_in):
            rows.append(TimelineRow("df:" + d.fingerprint, d.first_seen_at, "first sign-in",
                                    f"{d.label} · {d.last_country or d.last_ip}", "",
                                    "first from this device"))
        if d.fingerprint not in on_live and d.last_seen_at - d.first_seen_at >= close:
            rows.append(TimelineRow("dl:" + d.fingerprint, d.last_seen_at, "last seen",
                                    f"{d.label} · {d.last_country or d.last_ip}", "",
                                    "no live session on it"))
    for entry in detail.audit:
        fingerprint = entry.details.get("fingerprint")
        device = devices.get(fingerprint) if isinstance(fingerprint, str) else None
        subject = device.label if device else (entry.session_id or "")
        rows.append(TimelineRow("au:" + entry.id, entry.at, entry.kind.replace("_", " "),
                                subject, entry.actor, entry.reason or ""))
    # newest first; at the same instant a sign-in goes below what followed it (its revocation)
    rows.sort(key=lambda r: (r.at, not r.what.startswith(("sign-in", "first sign-in"))),
              reverse=True)
    return rows[:TIMELINE_ROWS]


class ConsoleData:
    def __init__(self, manager: SessionManager, *, operator: str) -> None:
        self.manager = manager
        self.operator = operator

    @property
    def actor(self) -> str:
        return f"console:{self.operator}"

    def status(self) -> Status:
        return Status(self.manager.totals(), read_daemon(self.manager))

    def users(self, prefix: str, after: str | None, limit: int) -> UserPage:
        return self.manager.users_page(prefix, after=after, limit=limit)

    def user(self, user_id: str) -> UserDetail:
        m = self.manager
        return UserDetail(user_id, m.get_active_sessions(user_id), m.known_devices(user_id),
                          m.user_alerts(user_id, limit=50),
                          m.audit_trail(user_id=user_id, limit=50))

    def feed(self, feed: Feed, keep: int) -> list[Event]:
        """New events since the last call (the first call: the newest ``keep``)."""
        if not feed.started:
            events = list(reversed(self.manager.recent_events(keep)))
            feed.started = True
            feed.cursor = events[-1].id if events else "0-0"
            if not events:  # start after whatever arrives from now on, not from the start
                page = self.manager.events_after("0-0", limit=1)
                feed.cursor = page.cursor
                return page.events
            return events
        page = self.manager.events_after(feed.cursor, limit=500)
        feed.cursor = page.cursor
        return page.events

    def audit(self, user_id: str | None, limit: int = 200) -> list[AuditEntry]:
        return self.manager.audit_trail(user_id=user_id or None, limit=limit)

    def revoke(self, user_id: str, session_id: str, reason: str) -> bool:
        return self.manager.revoke_session(user_id, session_id, actor=self.actor,
                                           reason=reason or None)

    def revoke_all(self, user_id: str, reason: str) -> int:
        return self.manager.revoke_all_sessions(user_id, actor=self.actor,
                                                reason=reason or None)

    def lock(self, user_id: str, reason: str) -> int:
        return self.manager.lock_user(user_id, actor=self.actor, reason=reason or None)

    def unlock(self, user_id: str, reason: str) -> bool:
        return self.manager.unlock_user(user_id, actor=self.actor, reason=reason or None)

    def revoke_everyone(self, reason: str) -> datetime:
        return self.manager.revoke_everyone(actor=self.actor, reason=reason or None)

    def acknowledge(self, event: Event) -> str:
        return self.manager.record_audit(
            "alert_acknowledged", actor=self.actor, user_id=event.user_id or None,
            session_id=event.session_id, details={"event_id": event.id, "type": event.type,
                                                  "severity": event.severity})

    def find_session_owner(self, session_id: str, feed_events: list[Event]) -> str | None:
        """The user of a session id, from events the console has seen."""
        for event in reversed(feed_events):
            if event.session_id == session_id:
                return event.user_id
        with contextlib.suppress(Exception):
            for event in self.manager.recent_events(2000):
                if event.session_id == session_id:
                    return event.user_id
        return None
