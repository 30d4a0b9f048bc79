"""The header every screen shows: Redis state, daemon heartbeat, totals, sparklines,
operator, READ-ONLY and PAUSED markers; and the banner shown while Redis is unreachable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from ..text import ago, clock_time, safe, sparkline

if TYPE_CHECKING:
    from ..app import ConsoleApp
    from ..data import DaemonState


class StatusBar(Static):
    """Two lines, redrawn from the app's state (`ConsoleApp.refresh_chrome`)."""

    DEFAULT_CSS = "StatusBar { height: 2; }"

    def on_mount(self) -> None:
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        now = app.clock()
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(" SW ", style="bold reverse")
        if app.connected is None:
            line.append(" redis …", style="dim")
        elif app.connected:
            line.append(" redis ok", style="bold")
        else:
            line.append(" redis DOWN", style="bold reverse")
        if app.read_only:
            line.append("  READ-ONLY", style="bold reverse")
        if app.paused:
            line.append("  PAUSED", style="bold reverse")
        status = app.last_status
        line.append_text(daemon_text(status.daemon if status else None, now))
        line.append("  op:")
        line.append_text(safe(app.operator, "bold", 24))
        second = Text(no_wrap=True, overflow="ellipsis")
        if status:
            t = status.totals
            second.append(f" users {t.users:,} · live {t.live_sessions:,} · "
                          f"alerts/h {t.alerts_last_hour:,}")
            room = (self.size.width or 80) - len(second.plain) - 26
            width = min(max(room // 2, 6), 60)
            second.append("  sign-ins/min ", style="dim")
            second.append(sparkline(status.totals.logins_per_minute, width), style="bold")
            second.append("  alerts/min ", style="dim")
            second.append(sparkline(status.totals.alerts_per_minute, width), style="bold")
        else:
            second.append(" waiting for the first read…", style="dim")
        both = Text("\n").join([line, second])
        both.no_wrap, both.overflow = True, "ellipsis"
        self.update(both)


def daemon_text(daemon: DaemonState | None, now: float) -> Text:
    """``daemon alive · last sweep 12 s ago · lag 3`` / ``daemon DOWN · 5 alerts waiting``."""
    text = Text("  ")
    if daemon is None:
        text.append("daemon …", style="dim")
        return text
    if daemon.state != "alive":
        text.append("daemon DOWN", style="bold reverse")
        if daemon.lag:
            text.append(f" · {daemon.lag:,} alerts waiting", style="bold")
        return text
    text.append("daemon alive")
    if daemon.instances > 1:
        text.append(f" ×{daemon.instances}")
    if daemon.last_sweep_at is not None:
        text.append(f" · last sweep {ago(daemon.last_sweep_at, now)}")
    else:
        text.append(" · no sweep yet", style="dim")
    if daemon.lag:
        text.append(f" · lag {daemon.lag:,}", style="bold")
    return text


class Banner(Static):
    """Visible only while reads fail: what failed, that it retries, and that what is shown
    is stale."""

    DEFAULT_CSS = "Banner { height: auto; display: none; }"

    def redraw(self) -> None:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        if app.connected is not False:
            self.display = False
            return
        self.display = True
        text = Text(" disconnected — retrying", style="bold")
        if app.last_ok_at is not None:
            text.append(f" · data shown is stale (as of {clock_time(app.last_ok_at, app.clock())})")
        if app.last_error:
            text.append(" · ")
            text.append_text(safe(app.last_error, limit=80))
        self.update(text)
