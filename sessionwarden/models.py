"""What the library hands back: plain frozen records, safe to show and to serialise.

None of them holds a token or a token hash; ``CreatedSession.token`` is the one exception and
exists only in the return value of ``create_session``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ago(then: datetime, now: datetime) -> str:
    """``just now``, ``2 min ago``, ``5 hours ago``, ``3 days ago`` (never negative)."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago"


class Session(NamedTuple):
    """A validated session, as ``validate_session`` returns it.

    A named tuple, not a frozen dataclass, and times kept as epoch milliseconds with the
    datetimes computed on access: validate builds one per request, and this costs a quarter
    of what a frozen dataclass with four datetimes does (see docs/performance.md).
    """

    session_id: str
    user_id: str
    created_ms: int
    last_active_ms: int
    expires_ms: int  # min(last activity + idle timeout, absolute deadline)
    absolute_expires_ms: int
    ip: str  # the address the session was created from
    country: str | None
    network: str  # public | private | loopback | link-local | reserved | multicast | unspecified
    city: str | None
    fingerprint: str
    # The last proof of identity: when (ms; at sign-in, then at each ``reauthenticate``) and
    # how strongly (one of ``policy.ASSURANCE``), for `stepup.require_fresh`.
    authenticated_ms: int = 0
    assurance: str = "password"
    policy: str | None = None  # the name of the session's `SessionPolicy`; None: the Settings

    @property
    def authenticated_at(self) -> datetime:
        return from_ms(self.authenticated_ms)

    @property
    def created_at(self) -> datetime:
        return from_ms(self.created_ms)

    @property
    def last_active_at(self) -> datetime:
        return from_ms(self.last_active_ms)

    @property
    def expires_at(self) -> datetime:
        return from_ms(self.expires_ms)

    @property
    def absolute_expires_at(self) -> datetime:
        return from_ms(self.absolute_expires_ms)


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session_id: str
    token: str = field(repr=False)  # give to the client (cookie); never stored or logged
    session: Session


@dataclass(frozen=True, slots=True)
class SessionView:
    """A live session as the console and an account page show it."""

    session_id: str
    user_id: str
    device: str  # "Mac/Chrome"
    browser: str  # "Chrome 119"
    os: str  # "macOS 10"
    device_class: str  # desktop | phone | tablet | bot | unknown
    ip: str
    country: str | None
    city: str | None
    network: str
    place: str  # city, else country name, else "Private network" / "Unknown location"
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    current: bool
    label: str  # "Mac/Chrome — San Francisco — Active 2 min ago"
    fingerprint: str
    authenticated_at: datetime | None = None  # the last proof of identity (see Session)
    assurance: str = "password"
    policy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _json_ready(self, "created_at", "last_active_at", "expires_at",
                           "authenticated_at")


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event stream. ``id`` is the stream id (``<ms>-<seq>``)."""

    id: str
    type: str
    user_id: str
    session_id: str | None
    severity: str
    at: datetime
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return _json_ready(self, "at")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit trail: what an actor (an operator, the app, the account owner,
    the daemon) did, and why. ``id`` is the entry's id in the global trail (a stream id); an
    entry of a user's own trail written on a Cluster has none (``""``)."""

    id: str
    kind: str
    actor: str
    user_id: str | None
    session_id: str | None
    reason: str | None
    at: datetime
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return _json_ready(self, "at")


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events read from the stream, and the cursor to read on from (``events_after``).

    ``cursor`` is the id of the last entry read, including entries skipped as corrupt, so a
    follower never re-reads (or spins on) an entry it cannot decode.
    """

    events: list[Event]
    cursor: str


@dataclass(frozen=True, slots=True)
class Device:
    """A device the user has signed in from (one per fingerprint)."""

    fingerprint: str
    label: str
    browser: str
    os: str
    device_class: str
    first_seen_at: datetime
    last_seen_at: datetime
    last_ip: str
    last_country: str | None


@dataclass(frozen=True, slots=True)
class UserSummary:
    """``locked_at``: when the account was locked (`lock_user`), ``None`` when it is not."""

    user_id: str
    last_login_at: datetime | None
    locked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LockedUser:
    """A locked account (`locked_users`) and when it was locked."""

    user_id: str
    locked_at: datetime


@dataclass(frozen=True, slots=True)
class UserRow:
    """One row of the user directory as the console lists it. ``sessions``: entries of the
    user's session index (a session Redis expired counts until a script or the sweep prunes
    it: correct within one sweep interval); ``last_active_at``: the latest activity of those
    entries, else the last sign-in (``None`` when neither is known); ``alerts_24h``: the user's
    alerts (findings of severity low or more) in the last 24 hours, at most 100;
    ``locked_at``: when the account was locked (`lock_user`), ``None`` when it is not."""

    user_id: str
    sessions: int
    devices: int
    last_active_at: datetime | None
    alerts_24h: int
    locked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    """A page of the user directory and the cursor of the next page (``None``: the last)."""

    rows: list[UserRow]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Totals:
    """Deployment-wide figures for the console header. ``live_sessions``: kept by the
    scripts (+1 per sign-in, -1 per revocation, eviction and reported expiry), so correct
    within one sweep interval; per-minute series are the last 60 minutes, oldest first,
    the current minute last."""

    at: datetime
    users: int
    live_sessions: int
    alerts_last_hour: int
    logins_per_minute: tuple[int, ...]
    alerts_per_minute: tuple[int, ...]


def _json_ready(record: Any, *times: str) -> dict[str, Any]:
    """A dataclass as a JSON-ready dict, its datetime fields ``times`` in ISO 8601."""
    data = asdict(record)
    for name in times:
        if data[name] is not None:
            data[name] = data[name].isoformat()
    return data
