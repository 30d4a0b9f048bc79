"""Users: prefix search through the user directory (never KEYS or SCAN), the most recently
active first when there is no prefix."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from ..text import ago, safe
from .base import LiveScreen, selected_key, sync_rows, table_of
from .confirm import lock_dialog


class UsersScreen(LiveScreen):
    BINDINGS = [
        Binding("slash", "search", "Search", id="users.search"),
        Binding("enter", "open", "Open", id="users.open", show=True),
        Binding("m", "more", "More", id="users.more"),
        Binding("escape", "clear", "Clear", id="users.clear", show=False),
        Binding("L", "lock", "Lock/unlock", id="users.lock", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="users-screen")
        self.prefix = ""
        self.cursor: str | None = None
        self.rows: list[Any] = []
        self.loaded_prefix: str | None = None
        self.searching = False  # the search box has focus (said in words: NO_COLOR, tmux)

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ search users by prefix", id="search")
        yield table_of("users", (("user", "user", 30), ("sessions", "sessions", 8),
                                 ("devices", "devices", 7), ("last active", "active", 12),
                                 ("alerts 24h", "alerts", 10)))
        yield Static(id="users-note", classes="note")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#users", DataTable).focus()

    def reload(self) -> None:
        size = self.console.config.page_size
        # a refresh re-reads what is shown (the pages loaded so far, up to 5)
        limit = min(max(len(self.rows), size), 500)
        self.fetch("users", self.console.data.users, self.prefix, None, limit)

    def show(self, what: str, payload: Any) -> None:
        if what == "users-more":
            self.rows = self.rows + payload.rows
        else:
            self.rows = payload.rows
        self.cursor = payload.cursor
        self.loaded_prefix = self.prefix
        self.redraw()

    def redraw(self) -> None:
        now = self.console.clock()
        table = self.query_one("#users", DataTable)
        sync_rows(table, ((row.user_id, (
            Text.assemble(("LOCKED ", "bold reverse"), safe(row.user_id, limit=23))
            if row.locked_at else safe(row.user_id, limit=30),
            Text(str(row.sessions), justify="right"),
            Text(str(row.devices), justify="right"),
            Text(ago(row.last_active_at, now)),
            Text(str(row.alerts_24h), justify="right",
                 style="bold" if row.alerts_24h else ""),
        )) for row in self.rows))
        note = self.query_one("#users-note", Static)
        what = (Text.assemble("users starting with ", safe(self.prefix, "bold", 40))
                if self.prefix else Text("most recently active users (type / to search all)"))
        what.append(f" · {len(self.rows)} shown")
        if self.cursor:
            what.append(" · m: more")
        if self.searching:  # said in words, not only by the border's colour
            what = Text.assemble(("searching: ", "bold"), what, " · enter: results")
        note.update(what)

    def on_descendant_focus(self, event: Any) -> None:
        self._focus_changed()

    def on_descendant_blur(self, event: Any) -> None:
        self._focus_changed()

    def _focus_changed(self) -> None:
        focused = self.focused
        searching = focused is not None and focused.id == "search"
        if searching != self.searching:
            self.searching = searching
            self.redraw()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self.prefix = event.value
            self.rows = []
            self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.query_one("#users", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.console.open_user(str(event.row_key.value))

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear(self) -> None:
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""
        self.query_one("#users", DataTable).focus()

    def action_open(self) -> None:
        key = selected_key(self.query_one("#users", DataTable))
        if key is not None:
            self.console.open_user(key)

    def action_lock(self) -> None:
        """Lock the selected user's account (or unlock it when locked), once its id is typed
        back; through the core's API, audited as the console operator."""
        key = selected_key(self.query_one("#users", DataTable))
        row = next((r for r in self.rows if r.user_id == key), None)
        if row is None:
            self.console.refuse("no user selected")
            return
        locked = row.locked_at is not None
        data = self.console.data

        def confirmed(reason: str | None) -> None:
            if reason is not None:
                if locked:
                    self.act("act:unlock", data.unlock, row.user_id, reason)
                else:
                    self.act("act:lock", data.lock, row.user_id, reason)

        self.app.push_screen(lock_dialog(row.user_id, locked, row.sessions), confirmed)

    def action_more(self) -> None:
        if self.cursor:
            self.fetch("users-more", self.console.data.users, self.prefix, self.cursor,
                       self.console.config.page_size)
