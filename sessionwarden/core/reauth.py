"""Re-authentication (step-up) and token rotation: each one script on the session's slot, one
round trip, its event written by the script (on a Cluster, right after it). A session that
`revoke_everyone`'s not-before epoch ended is refused as validate refuses it: the epoch, when
this process's copy is due a refresh, is read in the same pipeline."""

from __future__ import annotations

from ..codec import (
    CorruptRecord,
    assurance_digit,
    details_json,
    record_touch_ms,
    session_from_record,
    split_session_record,
)
from ..models import CreatedSession, Session
from ..policy import assurance_rank
from ..protocol import Batch, Eval, Op, ScriptError
from ..scripts.calls import (
    ReauthenticateArgs,
    ReauthenticateKeys,
    RecordReply,
    RotateArgs,
    RotateKeys,
    call,
)
from ..tokens import ParsedToken, new_token, parse_token
from .base import log
from .validate import SLOW, ValidateOps


class ReauthOps(ValidateOps):
    def reauthenticate(self, token: object, *, assurance: str = "password"
                       ) -> Op[Session | None]:
        """Record a fresh proof of identity of strength ``assurance`` on the live session of
        ``token``; ``None`` (nothing recorded) for any token that is not valid. ``ValueError``
        for an unknown ``assurance``, before anything is sent."""
        rank = assurance_rank(assurance)
        parsed = self._presented(token, "reauthenticate")
        if parsed is None:
            return None
        uk = self.keys.for_tag(parsed.tag)
        reply = yield from self._run_script(parsed, call(
            "reauthenticate",
            ReauthenticateKeys(uk.session(parsed.rand), uk.record, self._stream(),
                               self._stats()),
            ReauthenticateArgs(rand=parsed.rand, token_hash=parsed.secret_hash,
                               now=self._now_arg(), assurance=assurance_digit(rank),
                               details=details_json({"assurance": assurance}),
                               stream_maxlen=self.settings.event_stream_maxlen)))
        return None if reply is None else (yield from self._after(parsed, reply))

    def rotate_session(self, token: object) -> Op[CreatedSession | None]:
        """A new token for the live session of ``token`` (same session id, record, devices,
        policy and expiry); the old token is dead at once and, presented again, reported as
        ``revoked_token_used`` (reason ``rotated``). ``None`` for any token that is not
        valid; nothing changes then. No session is added, so the limit evicts nothing."""
        parsed = self._presented(token, "rotate_session")
        if parsed is None:
            return None
        uk = self.keys.for_tag(parsed.tag)
        new, new_hash = new_token(parsed.session_id)
        reply = yield from self._run_script(parsed, call(
            "rotate",
            RotateKeys(uk.session(parsed.rand), uk.record, uk.tombstone(parsed.rand),
                       self._stream(), self._stats()),
            RotateArgs(rand=parsed.rand, token_hash=parsed.secret_hash, new_hash=new_hash,
                       now=self._now_arg(), tombstone_ms=self.settings.tombstone_ms,
                       details=details_json({"reason": "token rotated"}),
                       stream_maxlen=self.settings.event_stream_maxlen)))
        session = None if reply is None else (yield from self._after(parsed, reply))
        if session is None:
            return None
        return CreatedSession(session_id=parsed.session_id, token=new, session=session)

    def _presented(self, token: object, operation: str) -> ParsedToken | None:
        """The parts of a token an operation acts on; ``None`` for any that cannot be valid.
        Only a process with the deployment's secret issues and validates tokens."""
        self._fingerprint_key(operation)  # SecretRequired on an operator core
        return parse_token(token)

    def _run_script(self, parsed: ParsedToken, request: Eval) -> Op[RecordReply | None]:
        """The script's reply (``None`` for a script error, logged), with revoke_everyone's
        epoch read in the same pipeline when this process's copy is due a refresh."""
        try:
            epoch, raw = yield from self._with_epoch(request)
        except ScriptError as exc:
            log.warning("session %s skipped: %r", parsed.session_id, str(exc))
            return None
        if epoch is not SLOW:
            self._learn_not_before(epoch)
        return RecordReply.of(raw)

    def _after(self, parsed: ParsedToken, reply: RecordReply) -> Op[Session | None]:
        """The session of an 'ok' reply (``None`` otherwise), after appending the events the
        script returned (on a Cluster)."""
        self._observe(reply.now)
        if returned := self._returned_events(reply.events):
            yield Batch(tuple(returned))
        if reply.status != "ok":
            self._remember(parsed.session_id, None)
            return None
        try:
            fields = split_session_record(reply.record)[1]
            session = session_from_record(parsed.session_id, fields)
        except CorruptRecord as exc:
            log.warning("session skipped: %r", str(exc))
            return None
        if session.created_ms <= self._not_before:
            # signed out by revoke_everyone: dead for validate (which ends it) and for this
            self._remember(parsed.session_id, None)
            return None
        self._remember(parsed.session_id, session.last_active_ms,
                       record_touch_ms(fields, self.settings.touch_ms))
        return session
