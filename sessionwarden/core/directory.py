"""The user directory (prefix search, most recent sign-ins) and what a user record holds
(devices, contact address): plain reads, no script."""

from __future__ import annotations

from ..codec import devices_from_record, pairs, text
from ..models import Device, UserSummary, from_ms
from ..protocol import Command, Op
from .base import CoreBase, bounded_limit, log, score_pairs


class DirectoryOps(CoreBase):
    def users(self, prefix: str = "", *, limit: int = 50) -> Op[list[str]]:
        """User ids in lexical order, starting with ``prefix`` ("" = all)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix: expected str, got {type(prefix).__name__}")
        limit = bounded_limit(limit)
        if len(prefix.encode("utf-8", "surrogatepass")) > 256:
            raise ValueError("prefix: longer than a user id can be (256 bytes)")
        low = "[" + prefix if prefix else "-"
        high = "[" + prefix + "\U0010ffff" if prefix else "+"
        reply = yield Command(("ZRANGEBYLEX", self.keys.directory, low, high, "LIMIT", 0, limit))
        return [text(m) for m in reply]

    def recent_users(self, *, limit: int = 50) -> Op[list[UserSummary]]:
        """Users by most recent sign-in, newest first."""
        limit = bounded_limit(limit)
        reply = yield Command(("ZREVRANGE", self.keys.recent_users, 0, limit - 1, "WITHSCORES"))
        return [UserSummary(text(m), from_ms(int(float(score))))
                for m, score in score_pairs(reply)]

    def known_devices(self, user_id: str) -> Op[list[Device]]:
        """The user's devices, most recently seen first (corrupt records skipped and logged)."""
        uk = self._user_keys(user_id)
        reply = yield Command(("HGETALL", uk.record))
        found, problems = devices_from_record(
            {text(k): v for k, v in reply.items()} if isinstance(reply, dict) else pairs(reply))
        for problem in problems:
            log.warning("user %s: skipped corrupt %s", uk.tag, problem)
        return sorted(found, key=lambda d: d.last_seen_at, reverse=True)

    def user_email(self, user_id: str) -> Op[str | None]:
        uk = self._user_keys(user_id)
        reply = yield Command(("HGET", uk.record, "em"))
        return text(reply) or None
