"""Alerts: the live feed tailing the event stream (plain XREAD, no consumer group), coloured
by severity, filtered by severity, type and user; following pauses when the operator moves up
from the newest row; enter opens the user, k acknowledges."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from sessionwarden.models import Event

from ..data import SEVERITY_RANK
from ..text import clock_time, safe
from .base import LiveScreen, blink_inputs, selected_key, table_of
from .user_detail import severity_text


def parse_filter(text: str) -> tuple[str, str, str]:
    """``high type:new_device user:al`` -> (min severity, type, user substring)."""
    severity, kind, user = "info", "", ""
    for word in text.split():
        if word in SEVERITY_RANK:
            severity = word
        elif word.startswith("type:"):
            kind = word[5:]
        elif word.startswith("user:"):
            user = word[5:]
        else:
            user = word
    return severity, kind, user


class AlertsScreen(LiveScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="alerts.filter"),
        Binding("enter", "open", "Open user", id="alerts.open"),
        Binding("k", "acknowledge", "Acknowledge", id="alerts.acknowledge"),
        Binding("escape", "clear", "Clear", id="alerts.clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="alerts-screen")
        self.filter = ("info", "", "")
        self.acknowledged: set[str] = set()

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ filter: high · type:new_device · user:NAME", id="filter")
        yield table_of("feed", (("time", "at", 8), ("sev", "sev", 8), ("event", "type", 18),
                                ("user", "user", 20), ("details", "details", 40)))
        yield Static(id="feed-note", classes="note")

    def on_mount(self) -> None:
        blink_inputs(self)
        self.query_one("#feed", DataTable).focus()
        self.rebuild()

    def reload(self) -> None:
        """The feed is read by the app (it also drives notifications); nothing here."""

    def set_filter(self, text: str) -> None:
        self.query_one("#filter", Input).value = text
        self.filter = parse_filter(text)
        self.rebuild()

    def passes(self, event: Event) -> bool:
        severity, kind, user = self.filter
        return (SEVERITY_RANK.get(event.severity, 0) >= SEVERITY_RANK[severity]
                and (not kind or event.type == kind)
                and (not user or user in event.user_id))

    def cells(self, event: Event) -> tuple[Text, ...]:
        now = self.console.clock()
        details = event.details
        bits = [str(details[k]) for k in ("device", "ip", "city", "country", "reason")
                if isinstance(details.get(k), str | int) and details.get(k)]
        ack = " ✓ack" if event.id in self.acknowledged else ""
        return (Text(clock_time(event.at, now)), severity_text(event.severity),
                safe(event.type, limit=24), safe(event.user_id, limit=40),
                Text.assemble(safe(" · ".join(bits), limit=60), (ack, "bold")))

    def rebuild(self) -> None:
        table = self.query_one("#feed", DataTable)
        with self.app.batch_update():
            table.clear()
            for event in self.console.feed_events:
                if self.passes(event):
                    table.add_row(*self.cells(event), key=event.id)
            if table.row_count:
                table.move_cursor(row=table.row_count - 1, animate=False)
        self.note()

    def following(self) -> bool:
        table = self.query_one("#feed", DataTable)
        return table.row_count == 0 or table.cursor_row >= table.row_count - 1

    def add_events(self, events: list[Event], dropped: list[str]) -> None:
        table = self.query_one("#feed", DataTable)
        follow = self.following()
        with self.app.batch_update():
            for key in dropped:
                if key in table.rows:
                    table.remove_row(key)
            for event in events:
                if self.passes(event) and event.id not in table.rows:
                    table.add_row(*self.cells(event), key=event.id)
            if follow and table.row_count:
                table.move_cursor(row=table.row_count - 1, animate=False)
        self.note()

    def note(self) -> None:
        severity, kind, user = self.filter
        text = Text(f" {self.query_one('#feed', DataTable).row_count} events")
        if severity != "info":
            text.append(f" · {severity} and above")
        if kind:
            text.append_text(Text.assemble(" · type ", safe(kind, limit=30)))
        if user:
            text.append_text(Text.assemble(" · user ", safe(user, limit=30)))
        text.append(" · following" if self.following() else " · paused (scrolled up)",
                    style="bold")
        self.query_one("#feed-note", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.note()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.set_filter(event.value)
            self.query_one("#feed", DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear(self) -> None:
        self.set_filter("")
        self.query_one("#feed", DataTable).focus()

    def selected_event(self) -> Event | None:
        key = selected_key(self.query_one("#feed", DataTable))
        return next((e for e in self.console.feed_events if e.id == key), None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        event = self.selected_event()
        if event is not None and event.user_id:
            self.console.open_user(event.user_id, event.session_id)

    def action_acknowledge(self) -> None:
        event = self.selected_event()
        if event is None:
            self.console.refuse("no alert selected")
            return
        self.act("act:ack", self.console.data.acknowledge, event)
        self._acking = event.id

    def acted(self, what: str, payload: Any) -> None:
        event_id = getattr(self, "_acking", None)
        if event_id is None:
            return
        self.acknowledged.add(event_id)
        event = next((e for e in self.console.feed_events if e.id == event_id), None)
        table = self.query_one("#feed", DataTable)
        if event is not None and event_id in table.rows:
            for column, cell in zip(list(table.columns), self.cells(event), strict=False):
                table.update_cell(event_id, column, cell)
        self.console.notify("alert acknowledged (recorded in the audit trail)")
