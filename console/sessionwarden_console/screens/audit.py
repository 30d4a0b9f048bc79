"""Audit: revocations, acknowledgements and alert-link uses with actor, reason and time,
filterable by user (the user's own trail: no scan of the global one)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from ..text import clock_time, safe
from .base import LiveScreen, sync_rows, table_of


class AuditScreen(LiveScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter by user", id="audit.filter"),
        Binding("escape", "clear", "Clear", id="audit.clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="audit-screen")
        self.user = ""

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ user id (exact)", id="audit-user")
        yield table_of("audit", (("time", "at", 8), ("what", "kind", 18), ("by", "actor", 18),
                                 ("user", "user", 16), ("reason", "reason", 30)))
        yield Static(id="audit-note", classes="note")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#audit", DataTable).focus()

    def reload(self) -> None:
        self.fetch("audit", self.console.data.audit, self.user or None)

    def show(self, what: str, payload: Any) -> None:
        now = self.console.clock()
        sync_rows(self.query_one("#audit", DataTable), ((entry.id, (
            Text(clock_time(entry.at, now)), safe(entry.kind.replace("_", " "), limit=24),
            safe(entry.actor, limit=40), safe(entry.user_id or "—", limit=40),
            safe(entry.reason or "", limit=80))) for entry in payload))
        note = Text(f" {len(payload)} entries")
        if self.user:
            note.append_text(Text.assemble(" · user ", safe(self.user, "bold", 40)))
        self.query_one("#audit-note", Static).update(note)

    def set_user(self, user: str) -> None:
        self.user = user
        self.query_one("#audit-user", Input).value = user
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "audit-user":
            self.set_user(event.value.strip())
            self.query_one("#audit", DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#audit-user", Input).focus()

    def action_clear(self) -> None:
        self.set_user("")
        self.query_one("#audit", DataTable).focus()
