"""The daemon's heartbeat: each running daemon writes its state under a key with a time to
live; its absence means that daemon is down. An index (a sorted set, instance → last beat)
lets a console find every instance without scanning keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..codec import text
from ..models import from_ms
from ..protocol import Batch, Command, Op
from .base import CoreBase, log

HEARTBEAT_INDEX_KEPT_MS = 86_400_000  # instances silent for a day leave the index
MAX_HEARTBEAT_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One daemon's last beat: ``instance`` (host:pid), ``at`` when it was written, and the
    state it reported (``state``: version, host, pid, started, last sweep, sessions expired,
    delivered/failed per sink, consumer lag, ...)."""

    instance: str
    at: datetime
    state: dict[str, Any]


def _instance(value: object) -> str:
    if (not isinstance(value, str) or not 1 <= len(value) <= 128
            or not all(ch.isalnum() or ch in "-_.:@" for ch in value)):
        raise ValueError("instance: 1-128 characters A-Z a-z 0-9 - _ . : @")
    return value


class HeartbeatOps(CoreBase):
    def write_heartbeat(self, instance: str, state: dict[str, Any], *,
                        ttl_ms: int) -> Op[None]:
        """Write ``instance``'s state (a JSON-safe dict, at most 8 KB) for ``ttl_ms``."""
        instance = _instance(instance)
        if not isinstance(ttl_ms, int) or not 100 <= ttl_ms <= 86_400_000:
            raise ValueError("ttl_ms: must be an integer from 100 to 86400000")
        now = self._now_ms()
        try:
            encoded = json.dumps({"at": now, "state": state}, separators=(",", ":"),
                                 ensure_ascii=True, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state: not JSON-safe: {exc}") from None
        if len(encoded) > MAX_HEARTBEAT_BYTES:
            raise ValueError(f"state: longer than {MAX_HEARTBEAT_BYTES} bytes once encoded")
        yield Batch((
            Command(("SET", self.keys.heartbeat(instance), encoded, "PX", ttl_ms)),
            Command(("ZADD", self.keys.heartbeats, now, instance)),
            Command(("ZREMRANGEBYSCORE", self.keys.heartbeats, "-inf",
                     now - HEARTBEAT_INDEX_KEPT_MS)),
        ))

    def clear_heartbeat(self, instance: str) -> Op[None]:
        """Remove ``instance``'s heartbeat (a clean stop)."""
        instance = _instance(instance)
        yield Batch((Command(("DEL", self.keys.heartbeat(instance))),
                     Command(("ZREM", self.keys.heartbeats, instance))))

    def heartbeats(self) -> Op[list[Heartbeat]]:
        """The live daemons' heartbeats, most recent first (expired ones are absent)."""
        members = yield Command(("ZREVRANGE", self.keys.heartbeats, 0, 99))
        names = [text(m) for m in members or []]
        if not names:
            return []
        values = yield Command(("MGET", *(self.keys.heartbeat(n) for n in names)))
        found = []
        for name, raw in zip(names, values, strict=True):
            if raw is None:
                continue
            try:
                data = json.loads(text(raw))
                found.append(Heartbeat(name, from_ms(int(data["at"])), dict(data["state"])))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("skipped corrupt heartbeat %r: %r", name, str(exc))
        return found
