"""The expiry sweep (run by the daemon): only the due part of the expiry index is read, and
each due user's sessions are judged by their own records."""

from __future__ import annotations

from typing import NamedTuple

from ..codec import text
from ..protocol import Batch, Command, Eval, Op
from ..scripts.calls import SweepArgs, SweepKeys, SweepReply, UnindexArgs, UnindexKeys, call
from .base import CoreBase, bounded_limit, score_pairs


class SweepResult(NamedTuple):
    """One sweep: sessions reported expired, users swept, and users still due after it (the
    daemon sweeps again at once while some are)."""

    expired: int
    users_swept: int
    still_due: int


class SweepOps(CoreBase):
    def sweep_expired(self, *, limit: int = 500) -> Op[int]:
        """As `sweep_due`, returning only the number of expired sessions."""
        result = yield from self.sweep_due(limit=limit)
        return result.expired

    def sweep_due(self, *, limit: int = 500) -> Op[SweepResult]:
        """Sweep up to ``limit`` users whose expiry lower bound has passed: report their dead
        sessions as ``session_expired`` (exactly once: pruning paths and the sweep both remove
        the index member before reporting) and move each user to the earliest expiry of the
        sessions still live, or drop users with none. Returns the number of expired sessions,
        of users swept and of users still due (beyond ``limit``): the cost is proportional
        to what is due, never to all sessions."""
        limit = bounded_limit(limit)
        now = self._now_ms()
        if self._clock is None:
            seconds, micros = (yield Command(("TIME",)))
            now = int(seconds) * 1000 + int(micros) // 1000
        due, due_count = yield Batch((
            Command(("ZRANGEBYSCORE", self.keys.expiry_index, "-inf", now,
                     "WITHSCORES", "LIMIT", 0, limit)),
            Command(("ZCOUNT", self.keys.expiry_index, "-inf", now)),
        ))
        users = [(text(member), score) for member, score in score_pairs(due)]
        replies = (yield Batch(tuple(
            call("sweep", SweepKeys(uk.record, self._stream(), self._stats()),
                 SweepArgs(base=uk.base, now=self._now_arg(),
                           stream_maxlen=self.settings.event_stream_maxlen))
            for uk in (self.keys.for_tag(tag) for tag, _ in users)
        ))) if users else []
        commands: list[Command | Eval] = []
        expired = 0
        for i, swept in self._per_user_replies("sweep", [tag for tag, _ in users], replies,
                                               SweepReply.of, commands):
            tag, score = users[i]
            expired += swept.expired
            if swept.next_expiry >= 0:
                commands.append(Command(("ZADD", self.keys.expiry_index, swept.next_expiry,
                                         tag)))
            else:
                commands.append(call("unindex", UnindexKeys(self.keys.expiry_index),
                                     UnindexArgs(member=tag, score=score)))
        if commands:
            yield Batch((*commands, *self._retention_commands(now)))
        return SweepResult(expired, len(users), max(int(due_count) - len(users), 0))
