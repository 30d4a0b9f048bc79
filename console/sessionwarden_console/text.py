"""Attacker-controlled text made safe to show: never markup, never a terminal escape.

User agents, cities, user ids and reasons come from outside. Each is rendered as a
`rich.text.Text` built from plain strings (Textual markup is never interpreted) after every
non-printable character (controls, ESC, C1, bidi overrides, zero-width, line separators) has
been replaced by a visible escape by the core's ``sessionwarden.display.shown`` (the rule the
CLI uses too).
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from sessionwarden.display import shown

MAX_SHOWN = 120


def visible(value: object, limit: int = MAX_SHOWN) -> str:
    """One line of printable text, at most ``limit`` characters: non-printable characters as
    ``\\x1b``, ``\\u202e``... (`shown`); ``None`` is empty."""
    text = "" if value is None else shown(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe(value: object, style: str = "", limit: int = MAX_SHOWN) -> Text:
    """A `Text` of `visible` text: markup characters stay literal."""
    return Text(visible(value, limit), style=style, no_wrap=True, end="")


def ago(then: datetime | None, now: float) -> str:
    if then is None:
        return "—"
    seconds = int(now - then.timestamp())
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def until(then: datetime | None, now: float) -> str:
    if then is None:
        return "—"
    seconds = int(then.timestamp() - now)
    if seconds <= 0:
        return "now"
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def clock_time(then: datetime, now: float) -> str:
    """``HH:MM:SS`` today (UTC), else ``MM-DD HH:MM``."""
    if now - then.timestamp() < 86400:
        return then.strftime("%H:%M:%S")
    return then.strftime("%m-%d %H:%M")


SPARK = " ▁▂▃▄▅▆▇█"


def sparkline(values: tuple[int, ...] | list[int], width: int) -> str:
    """The last ``width`` values as block characters, scaled to the largest."""
    shown = list(values)[-width:]
    top = max(shown, default=0)
    if top <= 0:
        return "▁" * len(shown)
    return "".join(SPARK[min(8, max(1 if v else 0, round(v * 8 / top)))] for v in shown)
