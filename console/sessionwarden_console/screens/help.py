"""`?`: every key binding in force, with its id (for keymaps) and what it does."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str, bool]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Keys (k9s conventions)\n\n", style="bold")
        for key, description, binding_id, enabled in self.rows:
            text.append(f"{key:>8}  ", style="bold")
            text.append(f"{description:<22}", style="" if enabled else "dim strike")
            text.append(f" {binding_id}\n", style="dim")
        text.append("\n:user NAME  :revoke SESSION_ID  :alerts high  :audit [USER]\n",
                    style="dim")
        text.append("ctrl+p: command palette · escape: close", style="dim")
        with VerticalScroll(classes="dialog help"):
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
