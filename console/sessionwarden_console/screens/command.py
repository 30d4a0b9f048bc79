"""The `:` command line (k9s style): `:user NAME`, `:revoke SESSION_ID`, `:alerts high`,
`:users`, `:audit [USER]`, `:revoke-everyone`, `:q`."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class CommandLine(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="command"):
            yield Input(placeholder=":user NAME · :revoke SESSION_ID · :alerts high · :audit",
                        id="command")
            yield Static(Text("enter: run · escape: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip().removeprefix(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)
