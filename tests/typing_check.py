"""Checked by mypy in ``make lint`` (not collected by pytest): both faces, typed as used.

A face whose methods lose their types (e.g. the async face typed as returning plain values)
fails lint here.
"""

from __future__ import annotations

from sessionwarden import (
    AsyncSessionManager,
    CreatedSession,
    Device,
    Event,
    RedisSettings,
    Session,
    SessionManager,
    SessionView,
    Settings,
    UserSummary,
)
from sessionwarden.models import EventPage


def sync_face(mgr: SessionManager, token: str) -> None:
    created: CreatedSession = mgr.create_session("alice", user_agent=None, ip="8.8.8.8")
    session: Session | None = mgr.validate_session(token, ip="8.8.8.8", user_agent="x")
    views: list[SessionView] = mgr.get_active_sessions("alice", current_token=token)
    revoked: bool = mgr.revoke_session("alice", created.session_id, reason="r")
    count: int = mgr.revoke_all_sessions("alice", except_token=token)
    events: list[Event] = mgr.recent_events(10)
    page: EventPage = mgr.events_after("0-0", limit=10)
    ids: list[str] = mgr.users("a")
    recent: list[UserSummary] = mgr.recent_users(limit=5)
    devices: list[Device] = mgr.known_devices("alice")
    email: str | None = mgr.user_email("alice")
    swept: int = mgr.sweep_expired(limit=10)
    action: str = mgr.create_alert_action("1-0")
    undone: int = mgr.revoke_from_alert(action)
    mgr.close()
    del session, views, revoked, count, events, page, ids, recent, devices, email, swept, undone


async def async_face(amgr: AsyncSessionManager, token: str) -> None:
    created: CreatedSession = await amgr.create_session("alice", user_agent=None, ip="8.8.8.8")
    session: Session | None = await amgr.validate_session(token, ip="8.8.8.8")
    views: list[SessionView] = await amgr.get_active_sessions("alice", current_token=token)
    revoked: bool = await amgr.revoke_session("alice", created.session_id)
    count: int = await amgr.revoke_all_sessions("alice", except_token=token)
    events: list[Event] = await amgr.recent_events(10)
    page: EventPage = await amgr.events_after("0-0", block_ms=10)
    ids: list[str] = await amgr.users("a")
    recent: list[UserSummary] = await amgr.recent_users(limit=5)
    devices: list[Device] = await amgr.known_devices("alice")
    email: str | None = await amgr.user_email("alice")
    swept: int = await amgr.sweep_expired(limit=10)
    action: str = await amgr.create_alert_action("1-0", scope="all")
    undone: int = await amgr.revoke_from_alert(action)
    await amgr.aclose()
    del session, views, revoked, count, events, page, ids, recent, devices, email, swept, undone


def builders() -> tuple[SessionManager, AsyncSessionManager]:
    rs = RedisSettings(url="redis://localhost:6379/0", max_connections=10)
    mgr: SessionManager = SessionManager.from_url(rs.url, Settings(), redis=rs)
    amgr: AsyncSessionManager = AsyncSessionManager.from_settings(None, rs)
    return mgr, amgr
