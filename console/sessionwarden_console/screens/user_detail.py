"""One user: live sessions (keyed by session id, updated in place), known devices, recent
alerts, and a short timeline of sign-ins and revocations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from ..data import UserDetail
from ..text import ago, clock_time, safe, until
from .base import LiveScreen, selected_key, sync_rows
from .confirm import RevokeAllDialog, RevokeDialog


def severity_text(severity: str) -> Text:
    style = {"critical": "bold reverse", "high": "bold", "medium": "", "low": "dim"}.get(
        severity, "dim")
    return Text(severity, style=f"{style} sev-{severity}".strip())


class UserDetailScreen(LiveScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("r", "revoke", "Revoke", id="detail.revoke"),
        Binding("R", "revoke_all", "Revoke all", id="detail.revoke_all"),
    ]

    def __init__(self, user_id: str, highlight: str | None = None, *,
                 revoke: bool = False) -> None:
        super().__init__()
        self.user_id = user_id
        self.highlight = highlight
        self.revoke_highlighted = revoke  # `:revoke SESSION_ID`: ask once it is shown
        self.detail: UserDetail | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="detail-title", classes="title")
        sessions: DataTable[Any] = DataTable(id="sessions", cursor_type="row")
        for label, key, width in (("device", "device", 16), ("browser", "browser", 12),
                                  ("OS", "os", 10), ("IP", "ip", 15), ("place", "place", 16),
                                  ("last active", "active", 11), ("created", "created", 11),
                                  ("expires in", "expires", 10), ("flags", "flags", 20)):
            sessions.add_column(label, key=key, width=width)
        yield sessions
        with TabbedContent(id="detail-tabs"):
            with TabPane("Devices", id="tab-devices"):
                devices: DataTable[Any] = DataTable(id="devices", cursor_type="row")
                for label, key in (("device", "label"), ("browser", "browser"), ("OS", "os"),
                                   ("last IP", "ip"), ("country", "cc"),
                                   ("first seen", "first"), ("last seen", "last")):
                    devices.add_column(label, key=key)
                yield devices
            with TabPane("Alerts", id="tab-alerts"):
                alerts: DataTable[Any] = DataTable(id="user-alerts", cursor_type="row")
                for label, key in (("time", "at"), ("severity", "sev"), ("alert", "type"),
                                   ("session", "sid")):
                    alerts.add_column(label, key=key)
                yield alerts
            with TabPane("Timeline", id="tab-timeline"):
                timeline: DataTable[Any] = DataTable(id="timeline", cursor_type="row")
                for label, key in (("time", "at"), ("what", "what"), ("by", "actor"),
                                   ("reason", "reason")):
                    timeline.add_column(label, key=key)
                yield timeline

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#detail-title", Static).update(
            Text.assemble(" user ", safe(self.user_id, "bold", 60)))
        self.query_one("#sessions", DataTable).focus()

    def reload(self) -> None:
        self.fetch("user", self.console.data.user, self.user_id)

    def show(self, what: str, payload: UserDetail) -> None:
        self.detail = payload
        now = self.console.clock()
        alerts_by_session: dict[str, list[str]] = {}
        for alert in payload.alerts:
            if alert.session_id and now - alert.at.timestamp() < 86400:
                alerts_by_session.setdefault(alert.session_id, []).append(alert.type)
        first_seen = {d.fingerprint: d.first_seen_at for d in payload.devices}
        table = self.query_one("#sessions", DataTable)
        rows = []
        for view in payload.sessions:
            flags = []
            seen = first_seen.get(view.fingerprint)
            if seen is not None and abs(seen - view.created_at) < timedelta(minutes=1) and len(
                    payload.devices) > 1:
                flags.append("new device")
            found = alerts_by_session.get(view.session_id, [])
            if "device_mismatch" in found:
                flags.append("device mismatch")
            others = [f for f in found if f != "device_mismatch"]
            if others:
                flags.append(f"{len(others)} alert{'s' if len(others) > 1 else ''}")
            rows.append((view.session_id, (
                safe(view.device, limit=16), safe(view.browser, limit=12),
                safe(view.os, limit=10), safe(view.ip, limit=39), safe(view.place, limit=30),
                Text(ago(view.last_active_at, now)), Text(ago(view.created_at, now)),
                Text(until(view.expires_at, now)),
                Text(", ".join(flags), style="bold" if flags else ""))))
        sync_rows(table, rows)
        if self.highlight is not None:
            keys = [key for key, _ in rows]
            found = self.highlight in keys
            if found:
                table.move_cursor(row=keys.index(self.highlight), animate=False)
            self.highlight = None
            if self.revoke_highlighted:
                self.revoke_highlighted = False
                if found:
                    self.call_after_refresh(self.action_revoke)
                else:
                    self.console.refuse("that session is not live any more")
        if not rows:
            self.query_one("#detail-title", Static).update(Text.assemble(
                " user ", safe(self.user_id, "bold", 60), "  · no live session"))
        else:
            self.query_one("#detail-title", Static).update(Text.assemble(
                " user ", safe(self.user_id, "bold", 60), f"  · {len(rows)} live session"
                f"{'s' if len(rows) != 1 else ''}"))
        sync_rows(self.query_one("#devices", DataTable), ((d.fingerprint, (
            safe(d.label, limit=20), safe(d.browser, limit=16), safe(d.os, limit=14),
            safe(d.last_ip, limit=39), safe(d.last_country or "—"),
            Text(ago(d.first_seen_at, now)), Text(ago(d.last_seen_at, now))))
            for d in payload.devices))
        sync_rows(self.query_one("#user-alerts", DataTable), ((a.id, (
            Text(clock_time(a.at, now)), severity_text(a.severity), safe(a.type, limit=24),
            safe(a.session_id or "—", limit=27))) for a in payload.alerts))
        timeline: list[tuple[float, str, tuple[Text, ...]]] = []
        for view in payload.sessions:
            timeline.append((view.created_at.timestamp(), "in:" + view.session_id, (
                Text(clock_time(view.created_at, now)),
                Text.assemble("sign-in ", safe(view.device, limit=20), " ",
                              safe(view.place, limit=24)), Text("—"), Text(""))))
        for entry in payload.audit:
            timeline.append((entry.at.timestamp(), "au:" + entry.id, (
                Text(clock_time(entry.at, now)), safe(entry.kind.replace("_", " "), limit=30),
                safe(entry.actor, limit=30), safe(entry.reason or "", limit=60))))
        timeline.sort(key=lambda item: item[0], reverse=True)
        sync_rows(self.query_one("#timeline", DataTable),
                  ((key, cells) for _, key, cells in timeline[:30]))

    def selected_session(self) -> Any:
        key = selected_key(self.query_one("#sessions", DataTable))
        if self.detail is None or key is None:
            return None
        return next((v for v in self.detail.sessions if v.session_id == key), None)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_revoke(self) -> None:
        view = self.selected_session()
        if view is None:
            self.console.refuse("no session selected")
            return

        def confirmed(reason: str | None) -> None:
            if reason is not None:
                self.act("act:revoke", self.console.data.revoke, self.user_id, view.session_id,
                         reason)

        self.app.push_screen(RevokeDialog(view, self.console.clock()), confirmed)

    def action_revoke_all(self) -> None:
        count = len(self.detail.sessions) if self.detail else 0

        def confirmed(reason: str | None) -> None:
            if reason is not None:
                self.act("act:revoke_all", self.console.data.revoke_all, self.user_id, reason)

        self.app.push_screen(RevokeAllDialog(self.user_id, count), confirmed)

    def acted(self, what: str, payload: Any) -> None:
        if what == "act:revoke":
            self.console.notify("session revoked" if payload else "that session had already "
                                "ended", severity="information" if payload else "warning")
        else:
            self.console.notify(f"{payload} session{'s' if payload != 1 else ''} revoked")
        self.reload()
