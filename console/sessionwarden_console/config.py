"""The ``[console]`` section of the shared configuration (`sessionwarden.config`).

Registered through the entry point ``sessionwarden.config_sections`` (``console =
sessionwarden_console.config:ConsoleConfig``), so wherever this distribution is installed
``sessionwarden config check`` validates the section and ``SESSIONWARDEN_CONSOLE__<KEY>``
overrides a key. This module imports nothing heavy: every `sessionwarden.config.load()` on a
host with the console installed loads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sessionwarden.config import Config

SEVERITIES = ("info", "low", "medium", "high", "critical")
DISTRIBUTION = "sessionwarden-console"


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """``[console]``: ``refresh_seconds`` (0.2-60) how often live views re-read Redis;
    ``page_size`` (10-500) users per directory page; ``feed_size`` (50-5000) events the alert
    feed keeps; ``notify_min_severity`` the lowest severity of a desktop notification with
    ``--notify``; ``read_only`` (bool) and ``operator`` (text, empty = the login user).

    Errors start with the field name, so the shared loader reports them as one line naming
    ``console.<key>``, the value and where it came from."""

    refresh_seconds: float = 2.0
    page_size: int = 100
    feed_size: int = 500
    notify_min_severity: str = "high"
    read_only: bool = False
    operator: str = ""

    def __post_init__(self) -> None:
        r = self.refresh_seconds
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0.2 <= r <= 60:
            raise ValueError(f"refresh_seconds: a number from 0.2 to 60, got {r!r}")
        for name, low, high in (("page_size", 10, 500), ("feed_size", 50, 5000)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"{name}: an integer from {low} to {high}, got {v!r}")
        if self.notify_min_severity not in SEVERITIES:
            raise ValueError(f"notify_min_severity: one of {', '.join(SEVERITIES)}, "
                             f"got {self.notify_min_severity!r}")
        if not isinstance(self.read_only, bool):
            raise ValueError(f"read_only: true or false, got {self.read_only!r}")
        if not isinstance(self.operator, str) or len(self.operator) > 40:
            raise ValueError("operator: text of at most 40 characters")


def load(path: str | os.PathLike[str] | None = None, *,
         env: Mapping[str, str] = os.environ) -> tuple[Config, ConsoleConfig]:
    """The shared configuration as the console loads it — ``operator=True``: it never issues
    sessions, so ``production`` without a secret is fine — and its ``[console]`` section.
    Raises `sessionwarden.config.ConfigError` (a ``ValueError``) naming the key."""
    from sessionwarden import config as swconfig

    # The entry point registers the section when the distribution is installed; registering
    # the same class again is a no-op, and covers a source checkout without its metadata.
    swconfig.register_section("console", ConsoleConfig, distribution=DISTRIBUTION)
    cfg = swconfig.load(path, env=env, operator=True)
    console = cfg.extra.get("console")
    return cfg, console if isinstance(console, ConsoleConfig) else ConsoleConfig()
