"""Confirmations of the mutating actions: a revocation shows the session with a reason field
(enter confirms, escape cancels); revoke-all, lock / unlock (the user id) and sign out
everyone (the word ``everyone``) act only once the expected text is typed back."""

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


class TypedConfirmDialog(ModalScreen[str | None]):
    """A confirmation that acts only once ``expected`` is typed back exactly (a user id, the
    word ``everyone``), with a reason for the audit trail; dismissed with the reason, or
    ``None`` on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]

    def __init__(self, title: Text, expected: str, *, prompt: str, placeholder: str,
                 verb: str) -> None:
        super().__init__()
        self.title_text = title
        self.expected = expected
        self.prompt = prompt
        self.placeholder = placeholder
        self.verb = verb

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.prompt)
            yield Input(placeholder=self.placeholder, id="confirm-user")
            yield Input(placeholder="reason (recorded in the audit trail)", id="reason",
                        max_length=200)
            yield Static(id="confirm-hint")

    def on_mount(self) -> None:
        blink_inputs(self)
        self.query_one("#confirm-user", Input).focus()
        self.hint()

    def hint(self, wrong: bool = False) -> None:
        text = Text(f"the typed {self.placeholder} does not match · " if wrong else "",
                    style="bold")
        text.append(f"enter: {self.verb} · escape: cancel", style="dim")
        self.query_one("#confirm-hint", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        typed = self.query_one("#confirm-user", Input).value
        if typed != self.expected:
            self.hint(wrong=True)
            self.query_one("#confirm-user", Input).focus()
            return
        if event.input.id == "confirm-user":
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(self.query_one("#reason", Input).value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class RevokeAllDialog(TypedConfirmDialog):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="revoke_all.cancel")]

    def __init__(self, user_id: str, count: int) -> None:
        super().__init__(Text.assemble(("Revoke ALL sessions of ", "bold"),
                                       safe(user_id, "bold", 60),
                                       (f"? ({count} live)", "bold")),
                         user_id, prompt="Type the user id to confirm:",
                         placeholder="user id", verb="revoke all")
        self.user_id = user_id
        self.count = count


def lock_dialog(user_id: str, locked: bool, sessions: int) -> TypedConfirmDialog:
    """Lock (ends every session, refuses sign-ins) or unlock the account, once its id is
    typed back."""
    if locked:
        title = Text.assemble(("Unlock the account ", "bold"), safe(user_id, "bold", 60),
                              ("? (sign-ins accepted again)", "bold"))
    else:
        title = Text.assemble(("LOCK the account ", "bold"), safe(user_id, "bold", 60),
                              (f"? (ends {sessions} live session{'s' if sessions != 1 else ''}"
                               ", refuses sign-ins until unlocked)", "bold"))
    return TypedConfirmDialog(title, user_id, prompt="Type the user id to confirm:",
                              placeholder="user id", verb="unlock" if locked else "lock")


EVERYONE = "everyone"


def revoke_everyone_dialog() -> TypedConfirmDialog:
    """Sign out every session of every user, once the word is typed back."""
    return TypedConfirmDialog(
        Text("Sign out EVERYONE? Every session of every user ends (breach response).",
             style="bold"),
        EVERYONE, prompt=f"Type the word {EVERYONE} to confirm:", placeholder="the word",
        verb="sign out everyone")
