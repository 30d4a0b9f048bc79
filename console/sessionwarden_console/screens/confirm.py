"""Confirmations of the two revocations: the session shown with a reason field (enter
confirms, escape cancels), and revoke-all, which acts only once the user id is typed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..text import ago, safe
from .base import blink_inputs


class RevokeDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="revoke.cancel")]
    AUTO_FOCUS = "#reason"  # focused as the screen starts: typing goes to the reason at once

    def __init__(self, view: Any, now: float) -> None:
        super().__init__()
        self.view = view
        self.now = now

    def compose(self) -> ComposeResult:
        v = self.view
        with Vertical(classes="dialog"):
            yield Static(Text("Revoke this session?", style="bold"), classes="dialog-title")
            lines = [Text.assemble(("device      ", "dim"), safe(v.device, limit=40), " · ",
                                   safe(v.browser, limit=24), " · ", safe(v.os, limit=20)),
                     Text.assemble(("IP          ", "dim"), safe(v.ip, limit=39)),
                     Text.assemble(("place       ", "dim"), safe(v.place, limit=50)),
                     Text.assemble(("last active ", "dim"), ago(v.last_active_at, self.now)),
                     Text.assemble(("session     ", "dim"), safe(v.session_id))]
            yield Static(Text("\n").join(lines))
            yield Input(placeholder="reason (recorded in the audit trail)", id="reason",
                        max_length=200)
            yield Static(Text("enter: revoke · escape: cancel", style="dim"))

    def on_mount(self) -> None:
        blink_inputs(self)
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class RevokeAllDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="revoke_all.cancel")]

    def __init__(self, user_id: str, count: int) -> None:
        super().__init__()
        self.user_id = user_id
        self.count = count

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text.assemble(("Revoke ALL sessions of ", "bold"),
                                       safe(self.user_id, "bold", 60),
                                       (f"? ({self.count} live)", "bold")),
                         classes="dialog-title")
            yield Static("Type the user id to confirm:")
            yield Input(placeholder="user id", id="confirm-user")
            yield Input(placeholder="reason (recorded in the audit trail)", id="reason",
                        max_length=200)
            yield Static(id="revoke-all-hint")

    def on_mount(self) -> None:
        blink_inputs(self)
        self.query_one("#confirm-user", Input).focus()
        self.hint()

    def hint(self, wrong: bool = False) -> None:
        text = Text("the typed id does not match · " if wrong else "", style="bold")
        text.append("enter: revoke all · escape: cancel", style="dim")
        self.query_one("#revoke-all-hint", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        typed = self.query_one("#confirm-user", Input).value
        if typed != self.user_id:
            self.hint(wrong=True)
            self.query_one("#confirm-user", Input).focus()
            return
        if event.input.id == "confirm-user":
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(self.query_one("#reason", Input).value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
