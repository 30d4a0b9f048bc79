"""One user: live sessions (keyed by session id, updated in place), known devices, recent
alerts, and a short timeline of sign-ins and revocations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from ..data import TIMELINE_SCOPE, UserDetail, timeline
from ..text import ago, clock_time, safe, until
from .base import LiveScreen, add_columns, selected_key, sync_rows, table_of
from .confirm import RevokeAllDialog, RevokeDialog

#: Every column of the sessions table: (label, key, width); ``None``: the rest of the line.
FULL_COLUMNS = (("device", "device", 16), ("browser", "browser", 12), ("OS", "os", 10),
                ("IP", "ip", 15), ("place", "place", 16), ("last active", "active", 11),
                ("created", "created", 11), ("expires in", "expires", 10),
                ("flags", "flags", None))
#: Below `MEDIUM_WIDTH` columns (an 80x24 terminal): what on-call staff decide on — which
#: device, from where, how recent, which flags; the rest is in the pane under the table for
#: the highlighted row.
COMPACT_COLUMNS = (("device", "device", 13), ("IP", "ip", 15), ("place", "place", 12),
                   ("last active", "active", 11), ("flags", "flags", None))
MEDIUM_COLUMNS = (("device", "device", 16), ("browser", "browser", 12), ("IP", "ip", 15),
                  ("place", "place", 16), ("last active", "active", 11),
                  ("expires in", "expires", 10), ("flags", "flags", None))
FULL_WIDTH = 150
MEDIUM_WIDTH = 110
MIN_REST = 10
#: The known devices: the label already names OS and browser families, so narrow screens
#: drop the versions.
DEVICE_COLUMNS = (("device", "label", 16), ("browser", "browser", 14), ("OS", "os", 12),
                  ("last IP", "ip", 15), ("country", "cc", 7), ("first seen", "first", 11),
                  ("last seen", "last", None))
COMPACT_DEVICE_COLUMNS = (("device", "label", 16), ("last IP", "ip", 15),
                          ("country", "cc", 7), ("first seen", "first", 11),
                          ("last seen", "last", None))
DEVICES_FULL_WIDTH = 110


def columns_for(width: int, table: str = "sessions") -> list[tuple[str, str, int]]:
    """A table's columns at a screen ``width``: the last takes what is left (each column has
    one cell of padding on both sides; one kept for a scroll bar)."""
    chosen: tuple[tuple[str, str, int | None], ...]
    if table == "devices":
        chosen = DEVICE_COLUMNS if width >= DEVICES_FULL_WIDTH else COMPACT_DEVICE_COLUMNS
    else:
        chosen = (FULL_COLUMNS if width >= FULL_WIDTH else MEDIUM_COLUMNS
                  if width >= MEDIUM_WIDTH else COMPACT_COLUMNS)
    fixed = sum(w for _, _, w in chosen if w is not None) + 2 * len(chosen) + 1
    return [(label, key, w if w is not None else max(width - fixed, MIN_REST))
            for label, key, w in chosen]


def short_flag(flag: str) -> str:
    return {"new device": "new dev", "device mismatch": "mismatch"}.get(flag, flag)


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
        self.columns_shown: dict[str, list[tuple[str, str, int]]] = {}
        self.cells: dict[str, dict[str, dict[str, Text]]] = {"sessions": {}, "devices": {}}
        self.session_flags: dict[str, list[str]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="detail-title", classes="title")
        yield DataTable(id="sessions", cursor_type="row")
        yield Static(id="session-pane", classes="pane")
        with TabbedContent(id="detail-tabs"):
            with TabPane("Devices", id="tab-devices"):
                yield DataTable(id="devices", cursor_type="row")
            with TabPane("Alerts", id="tab-alerts"):
                yield table_of("user-alerts", (("time", "at"), ("severity", "sev"),
                                               ("alert", "type"), ("session", "sid")))
            with TabPane("Timeline", id="tab-timeline"):
                yield table_of("timeline", (("time", "at"), ("what", "what"),
                                            ("device", "subject"), ("by", "actor"),
                                            ("note", "note")))
                yield Static(Text(TIMELINE_SCOPE, style="dim"), classes="scope")

    def on_mount(self) -> None:
        self.relayout(self.app.size.width)
        super().on_mount()
        self.query_one("#detail-title", Static).update(
            Text.assemble(" user ", safe(self.user_id, "bold", 60)))
        self.query_one("#sessions", DataTable).focus()
        self.pane()

    def on_resize(self, event: Any) -> None:
        self.relayout(event.size.width)

    def relayout(self, width: int) -> None:
        """Columns for this width; a change rebuilds the table, the cursor stays on its row."""
        for name in ("sessions", "devices"):
            wanted = columns_for(width, name)
            if wanted == self.columns_shown.get(name):
                continue
            self.columns_shown[name] = wanted
            table = self.query_one(f"#{name}", DataTable)
            selected = selected_key(table)
            rows = list(self.cells[name])
            with self.app.batch_update():
                table.clear(columns=True)
                add_columns(table, wanted)
                self.fill(name, rows)
                if selected in rows:
                    table.move_cursor(row=rows.index(selected), animate=False)
            if name == "sessions" and self.detail is not None:
                self.show("user", self.detail)  # the flags' long or short form

    def fill(self, name: str, order: list[str]) -> None:
        keys = [key for _, key, _ in self.columns_shown[name]]
        cells = self.cells[name]
        sync_rows(self.query_one(f"#{name}", DataTable),
                  ((row, tuple(cells[row][k] for k in keys)) for row in order))

    def pane(self) -> None:
        """The highlighted session in full: what the compact table leaves out."""
        view = self.selected_session()
        widget = self.query_one("#session-pane", Static)
        if view is None:
            widget.update(Text(" no session selected", style="dim"))
            return
        now = self.console.clock()
        flags = self.session_flags.get(view.session_id, [])
        widget.update(Text("\n").join([
            Text.assemble(" ", safe(view.device, "bold", 30), " · ", safe(view.browser, limit=24),
                          " · ", safe(view.os, limit=20), ("  session ", "dim"),
                          safe(view.session_id, limit=40)),
            Text.assemble(" ", safe(view.ip, limit=39), " · ", safe(view.place, limit=40),
                          ("  created ", "dim"), ago(view.created_at, now),
                          ("  expires in ", "dim"), until(view.expires_at, now)),
            Text.assemble((" flags: ", "dim"), (", ".join(flags), "bold") if flags
                          else ("none", "dim"))]))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "sessions":
            self.pane()

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
        cells: dict[str, dict[str, Text]] = {}
        self.session_flags = {}
        compact = len(self.columns_shown.get("sessions", ())) == len(COMPACT_COLUMNS)
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
            self.session_flags[view.session_id] = flags
            cells[view.session_id] = {
                "device": safe(view.device, limit=16), "browser": safe(view.browser, limit=12),
                "os": safe(view.os, limit=10), "ip": safe(view.ip, limit=39),
                "place": safe(view.place, limit=30), "active": Text(ago(view.last_active_at, now)),
                "created": Text(ago(view.created_at, now)),
                "expires": Text(until(view.expires_at, now)),
                "flags": Text(", ".join(map(short_flag, flags) if compact else flags),
                              style="bold" if flags else "")}
        self.cells["sessions"] = cells
        self.fill("sessions", list(cells))
        rows = list(cells.items())
        if self.highlight is not None:
            keys = [key for key, _ in rows]
            present = self.highlight in keys
            if present:
                table.move_cursor(row=keys.index(self.highlight), animate=False)
            self.highlight = None
            if self.revoke_highlighted:
                self.revoke_highlighted = False
                if present:
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
        self.cells["devices"] = {d.fingerprint: {
            "label": safe(d.label, limit=20), "browser": safe(d.browser, limit=16),
            "os": safe(d.os, limit=14), "ip": safe(d.last_ip, limit=39),
            "cc": safe(d.last_country or "—"), "first": Text(ago(d.first_seen_at, now)),
            "last": Text(ago(d.last_seen_at, now))} for d in payload.devices}
        self.fill("devices", list(self.cells["devices"]))
        sync_rows(self.query_one("#user-alerts", DataTable), ((a.id, (
            Text(clock_time(a.at, now)), severity_text(a.severity), safe(a.type, limit=24),
            safe(a.session_id or "—", limit=27))) for a in payload.alerts))
        sync_rows(self.query_one("#timeline", DataTable), ((row.key, (
            Text(clock_time(row.at, now)), safe(row.what, limit=20),
            safe(row.subject, limit=40), safe(row.actor or "—", limit=30),
            safe(row.note, limit=80))) for row in timeline(payload)))
        self.pane()

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
        elif what == "act:revoke_all":
            self.console.notify(f"{payload} session{'s' if payload != 1 else ''} revoked")
        else:
            super().acted(what, payload)
            return
        self.reload()
