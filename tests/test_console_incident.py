"""The console's incident actions: `L` locks / unlocks the selected user (its id typed back),
`:revoke-everyone` (the word typed back); both refused in --read-only, both audited as the
console operator through the core's API."""

from __future__ import annotations

import asyncio

import pytest
import test_console_app
from console_support import make_app, settle

pytest.importorskip("sessionwarden_console")

from sessionwarden_console.screens import UsersScreen
from sessionwarden_console.screens.confirm import TypedConfirmDialog
from textual.widgets import DataTable

from sessionwarden.keys import KeySchema

world = test_console_app.world  # the pilot tests' fixture: the seeded deployment


async def select(pilot, user_id: str) -> None:
    table = pilot.app.screen.query_one("#users", DataTable)
    keys = [str(k.value) for k in table.rows]
    table.move_cursor(row=keys.index(user_id), animate=False)
    await settle(pilot)


def test_lock_and_unlock_the_selected_user_by_typing_its_id(world) -> None:
    writer, operator, clock, made = world

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await select(pilot, "bob")
            await pilot.press("L")
            await settle(pilot)
            assert isinstance(app.screen, TypedConfirmDialog)
            await pilot.press(*"bo", "enter")  # not the id: nothing happens
            await settle(pilot)
            assert isinstance(app.screen, TypedConfirmDialog)
            assert operator.lock_state("bob") is None
            await pilot.press("b", "enter", *"phished", "enter")
            await settle(pilot)
            assert isinstance(app.screen, UsersScreen)
            assert operator.lock_state("bob") is not None
            table = app.screen.query_one("#users", DataTable)
            keys = [str(k.value) for k in table.rows]
            cell = table.get_row_at(keys.index("bob"))[0]
            assert cell.plain.startswith("LOCKED ") and "bob" in cell.plain
            # and back: L on a locked user unlocks it
            await select(pilot, "bob")
            await pilot.press("L")
            await settle(pilot)
            await pilot.press(*"bob", "enter", *"verified", "enter")
            await settle(pilot)
        assert operator.lock_state("bob") is None
        trail = operator.audit_trail(user_id="bob")
        assert [(e.kind, e.actor, e.reason) for e in trail[:3]] == [
            ("account_unlocked", "console:tester", "verified"),
            ("account_locked", "console:tester", "phished"),
            ("session_revoked", "console:tester", "phished")]
        assert writer.validate_session(made["bob"].token) is None

    asyncio.run(go())


def test_revoke_everyone_needs_the_word(world) -> None:
    writer, operator, clock, made = world
    raw = operator.client

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.run_command("revoke-everyone")
            await settle(pilot)
            assert isinstance(app.screen, TypedConfirmDialog)
            await pilot.press(*"everybody", "enter")
            await settle(pilot)
            assert isinstance(app.screen, TypedConfirmDialog)  # wrong word: still asking
            await pilot.press("escape")
            await settle(pilot)
            assert raw.exists(KeySchema("sw").not_before) == 0
            app.run_command("revoke-everyone")
            await settle(pilot)
            await pilot.press(*"everyone", "enter", *"breach 7", "enter")
            await settle(pilot)
            assert isinstance(app.screen, UsersScreen)
        entry = operator.audit_trail()[0]
        assert (entry.kind, entry.actor, entry.reason) == ("everyone_revoked",
                                                           "console:tester", "breach 7")
        clock.advance(1)
        assert writer.validate_session(made["alice_mac"].token) is None

    asyncio.run(go())


def test_read_only_refuses_lock_and_revoke_everyone_visibly(world) -> None:
    _writer, operator, clock, _made = world
    raw = operator.client

    async def go() -> None:
        app = make_app(operator, clock, read_only=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await select(pilot, "bob")
            assert app.screen.check_action("lock", ()) is None  # shown disabled
            await pilot.press("L")
            await settle(pilot)
            assert isinstance(app.screen, UsersScreen)  # no dialog
            app.run_command("revoke-everyone")
            await settle(pilot)
            assert isinstance(app.screen, UsersScreen)
            messages = [str(n.message) for n in app._notifications]
            assert any("locking" in m and "read-only" in m for m in messages)
            assert any("signing out everyone is disabled" in m for m in messages)
        assert operator.lock_state("bob") is None
        assert raw.exists(KeySchema("sw").not_before) == 0
        assert [e.kind for e in operator.audit_trail()] == ["session_revoked"]  # the seed's

    asyncio.run(go())
