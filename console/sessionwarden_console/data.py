"""Everything the console reads and writes, through `sessionwarden`'s public API only.

Each method is blocking and meant for a thread worker; the console runs as an *operator*
manager (no deployment secret: it lists, revokes and reads, never issues or validates).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
