"""Pilot tests of the console (App.run_test) against real data: fakeredis, and a real
redis-server for disconnect and recovery."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import fakeredis
import pytest
import redis
from conftest import IP_JP, IPHONE_SAFARI, MAC_CHROME, Clock, free_port
from console_support import (
    FROZEN,
    HOSTILE_USER,
    make_app,
    operator_manager,
    seed,
    settle,
    until,
    writer_manager,
)

pytest.importorskip("sessionwarden_console")

from rich.text import Text
from sessionwarden_console.screens import (
    AlertsScreen,
    AuditScreen,
    HelpScreen,
    RevokeAllDialog,
    RevokeDialog,
    UserDetailScreen,
)
from sessionwarden_console.text import visible
from textual.widgets import DataTable


@pytest.fixture
def world():
    server = fakeredis.FakeServer()
    clock = Clock(FROZEN)
    writer = writer_manager(fakeredis.FakeRedis(server=server), clock)
    made = seed(writer, clock)
    operator = operator_manager(fakeredis.FakeRedis(server=server), clock)
    return writer, operator, clock, made


def cell_texts(table: DataTable) -> list[list[str]]:
    return [[c.plain if isinstance(c, Text) else str(c) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


def run(coro):
    return asyncio.run(coro)


def test_users_search_open_and_revoke_with_reason(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            users = app.screen.query_one("#users", DataTable)
            assert [r[0] for r in cell_texts(users)][:2] == ["carol", visible(HOSTILE_USER, 30)]
            await pilot.press("slash", "a", "l")
            await settle(pilot)
            assert [r[0] for r in cell_texts(users)] == ["alice"]
            assert cell_texts(users)[0][1:3] == ["3", "3"]
            await pilot.press("enter")  # the search box gives focus to the table
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen)
            sessions = app.screen.query_one("#sessions", DataTable)
            assert sessions.row_count == 3
            victim = app.screen.selected_session()
            await pilot.press("r")
            await settle(pilot)
            assert isinstance(app.screen, RevokeDialog)
            await pilot.press(*"stolen", "enter")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen)
            assert sessions.row_count == 2
        live = {v.session_id for v in operator.get_active_sessions("alice")}
        assert victim.session_id not in live and len(live) == 2
        entry = operator.audit_trail(user_id="alice")[0]
        assert (entry.kind, entry.actor, entry.reason, entry.session_id) == (
            "session_revoked", "console:tester", "stolen", victim.session_id)

    run(go())


def test_escape_cancels_and_revoke_all_needs_the_user_id(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.open_user("alice")
            await settle(pilot)
            await pilot.press("r")
            await settle(pilot)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen)
            assert len(operator.get_active_sessions("alice")) == 3
            await pilot.press("R")
            await settle(pilot)
            assert isinstance(app.screen, RevokeAllDialog)
            await pilot.press(*"alic", "enter")  # wrong: nothing happens
            await settle(pilot)
            assert isinstance(app.screen, RevokeAllDialog)
            await pilot.press("e", "enter", *"incident 42", "enter")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen)
        assert operator.get_active_sessions("alice") == []
        trail = operator.audit_trail(user_id="alice")
        assert len(trail) == 3 and {e.reason for e in trail} == {"incident 42"}
        assert {e.actor for e in trail} == {"console:tester"}

    run(go())


def test_read_only_refuses_every_mutation(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock, read_only=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.open_user("alice")
            await settle(pilot)
            assert app.screen.check_action("revoke", ()) is None  # shown disabled
            await pilot.press("r")
            await pilot.press("R")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen)
            assert any("read-only" in str(n.message) for n in app._notifications)
            app.run_command(f"revoke {made['bob'].session_id}")  # as typed after ':'
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            await pilot.press("k")
            await settle(pilot)
        assert len(operator.get_active_sessions("alice")) == 3
        assert len(operator.get_active_sessions("bob")) == 1
        assert [e.kind for e in operator.audit_trail()] == ["session_revoked"]  # the seed's

    run(go())


def test_feed_shows_new_events_acknowledge_and_open(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            assert isinstance(app.screen, AlertsScreen)
            feed = app.screen.query_one("#feed", DataTable)
            before = feed.row_count
            writer.create_session("dave", user_agent=MAC_CHROME, ip=IP_JP)
            await until(pilot, lambda: feed.row_count == before + 1)
            rows = cell_texts(feed)
            assert feed.row_count == before + 1 and rows[-1][2:4] == ["login", "dave"]
            assert feed.cursor_row == feed.row_count - 1  # following
            await pilot.press("up", "up")
            writer.create_session("erin", user_agent=MAC_CHROME, ip=IP_JP)
            await until(pilot, lambda: feed.row_count == before + 2)
            assert feed.cursor_row == feed.row_count - 4  # paused: stays where it was
            await pilot.press("slash", *"medium", "enter")
            await settle(pilot)
            rows = cell_texts(feed)
            assert rows and all(r[1] in ("medium", "high", "critical") for r in rows)
            event = app.screen.selected_event()
            await pilot.press("k")
            await settle(pilot)
            ack = operator.audit_trail(limit=1)[0]
            assert (ack.kind, ack.actor, ack.details["event_id"]) == (
                "alert_acknowledged", "console:tester", event.id)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen)
            assert app.screen.user_id == event.user_id
            assert app.screen.selected_session().session_id == event.session_id

    run(go())


def test_audit_help_command_line_and_pause(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("t")
            await settle(pilot)
            assert isinstance(app.screen, AuditScreen)
            rows = cell_texts(app.screen.query_one("#audit", DataTable))
            assert rows[0][1:5] == ["session revoked", "admin:zoe", "carol", "lost laptop"]
            await pilot.press("slash", *"bob", "enter")
            await settle(pilot)
            assert app.screen.query_one("#audit", DataTable).row_count == 0
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.press("p")
            assert app.paused
            await pilot.press("p")
            assert not app.paused
            await pilot.press("colon", *"user bob", "enter")
            await settle(pilot)
            assert isinstance(app.screen, UserDetailScreen) and app.screen.user_id == "bob"
            await pilot.press("escape")
            app.run_command(f"revoke {made['bob'].session_id}")  # as typed after ':'
            await settle(pilot)
            assert isinstance(app.screen, RevokeDialog)
            await pilot.press(*"cmd", "enter")
            await settle(pilot)
            await pilot.press("colon", *"alerts high", "enter")
            await settle(pilot)
            assert isinstance(app.screen, AlertsScreen)
            assert app.screen.filter[0] == "high"
        assert operator.get_active_sessions("bob") == []

    run(go())


def test_attacker_text_is_shown_literally(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.open_user(HOSTILE_USER)
            await settle(pilot)
            title = app.screen.query_one("#detail-title").render()
            assert "[bold red]mallory[/]:[link=http://x]y" in str(title)
            rows = cell_texts(app.screen.query_one("#sessions", DataTable))
            shown = " ".join(rows[0])
            assert "\x1b" not in shown and "[link=x]" in shown
            for token in made.values():
                assert token.token not in shown
                assert token.token.split(".")[1] not in shown

    run(go())


def _start_redis(port: int, workdir) -> subprocess.Popen:
    proc = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save",
         "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_disconnect_and_recovery(tmp_path) -> None:
    from sessionwarden import RedisSettings, SessionManager, Settings

    port = free_port()
    proc = _start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        clock = Clock(FROZEN)
        writer = writer_manager(redis.Redis.from_url(url), clock)
        seed(writer, clock)
        fast = RedisSettings(url=url, socket_timeout=0.5, connect_timeout=0.5,
                             connect_attempts=1)
        operator = SessionManager.from_settings(Settings(), fast, operator=True)

        async def go() -> None:
            nonlocal proc
            app = make_app(operator, clock)
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                table = app.screen.query_one("#users", DataTable)
                assert app.connected is True and table.row_count == 4
                proc.terminate()
                proc.wait(timeout=10)
                await until(pilot, lambda: app.connected is False)
                banner = app.screen.query_one("Banner")
                assert banner.display and "disconnected — retrying" in str(banner.render())
                assert app.screen.has_class("stale")
                assert table.row_count == 4  # the last data stays
                proc = _start_redis(port, tmp_path)  # empty now: no persistence
                await until(pilot, lambda: app.connected is True and table.row_count == 0)
                assert not app.screen.query_one("Banner").display
                assert table.row_count == 0  # fresh data: the new server is empty

        run(go())
        operator.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def header(app) -> str:
    from sessionwarden_console.widgets import StatusBar

    return str(app.screen.query_one(StatusBar).render())


def test_header_shows_a_live_daemon_its_last_sweep_and_the_consumer_lag(world) -> None:
    from datetime import UTC, datetime

    writer, operator, clock, made = world  # noqa: RUF059
    writer.ensure_alert_group()
    writer.create_session("bob", user_agent=MAC_CHROME, ip=IP_JP)  # findings: in the group
    lag = operator.alert_status().lag
    assert lag
    swept = datetime.fromtimestamp(clock() - 12, UTC).isoformat()
    writer.write_heartbeat("host-a:41", {"last_sweep": swept, "consumer_lag": lag},
                           ttl_ms=60_000)
    writer.write_heartbeat("host-b:7", {"last_sweep": None}, ttl_ms=60_000)  # not sweeping

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            shown = header(app)
            assert f"daemon alive ×2 · last sweep 12 s ago · lag {lag}" in shown, shown
            assert app.last_status.daemon.instances == 2

    run(go())


def test_header_says_down_without_a_heartbeat_and_after_it_expires(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "daemon DOWN" in header(app)
            writer.write_heartbeat("host-a:41", {"last_sweep": None}, ttl_ms=1000)
            await until(pilot, lambda: "daemon alive · no sweep yet" in header(app))
            # the key expires: that daemon stopped beating
            await until(pilot, lambda: "daemon DOWN" in header(app))
            writer.ensure_alert_group()
            writer.create_session("bob", user_agent=MAC_CHROME, ip=IP_JP)
            await until(pilot, lambda: "alerts waiting" in header(app))  # nobody delivers

    run(go())


def test_user_detail_is_usable_at_80x24_by_keyboard(world) -> None:
    """Compact columns that fit (flags included), the rest of the highlighted session in the
    pane under the table; wider screens get the full set and the cursor stays on its row."""
    from sessionwarden_console.screens.user_detail import COMPACT_COLUMNS, FULL_COLUMNS

    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("slash", *"alice", "enter", "enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, UserDetailScreen)
            table = screen.query_one("#sessions", DataTable)
            assert [c.key.value for c in table.columns.values()] == [
                k for _, k, _ in COMPACT_COLUMNS]
            right = sum(c.get_render_width(table) for c in table.columns.values())
            assert right <= 80, right  # the flags column is on screen
            rows = cell_texts(table)
            assert rows[0][-1] == "new dev, 4 alerts"
            await pilot.press("down")
            await settle(pilot, 0.05)
            view = screen.selected_session()
            pane = str(screen.query_one("#session-pane").render())
            for shown in (view.browser, view.os, view.session_id, view.ip, view.place,
                          "flags: new device, 3 alerts", "expires in"):
                assert shown in pane, (shown, pane)
            await pilot.press("tab", "right")  # to the tabs: devices → alerts
            await settle(pilot, 0.05)
            tabs = screen.query_one("#detail-tabs")
            assert tabs.active == "tab-alerts"
            await pilot.press("shift+tab")
            await pilot.press("r")  # revoke works from here, on the highlighted row
            await settle(pilot)
            assert isinstance(app.screen, RevokeDialog) and app.screen.view == view
            await pilot.press("escape")
            await pilot.resize_terminal(160, 40)
            await settle(pilot)
            assert [c.key.value for c in table.columns.values()] == [
                k for _, k, _ in FULL_COLUMNS]
            assert screen.selected_session() == view
            assert cell_texts(table)[1][-1] == "new device, 3 alerts"

    run(go())


def test_no_color_renders_without_colour_and_severity_stays_readable(world, monkeypatch) -> None:
    import re

    from sessionwarden_console.screens.user_detail import severity_text

    writer, operator, clock, made = world  # noqa: RUF059

    def colours(svg: str) -> set[str]:
        svg = re.sub(r"<circle[^>]*>", "", svg)  # the window's three buttons, not the app
        return set(re.findall(r"#([0-9a-fA-F]{6})\b", svg))

    def grey(hexes: set[str]) -> bool:
        """Every colour a grey (the SVG's default foreground, #c5c8c6, is within 3)."""
        channels = [[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in hexes]
        return all(max(c) - min(c) <= 8 for c in channels)

    async def shot(app) -> str:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            rows = app.screen.query_one("#feed", DataTable)
            severities = {rows.get_row_at(i)[1].plain: rows.get_row_at(i)[1].style
                          for i in range(rows.row_count)}
            assert "high" in severities and "bold" in str(severities["high"])
            return app.export_screenshot()

    assert not grey(colours(run(shot(make_app(operator, clock)))))  # colour by default
    monkeypatch.setenv("NO_COLOR", "1")
    svg = run(shot(make_app(operator, clock)))
    assert colours(svg) and grey(colours(svg)), sorted(colours(svg))
    # without colour the word and its weight tell severities apart
    styles = {s: str(severity_text(s).style) for s in ("low", "medium", "high", "critical")}
    assert "dim" in styles["low"] and "bold" in styles["high"]
    assert "reverse" in styles["critical"] and "bold" not in styles["medium"]


@pytest.mark.filterwarnings("ignore:The Python dbus package:UserWarning")
def test_notify_sends_one_desktop_notification_per_high_alert(world, tmp_path,
                                                              monkeypatch) -> None:
    """plyer's Linux backend without dbus-python runs notify-send: a stand-in on PATH records
    its calls. History at start-up is not notified; a low alert is not; a high one once."""
    import os
    import sys

    pytest.importorskip("plyer")
    if "dbus" in sys.modules or __import__("importlib").util.find_spec("dbus"):
        pytest.skip("dbus-python installed: plyer would use D-Bus, not notify-send")
    writer, operator, clock, made = world  # noqa: RUF059
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "notify-send"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s|%s\\n" "$1" "$2" >> {calls}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")

    def sent(expected: int) -> list[str]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = calls.read_text().splitlines() if calls.exists() else []
            if len(lines) >= expected:
                return lines
            time.sleep(0.05)
        return calls.read_text().splitlines() if calls.exists() else []

    async def go() -> None:
        app = make_app(operator, clock, notify_desktop=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert any(e.severity == "high" for e in app.feed_events)  # the seed's history
            time.sleep(0.3)
            writer.create_session("carol", user_agent=IPHONE_SAFARI, ip=IP_JP)  # new_device: low
            await until(pilot, lambda: any(e.user_id == "carol" and e.type == "new_device"
                                           for e in app.feed_events))
            time.sleep(0.3)
            assert sent(0) == []
            clock.advance(60)
            writer.create_session("bob", user_agent=MAC_CHROME, ip=IP_JP)  # impossible_travel
            await until(pilot, lambda: any(e.type == "impossible_travel" and e.user_id == "bob"
                                           for e in app.feed_events))
            delivered = [e for e in app.feed_events if e.user_id == "bob"
                         and e.type in ("impossible_travel", "new_country", "new_device")
                         and e.details.get("notify")]
            assert len(delivered) == 1  # one request, one incident: one notification
            assert sent(1) == [f"high: {delivered[0].type}|user bob"]
            await settle(pilot)  # two more polls: the same alert is not notified again
        time.sleep(0.3)  # a second notification's thread would have run by now
        assert len(calls.read_text().splitlines()) == 1  # one, not one per poll

    run(go())


def test_timeline_keeps_ended_sign_ins_that_raised_alerts_without_the_global_stream(
        world, monkeypatch) -> None:
    from sessionwarden_console.data import ConsoleData, timeline

    writer, operator, clock, made = world  # noqa: RUF059
    clock.advance(60)
    intruder = writer.create_session("bob", user_agent=MAC_CHROME, ip=IP_JP)
    clock.advance(30)
    data = ConsoleData(operator, operator="tester")
    assert data.revoke("bob", intruder.session_id, "not bob")
    for name in ("recent_events", "events_after", "users_page", "recent_users"):
        monkeypatch.setattr(operator, name, lambda *a, **k: pytest.fail("global read"))
    rows = [(r.what, r.subject, r.actor, r.note) for r in timeline(data.user("bob"))]
    assert rows[0] == ("session revoked", "Mac/Chrome", "console:tester", "not bob")
    assert rows[1] == ("sign-in (ended)", "Mac/Chrome · JP", "",
                       "impossible_travel, new_country, new_device")
    assert ("sign-in", "Android/Chrome · United States", "", "live") in rows
    carol = [(r.what, r.subject, r.actor, r.note) for r in timeline(data.user("carol"))]
    assert carol == [("session revoked", "Mac/Chrome", "admin:zoe", "lost laptop"),
                     ("first sign-in", "Mac/Chrome · JP", "", "first from this device")]
    monkeypatch.undo()  # the app's own feed reads the stream

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.open_user("bob")
            await settle(pilot)
            await pilot.press("tab", "right", "right")
            await settle(pilot, 0.05)
            shown = cell_texts(app.screen.query_one("#timeline", DataTable))
            assert [r[1] for r in shown][:2] == ["session revoked", "sign-in (ended)"]

    run(go())


def test_command_palette_entries_run_their_binding(world) -> None:
    writer, operator, clock, made = world  # noqa: RUF059

    async def go() -> None:
        app = make_app(operator, clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            commands = {c.title: c for c in app.get_system_commands(app.screen)}
            commands["Help (question_mark)"].callback()
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)

    run(go())
