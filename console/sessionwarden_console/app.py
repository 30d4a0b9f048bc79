"""The console application: modes (users, alerts, audit), app-wide state (connection,
totals, the alert feed, pause) and the one place worker failures become visible state."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textual.app import App
from textual.binding import Binding

from sessionwarden.models import Event

from .config import ConsoleConfig
from .data import SEVERITY_RANK, ConsoleData, Feed, Status
from .messages import Fetched, FetchFailed
from .notify import desktop_notify
from .screens import (
    AlertsScreen,
    AuditScreen,
    CommandLine,
    HelpScreen,
    UserDetailScreen,
    UsersScreen,
)
from .screens.base import LiveScreen, run_guarded
from .screens.confirm import revoke_everyone_dialog
from .text import visible
from .widgets import Banner, StatusBar


class ConsoleApp(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "SessionWarden console"
    ENABLE_COMMAND_PALETTE = True
    MODES = {"users": UsersScreen, "alerts": AlertsScreen, "audit": AuditScreen}
    DEFAULT_MODE = "users"
    BINDINGS = [
        Binding("u", "mode('users')", "Users", id="app.users"),
        Binding("a", "mode('alerts')", "Alerts", id="app.alerts"),
        Binding("t", "mode('audit')", "Audit", id="app.audit"),
        Binding("p", "pause", "Pause", id="app.pause"),
        Binding("colon", "command", "Command", id="app.command"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]
    mutating_keys = frozenset({"r", "R", "k", "L"})

    def __init__(self, data: ConsoleData, config: ConsoleConfig | None = None, *,
                 read_only: bool = False, clock: Callable[[], float] = time.time,
                 notify_desktop: bool = False, blink: bool = True) -> None:
        super().__init__()
        self.blink = blink
        self.data = data
        self.config = config or ConsoleConfig()
        self.read_only = read_only or self.config.read_only
        self.clock = clock
        self.notify_desktop = notify_desktop
        self.connected: bool | None = None
        self.paused = False
        self.last_status: Status | None = None
        self.last_ok_at: datetime | None = None
        self.last_error = ""
        self.feed = Feed()
        self.feed_events: list[Event] = []
        self.feed_primed = False  # the first batch (history) is shown, never notified

    @property
    def operator(self) -> str:
        return self.data.operator

    # -- polling (status and the alert feed; screens poll their own data) ------------------

    def on_mount(self) -> None:
        self.poll()

    def poll(self) -> None:
        self.run_worker(lambda: run_guarded(self, "status", self.data.status), thread=True,
                        exclusive=True, group="app:status", exit_on_error=False)
        self.run_worker(lambda: run_guarded(self, "feed", self.data.feed, self.feed,
                                            self.config.feed_size),
                        thread=True, exclusive=True, group="app:feed", exit_on_error=False)

    def on_fetched(self, message: Fetched) -> None:
        self.report_ok()
        if message.what == "status":
            self.last_status = message.payload
            self.refresh_chrome()
            self.set_timer(self.config.refresh_seconds, self._poll_status)
        elif message.what == "feed":
            self.take_events(message.payload)
            self.set_timer(self.config.refresh_seconds, self._poll_feed)

    def _poll_status(self) -> None:
        if not self.paused or self.connected is False:
            self.run_worker(lambda: run_guarded(self, "status", self.data.status),
                            thread=True, exclusive=True, group="app:status",
                            exit_on_error=False)

    def _poll_feed(self) -> None:
        if not self.paused or self.connected is False:
            self.run_worker(lambda: run_guarded(self, "feed", self.data.feed, self.feed,
                                                self.config.feed_size),
                            thread=True, exclusive=True, group="app:feed",
                            exit_on_error=False)

    def on_fetch_failed(self, message: FetchFailed) -> None:
        self.report_failure(message.error)
        retry = self._poll_status if message.what == "status" else self._poll_feed
        self.set_timer(self.config.refresh_seconds, retry)

    def take_events(self, events: list[Event]) -> None:
        known = {e.id for e in self.feed_events}
        new = [e for e in events if e.id not in known]
        history, self.feed_primed = not self.feed_primed, True
        if not new:
            return
        self.feed_events.extend(new)
        dropped = [e.id for e in self.feed_events[: -self.config.feed_size]]
        del self.feed_events[: -self.config.feed_size]
        for screen in self._alert_screens():
            screen.add_events(new, dropped)
        if self.notify_desktop and not history:  # alerts arriving while the console runs
            floor = SEVERITY_RANK[self.config.notify_min_severity]
            for event in new:
                # one per incident: its opening and escalations (a finding that only joins an
                # open incident carries notify false; events of older versions have none)
                if (SEVERITY_RANK.get(event.severity, 0) >= floor
                        and event.details.get("notify", True) is not False):
                    desktop_notify(f"{event.severity}: {event.type}",
                                   f"user {visible(event.user_id, 60)}")

    def _alert_screens(self) -> list[AlertsScreen]:
        found = []
        for stack in self._screen_stacks.values():
            found += [s for s in stack if isinstance(s, AlertsScreen)]
        return found

    # -- the one place failures become visible state ---------------------------------------

    def report_ok(self) -> None:
        if self.connected is not True:
            was_down = self.connected is False
            self.connected = True
            self.refresh_chrome()
            if was_down:
                self.notify("reconnected to Redis", severity="information")
        self.last_ok_at = datetime.fromtimestamp(self.clock(), UTC)

    def report_failure(self, error: str) -> None:
        """Redis unreachable: the banner says so, data stays and is marked stale, every
        reader keeps retrying by itself; never a traceback."""
        self.last_error = error
        if self.connected is not False:
            self.connected = False
        self.refresh_chrome()

    def refuse(self, text: str) -> None:
        self.notify(visible(text, 200), severity="warning")

    def refresh_chrome(self) -> None:
        try:
            screen = self.screen
        except Exception:
            return
        for bar in screen.query(StatusBar):
            bar.redraw()
        for banner in screen.query(Banner):
            banner.redraw()
        screen.set_class(self.connected is False, "stale")

    # -- actions ---------------------------------------------------------------------------

    def action_mode(self, mode: str) -> None:
        self.switch_mode(mode)
        self.call_after_refresh(self.refresh_chrome)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.refresh_chrome()
        if not self.paused:
            self._poll_status()
            self._poll_feed()
            reload = getattr(self.screen, "reload", None)
            if reload is not None:
                reload()

    def action_help(self) -> None:
        rows: list[tuple[str, str, str, bool]] = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            rows.append((self.get_key_display(binding), binding.description or binding.action,
                         binding.id or "", bool(active.enabled)))
        self.push_screen(HelpScreen(rows))

    def action_command(self) -> None:
        self.push_screen(CommandLine(), self.run_command)

    def open_user(self, user_id: str, highlight: str | None = None, *,
                  revoke: bool = False) -> None:
        if self.current_mode != "users":
            self.switch_mode("users")
        self.push_screen(UserDetailScreen(user_id, highlight, revoke=revoke))

    def run_command(self, line: str | None) -> None:
        if not line:
            return
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if verb in ("user", "u") and rest:
            self.open_user(rest)
        elif verb in ("users",):
            self.action_mode("users")
        elif verb in ("alerts", "a"):
            self.action_mode("alerts")
            self.call_after_refresh(lambda: self._alert_filter(rest))
        elif verb in ("audit", "t"):
            self.action_mode("audit")
            if rest:
                self.call_after_refresh(lambda: self._audit_user(rest))
        elif verb == "revoke" and rest:
            self.command_revoke(rest)
        elif verb == "revoke-everyone" and not rest:
            self.command_revoke_everyone()
        elif verb in ("q", "quit"):
            self.exit()
        else:
            self.refuse(f"unknown command: :{line}")

    def _alert_filter(self, text: str) -> None:
        for screen in self._alert_screens():
            screen.set_filter(text)

    def _audit_user(self, user: str) -> None:
        if isinstance(self.screen, AuditScreen):
            self.screen.set_user(user)

    def command_revoke(self, session_id: str) -> None:
        if self.read_only:
            self.refuse("read-only console: revoking is disabled")
            return
        owner = self.data.find_session_owner(session_id, self.feed_events)
        if owner is None:
            self.refuse("unknown session id: open the user (:user NAME) and press r")
            return
        self.open_user(owner, session_id, revoke=True)

    def command_revoke_everyone(self) -> None:
        """`:revoke-everyone`: sign out every session of every user, once the word
        ``everyone`` is typed back; audited as the console operator."""
        if self.read_only:
            self.refuse("read-only console: signing out everyone is disabled")
            return

        def confirmed(reason: str | None) -> None:
            screen = self.screen
            if reason is not None and isinstance(screen, LiveScreen):
                screen.act("act:revoke_everyone", self.data.revoke_everyone, reason)

        self.push_screen(revoke_everyone_dialog(), confirmed)

    def get_system_commands(self, screen: Any) -> Any:
        yield from super().get_system_commands(screen)
        from textual.app import SystemCommand

        for binding in (*self.BINDINGS, *getattr(screen, "BINDINGS", ())):
            if isinstance(binding, Binding) and binding.id:
                yield SystemCommand(f"{binding.description} ({binding.key})",
                                    f"binding {binding.id}",
                                    lambda b=binding, s=screen: self._run_binding(s, b))

    def _run_binding(self, screen: Any, binding: Binding) -> None:
        namespace = self if binding in self.BINDINGS else screen
        # run_action is a coroutine: called bare (as before) it never ran
        self.call_next(self.run_action, binding.action, namespace)
