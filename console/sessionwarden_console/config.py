"""The ``[console]`` section and, until the shared configuration loader lands, a tiny TOML
reader for the three sections the console needs: ``[redis] url``, ``[sessions] key_prefix``
and ``[console]``."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """``[console]``: ``refresh_seconds`` (0.2-60) how often live views re-read Redis;
    ``page_size`` (10-500) users per directory page; ``feed_size`` (50-5000) events the alert
    feed keeps; ``notify_min_severity`` the lowest severity of a desktop notification with
    ``--notify``; ``read_only`` (bool) and ``operator`` (text, empty = the login user)."""

    refresh_seconds: float = 2.0
    page_size: int = 100
    feed_size: int = 500
    notify_min_severity: str = "high"
    read_only: bool = False
    operator: str = ""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ConsoleConfig:
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(f"console.{key}: unknown setting (known: {sorted(known)})")
        made = cls(**dict(values))
        r = made.refresh_seconds
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0.2 <= r <= 60:
            raise ValueError(f"console.refresh_seconds: a number from 0.2 to 60, got {r!r}")
        for name, low, high in (("page_size", 10, 500), ("feed_size", 50, 5000)):
            v = getattr(made, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"console.{name}: an integer from {low} to {high}, got {v!r}")
        if made.notify_min_severity not in SEVERITIES:
            raise ValueError(f"console.notify_min_severity: one of {SEVERITIES}, "
                             f"got {made.notify_min_severity!r}")
        if not isinstance(made.read_only, bool):
            raise ValueError(f"console.read_only: true or false, got {made.read_only!r}")
        if not isinstance(made.operator, str) or len(made.operator) > 40:
            raise ValueError("console.operator: text of at most 40 characters")
        return made


DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "sw"


@dataclass(frozen=True, slots=True)
class StartConfig:
    """What start-up needs: where Redis is, the key prefix, and the console section."""

    redis_url: str = DEFAULT_URL
    key_prefix: str = DEFAULT_PREFIX
    console: ConsoleConfig = ConsoleConfig()


def load(path: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ
         ) -> StartConfig:
    """Read ``path`` (TOML) if given; ``REDIS_URL`` in the environment wins over
    ``[redis] url``. Errors are ``ValueError`` naming the section and key."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"--config: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"--config: {path} is not valid TOML: {exc}") from None
    redis_section = _section(data, "redis")
    sessions = _section(data, "sessions")
    url = environ.get("REDIS_URL") or redis_section.get("url") or DEFAULT_URL
    prefix = sessions.get("key_prefix", DEFAULT_PREFIX)
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("redis.url: a redis://, rediss:// or unix:// URL")
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("sessions.key_prefix: non-empty text")
    return StartConfig(url, prefix, ConsoleConfig.from_mapping(_section(data, "console")))


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: must be a table")
    return value
