"""What every main screen shares: the header, the banner, the footer, and reads in thread
workers that post typed messages and re-arm themselves (never overlapping)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from sessionwarden import StoreUnavailable

from ..messages import Done, Fetched, FetchFailed
from ..widgets import Banner, StatusBar

if TYPE_CHECKING:
    from ..app import ConsoleApp

MUTATING = frozenset({"revoke", "revoke_all", "acknowledge", "lock"})
READ_ONLY_REFUSAL = "read-only console: revoking, locking and acknowledging are disabled"


def run_guarded(target: Any, what: str, fn: Callable[..., Any], *args: Any) -> None:
    """The body of every worker: a failure becomes a `FetchFailed` message, never a
    traceback."""
    try:
        payload = fn(*args)
    except StoreUnavailable as exc:  # the banner: disconnected, retrying
        target.post_message(FetchFailed(what, str(exc)))
    except Exception as exc:  # a notification, never a traceback
        target.post_message(FetchFailed(what, f"{type(exc).__name__}: {exc}", False))
    else:
        target.post_message(Fetched(what, payload))


class LiveScreen(Screen[None]):
    """A screen whose data is re-read every ``refresh_seconds`` while live refresh runs."""

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose_body(self) -> ComposeResult:  # pragma: no cover - overridden
        yield from ()

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Banner()
        yield from self.compose_body()
        yield Footer()

    def on_mount(self) -> None:
        blink_inputs(self)
        self.reload()

    def on_screen_resume(self) -> None:
        self.console.refresh_chrome()

    def reload(self) -> None:
        """Start this screen's read (a worker; one at a time per screen)."""

    def fetch(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        self.run_worker(lambda: run_guarded(self, what, fn, *args), thread=True,
                        exclusive=True, group=f"{id(self)}:{what}", exit_on_error=False)

    def act(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        """A mutating call in a worker (not exclusive: an action is never cancelled)."""
        self.run_worker(lambda: run_guarded(self, what, fn, *args), thread=True,
                        group=f"{id(self)}:act", exit_on_error=False)

    def show(self, what: str, payload: Any) -> None:  # pragma: no cover - overridden
        """Redraw with fresh data (the UI thread)."""

    def acted(self, what: str, payload: Any) -> None:
        """A mutating action's result (the app-wide ones are said here; screens add theirs)."""
        if what == "act:revoke_everyone":
            self.console.notify("signed out everyone: every earlier session is refused; the "
                                "daemon's sweep ends them", severity="warning")
        elif what == "act:lock":
            self.console.notify(f"account locked: {payload} session"
                                f"{'s' if payload != 1 else ''} ended")
        elif what == "act:unlock":
            self.console.notify("account unlocked" if payload else "the account was not locked")
        self.reload()

    def on_fetched(self, message: Fetched) -> None:
        message.stop()
        if message.what.startswith("act:"):
            self.acted(message.what, message.payload)
            return
        self.console.report_ok()
        self.show(message.what, message.payload)
        self.rearm()

    def on_fetch_failed(self, message: FetchFailed) -> None:
        message.stop()
        if message.what.startswith("act:") or not message.unavailable:
            self.console.refuse(f"failed: {message.error}")
            if not message.what.startswith("act:"):
                self.rearm()
        else:
            self.console.report_failure(message.error)
            self.rearm(retry=True)

    def on_done(self, message: Done) -> None:
        message.stop()
        self.console.notify(message.text, severity="information" if message.ok else "error")

    def rearm(self, retry: bool = False) -> None:
        """Read again after the refresh interval; paused screens wait (a retry does not)."""
        if self.console.paused and not retry:
            return
        timer = getattr(self, "_rearm_timer", None)
        if timer is not None:
            timer.stop()
        self._rearm_timer = self.set_timer(self.console.config.refresh_seconds, self._tick)

    def _tick(self) -> None:
        if self.is_current or self.is_active:
            self.reload()
        else:
            self.rearm()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING and self.console.read_only:
            return None  # shown disabled in the footer; the key is refused by refuse_read_only
        return True

    def on_key(self, event: Any) -> None:
        if self.console.read_only and event.key in self.console.mutating_keys:
            event.stop()
            self.console.refuse(READ_ONLY_REFUSAL)


def blink_inputs(screen: Screen[Any]) -> None:
    """Inputs blink unless the app says not to (snapshot tests: deterministic frames)."""
    from textual.widgets import Input

    for widget in screen.query(Input):
        widget.cursor_blink = getattr(screen.app, "blink", True)


def add_columns(table: DataTable[Any],
                columns: Iterable[tuple[str, str] | tuple[str, str, int | None]]) -> None:
    """Add ``(label, key)`` or ``(label, key, width)`` columns: the keys are what `sync_rows`
    and the cells are addressed by, so every table names its columns the same way."""
    for label, key, *width in columns:
        table.add_column(label, key=key, width=width[0] if width else None)


def table_of(table_id: str,
             columns: Iterable[tuple[str, str] | tuple[str, str, int | None]]) -> DataTable[Any]:
    """A row-cursor table with its columns (see `add_columns`)."""
    table: DataTable[Any] = DataTable(id=table_id, cursor_type="row")
    add_columns(table, columns)
    return table


def sync_rows(table: DataTable[Any], rows: Iterable[tuple[str, tuple[Text | str, ...]]]) -> None:
    """Put ``rows`` (key, cells) into ``table`` updating rows in place by key, so the cursor
    stays on the same row and nothing flickers; a change of order or membership rebuilds the
    table and puts the cursor back on the row it was on."""
    rows = list(rows)
    keys = [key for key, _ in rows]
    current = [str(key.value) for key in table.rows]
    columns = list(table.columns)
    with table.app.batch_update():
        if keys == current:
            for key, cells in rows:
                for column, cell in zip(columns, cells, strict=False):
                    table.update_cell(key, column, cell)
            return
        selected = None
        if table.row_count and 0 <= table.cursor_row < table.row_count:
            selected = current[table.cursor_row] if table.cursor_row < len(current) else None
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected in keys:
            table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
    return None if key.value is None else str(key.value)
