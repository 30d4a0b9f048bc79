"""Incident controls: lock and unlock an account, sign out everyone, and the background
clean-up after signing out everyone.

**Lock** (`lock.lua`): one script on the user's slot ends every session (tombstoned, reported and
audited like a revocation) and marks the user record (field ``lk``); create refuses while it is
there (`AccountLocked`), and validate's script ends on sight any session it still finds for a
locked user (defence in depth). The global index ``<p>:locked`` mirrors the locks for listings.

**Sign out everyone** (`revoke_everyone.lua`): one global not-before epoch (server ms). Every
validating process keeps the epoch it last read and reads it again when that is older than
`NOT_BEFORE_REFRESH` — in the same pipeline as the validate itself, never an extra round trip —
so every session created at or before the epoch is refused everywhere within that interval,
with no scan on the request path. The sessions are then ended in the background
(`purge_everyone`, run by the daemon's sweep), a batch of users of the expiry index at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from ..codec import details_json, text
from ..errors import SessionWardenError
from ..models import LockedUser, from_ms
from ..protocol import Batch, Command, Eval, Op, ScriptError
from ..scripts.calls import (
    CountReply,
    LockArgs,
    LockKeys,
    LockReply,
    PurgeEveryoneArgs,
    PurgeEveryoneKeys,
    PurgeEveryoneReply,
    RevokeEveryoneArgs,
    RevokeEveryoneKeys,
    UnlockArgs,
    UnlockKeys,
    call,
)
from .base import SYSTEM_ACTOR, bounded_limit, score_pairs
from .sessions import SessionOps
from .validate import NOT_BEFORE_REFRESH, ValidateOps

__all__ = ["NOT_BEFORE_REFRESH", "ControlOps", "PurgeResult"]

_DONE = "done"  # the purge cursor once every user of the expiry index was visited


class PurgeResult(NamedTuple):
    """One batch of the clean-up after `revoke_everyone`: sessions ended, users visited, and
    whether the clean-up of the current epoch is complete (nothing left to do)."""

    ended: int
    users: int
    done: bool


def _required_actor(actor: object) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("actor: required (who did it)")


class ControlOps(ValidateOps, SessionOps):
    def lock_user(self, user_id: str, *, actor: str, reason: str | None = None) -> Op[int]:
        """Lock the account: end every session and refuse new ones until `unlock_user`.
        Returns how many sessions ended. Locking a locked account ends nothing more and keeps
        the first lock's time; it is audited again."""
        uk = self._user_keys(user_id)
        _required_actor(actor)
        actor_, reason_ = self._actor(actor), self._reason(reason)
        s = self.settings
        inline = self._inline
        keys = (LockKeys(uk.record, uk.audit, self.keys.events, self.keys.audit,
                         self.keys.stats, self.keys.directory, self.keys.locked) if inline
                else LockKeys(uk.record, uk.audit))
        try:
            reply = LockReply.of((yield call("lock", keys, LockArgs(
                base=uk.base, now=self._now_arg(), tombstone_ms=s.tombstone_ms,
                user_id=user_id, actor=actor_, reason=reason_ or "",
                stream_maxlen=s.event_stream_maxlen, audit_ttl_ms=s.history_ms,
                details=details_json({"actor": actor_, "reason": reason_}),
            ))))
        except ScriptError as exc:
            raise SessionWardenError(f"cannot lock this user: {exc}") from None
        commands: list[Command | Eval] = [
            *self._returned(CountReply(reply.ended, reply.events, reply.audit))]
        if not inline:
            commands += [Command(("ZADD", self.keys.directory, 0, user_id)),
                         Command(("ZADD", self.keys.locked, reply.since, user_id))]
        if commands:
            yield Batch(tuple(commands))
        return reply.ended

    def unlock_user(self, user_id: str, *, actor: str, reason: str | None = None) -> Op[bool]:
        """Accept sign-ins again; ``False`` (nothing written) when the account was not locked."""
        uk = self._user_keys(user_id)
        _required_actor(actor)
        actor_, reason_ = self._actor(actor), self._reason(reason)
        s = self.settings
        inline = self._inline
        keys = (UnlockKeys(uk.record, uk.audit, self.keys.events, self.keys.audit,
                           self.keys.locked) if inline else UnlockKeys(uk.record, uk.audit))
        reply = CountReply.of((yield call("unlock", keys, UnlockArgs(
            now=self._now_arg(), user_id=user_id, actor=actor_, reason=reason_ or "",
            stream_maxlen=s.event_stream_maxlen, audit_ttl_ms=s.history_ms,
            history_ms=s.history_ms, details=details_json({"actor": actor_, "reason": reason_}),
        ))))
        commands: list[Command | Eval] = [*self._returned(reply)]
        if reply.result == 1 and not inline:
            commands.append(Command(("ZREM", self.keys.locked, user_id)))
        if commands:
            yield Batch(tuple(commands))
        return reply.result == 1

    def lock_state(self, user_id: str) -> Op[datetime | None]:
        """When the account was locked, ``None`` when it is not (the user record's own mark,
        which create obeys)."""
        uk = self._user_keys(user_id)
        raw = yield Command(("HGET", uk.record, "lk"))
        value = text(raw) if raw is not None else ""
        return from_ms(int(value)) if value.isdigit() else None

    def locked_users(self, *, limit: int = 100) -> Op[list[LockedUser]]:
        """Locked accounts, most recently locked first, at most ``limit`` (1-10000)."""
        limit = bounded_limit(limit)
        reply = yield Command(("ZREVRANGE", self.keys.locked, 0, limit - 1, "WITHSCORES"))
        return [LockedUser(text(m), from_ms(int(float(score))))
                for m, score in score_pairs(reply)]

    def revoke_everyone(self, *, actor: str, reason: str | None = None) -> Op[datetime]:
        """Sign out every session of every user (breach response): returns the not-before
        epoch. Validate refuses every session created at or before it in every process within
        `NOT_BEFORE_REFRESH` (this process at once); `purge_everyone` ends them in the
        background."""
        _required_actor(actor)
        actor_, reason_ = self._actor(actor), self._reason(reason)
        inline = self._inline
        keys = (RevokeEveryoneKeys(self.keys.not_before, self.keys.events, self.keys.audit)
                if inline else RevokeEveryoneKeys(self.keys.not_before))
        reply = yield call("revoke_everyone", keys, RevokeEveryoneArgs(
            now=self._now_arg(), actor=actor_, reason=reason_ or "",
            stream_maxlen=self.settings.event_stream_maxlen,
            details=details_json({"actor": actor_, "reason": reason_})))
        epoch = int(reply[0])
        if returned := self._returned(CountReply(0, reply[1], reply[2])):
            yield Batch(tuple(returned))
        self._move_not_before(max(self._not_before, epoch))
        return from_ms(epoch)

    def purge_everyone(self, *, limit: int = 500) -> Op[PurgeResult]:
        """One batch of the clean-up after `revoke_everyone`: up to ``limit`` users of the
        expiry index (a ZSCAN cursor kept in Redis, so the work resumes where it stopped, in
        any process) have their sessions created at or before the epoch ended, tombstoned,
        unindexed and reported. Idempotent; a newer epoch restarts the walk. Not on any
        request path: the daemon's sweep runs it."""
        limit = bounded_limit(limit)
        raw_epoch, state = yield Batch((
            Command(("GET", self.keys.not_before)),
            Command(("HMGET", self.keys.everyone_purge, "epoch", "cursor")),
        ))
        epoch_text = text(raw_epoch) if raw_epoch is not None else ""
        if not epoch_text.isdigit():
            return PurgeResult(0, 0, True)
        epoch = int(epoch_text)
        self._move_not_before(max(self._not_before, epoch))
        same = state[0] is not None and text(state[0]) == epoch_text
        cursor = text(state[1]) if same and state[1] is not None else "0"
        if cursor == _DONE:
            return PurgeResult(0, 0, True)
        next_cursor, flat = yield Command(("ZSCAN", self.keys.expiry_index, cursor,
                                           "COUNT", limit))
        tags = [text(m) for m, _ in score_pairs(flat)]
        s = self.settings
        details = details_json({"actor": SYSTEM_ACTOR, "reason": "everyone",
                                "everyone": True})
        replies = (yield Batch(tuple(
            call("purge_everyone", PurgeEveryoneKeys(uk.record, self._stream(), self._stats()),
                 PurgeEveryoneArgs(base=uk.base, now=self._now_arg(), not_before=epoch,
                                   tombstone_ms=s.tombstone_ms,
                                   stream_maxlen=s.event_stream_maxlen, details=details))
            for uk in (self.keys.for_tag(tag) for tag in tags)))) if tags else []
        ended = 0
        commands: list[Command | Eval] = []
        for _, purged in self._per_user_replies("clean-up", tags, replies,
                                                PurgeEveryoneReply.of, commands):
            ended += purged.ended
        following = text(next_cursor)
        done = following == "0"
        commands.append(Command(("HSET", self.keys.everyone_purge, "epoch", epoch_text,
                                 "cursor", _DONE if done else following)))
        yield Batch(tuple(commands))
        return PurgeResult(ended, len(tags), done)
