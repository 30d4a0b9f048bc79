"""Snapshots of every screen at 80x24 and 120x40, with fixed data and a frozen clock
(regenerate with ``pytest tests/test_console_snapshots.py --snapshot-update``)."""

from __future__ import annotations

import fakeredis
import pytest
from conftest import Clock
from console_support import FROZEN, make_app, operator_manager, seed, settle, writer_manager

pytest.importorskip("sessionwarden_console")
pytest.importorskip("pytest_textual_snapshot")

from sessionwarden_console.config import ConsoleConfig

SIZES = [(80, 24), (120, 40)]


def build(read_only: bool = False, down: bool = False, locked: str | None = None):
    server = fakeredis.FakeServer()
    clock = Clock(FROZEN)
    writer = writer_manager(fakeredis.FakeRedis(server=server), clock)
    seed(writer, clock)
    if locked is not None:
        writer.lock_user(locked, actor="admin:zoe", reason="phished")
    if down:
        server.connected = False  # every command now fails as a connection error
    operator = operator_manager(fakeredis.FakeRedis(server=server), clock)
    # a long refresh: nothing re-reads while the snapshot is taken
    return make_app(operator, clock, read_only=read_only, blink=False,
                    config=ConsoleConfig(refresh_seconds=60))


def steps(*keys: str, user: str | None = None):
    async def run_before(pilot) -> None:
        await settle(pilot)
        if user is not None:
            pilot.app.open_user(user)
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, 0.05)
        await settle(pilot, 0.6 if "tab" in keys else 0.1)  # tab underline animation ends

    return run_before


CASES = {
    "users": (dict(), steps()),
    "users_search": (dict(), steps("slash", "a")),
    "users_read_only": (dict(read_only=True), steps()),
    "user_detail": (dict(), steps(user="alice")),
    "user_detail_alerts_tab": (dict(), steps("tab", "right", user="alice")),
    "revoke_dialog": (dict(), steps("r", user="alice")),
    "revoke_all_dialog": (dict(), steps("R", user="alice")),
    "alerts": (dict(), steps("a")),
    "audit": (dict(), steps("t")),
    "help": (dict(), steps("question_mark")),
    "command_line": (dict(), steps("colon")),
    "disconnected": (dict(down=True), steps()),
    "users_locked": (dict(locked="bob"), steps()),
    "lock_dialog": (dict(), steps("L")),
    "unlock_dialog": (dict(locked="carol"), steps("L")),
    "revoke_everyone_dialog": (dict(), steps(
        "colon", *"revoke", "minus", *"everyone", "enter")),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case", sorted(CASES))
def test_screen(snap_compare, case: str, size: tuple[int, int]) -> None:
    kwargs, run_before = CASES[case]
    assert snap_compare(build(**kwargs), terminal_size=size, run_before=run_before)
