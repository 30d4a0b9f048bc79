"""The expiry sweep (run by the daemon): only the due part of the expiry index is read, and
each due user's sessions are judged by their own records."""

from __future__ import annotations

from ..codec import text
from ..protocol import Batch, Command, Eval, Op
from ..scripts.calls import SweepArgs, SweepKeys, SweepReply, UnindexArgs, UnindexKeys, call
from .base import CoreBase, bounded_limit, log, score_pairs


class SweepOps(CoreBase):
    def sweep_expired(self, *, limit: int = 500) -> Op[int]:
        """Sweep up to ``limit`` users whose expiry lower bound has passed: report their dead
        sessions as ``session_expired`` (exactly once: pruning paths and the sweep both remove
        the index member before reporting) and move each user to the earliest expiry of the
        sessions still live, or drop users with none. Returns the number of expired sessions."""
        limit = bounded_limit(limit)
        now = self._now_ms()
        if self._clock is None:
            seconds, micros = (yield Command(("TIME",)))
            now = int(seconds) * 1000 + int(micros) // 1000
        due = yield Command(("ZRANGEBYSCORE", self.keys.expiry_index, "-inf", now,
                             "WITHSCORES", "LIMIT", 0, limit))
        users = [(text(member), score) for member, score in score_pairs(due)]
        replies = (yield Batch(tuple(
            call("sweep", SweepKeys(uk.record, self._stream(), self._stats()),
                 SweepArgs(base=uk.base, now=self._now_arg(),
                           stream_maxlen=self.settings.event_stream_maxlen))
            for uk in (self.keys.for_tag(tag) for tag, _ in users)
        ))) if users else []
        commands: list[Command | Eval] = []
        expired = 0
        for (tag, score), reply in zip(users, replies, strict=True):
            if isinstance(reply, Exception):
                log.warning("sweep of user %r failed: %r", tag, str(reply))
                continue
            swept = SweepReply.of(reply)
            expired += swept.expired
            commands.extend(self._returned_events(swept.events))
            if swept.next_expiry >= 0:
                commands.append(Command(("ZADD", self.keys.expiry_index, swept.next_expiry,
                                         tag)))
            else:
                commands.append(call("unindex", UnindexKeys(self.keys.expiry_index),
                                     UnindexArgs(member=tag, score=score)))
        if commands:
            yield Batch((*commands, *self._retention_commands(now)))
        return expired
