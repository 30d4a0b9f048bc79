"""``sessionwarden demo --screenshot PATH``: the console's alert feed on the demo's live tenant,
rendered headless by Textual (`App.run_test`) and saved as SVG (`App.save_screenshot`) once
the feed shows an alert of every scripted kind. The README's picture is made this way."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sessionwarden import SessionManager

from ..app import ConsoleApp
from ..config import ConsoleConfig
from ..data import ConsoleData
from .traffic import EXPECT

SIZE = (132, 36)


async def capture(manager: SessionManager, path: Path, *, timeout: float = 60.0) -> None:
    from textual.widgets import DataTable

    app = ConsoleApp(ConsoleData(manager, operator="demo"), ConsoleConfig(refresh_seconds=0.5),
                     blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        deadline = time.monotonic() + timeout
        wanted = {kinds for kinds in EXPECT.values()}
        while time.monotonic() < deadline:
            await pilot.pause(0.3)
            shown = {e.type for e in app.feed_events}
            if all(kinds & shown for kinds in wanted):
                break
        table = app.screen.query_one("#feed", DataTable)
        table.move_cursor(row=max(table.row_count - 1, 0))
        await pilot.pause(0.5)
        path.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=path.name, path=str(path.parent))


def save(manager: SessionManager, path: Path) -> None:
    asyncio.run(capture(manager, path))
