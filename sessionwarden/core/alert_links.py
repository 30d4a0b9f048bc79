"""Signed, single-use, expiring "not you? revoke" links about one event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from ..codec import events_from_entries
from ..errors import InvalidAlertAction
from ..models import Event
from ..protocol import Command, Op
from .base import OWNER_ACTOR, is_stream_id
from .sessions import SessionOps


class AlertLinkOps(SessionOps):
    def create_alert_action(self, event_id: str, *, scope: str = "session") -> Op[str]:
        """A signed, single-use, expiring token for a "not you? revoke" link about one event.

        ``scope="session"`` revokes the flagged session, ``"all"`` every session of the user.
        """
        self._alert_key("create_alert_action")
        if scope not in ("session", "all"):
            raise ValueError("scope: must be 'session' or 'all'")
        if not isinstance(event_id, str) or not is_stream_id(event_id):
            raise ValueError("event_id: not a stream id")
        reply = yield Command(("XRANGE", self.keys.events, event_id, event_id))
        events = events_from_entries(reply)
        if not events:
            raise ValueError(f"event_id: no such event {event_id}")
        return self._alert_token(events[0], scope)

    def _alert_token(self, event: Event, scope: str) -> str:
        """The signed token for an event already read (the daemon has it from the alert
        stream, which may outlive the event's entry in the capped event stream)."""
        self._alert_key("create_alert_action")
        if scope not in ("session", "all"):
            raise ValueError("scope: must be 'session' or 'all'")
        expires = self._now_ms() + int(self.settings.alert_action_ttl.total_seconds() * 1000)
        payload = json.dumps(
            [event.id, event.user_id, event.session_id or "", scope, expires,
             secrets.token_urlsafe(12)], separators=(",", ":"), ensure_ascii=False,
        ).encode("utf-8")
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._alert_key("alert links"), body.encode("ascii"),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def revoke_from_alert(self, action_token: object) -> Op[int]:
        """Use a "this wasn't me" token: revokes what it names (actor ``account-owner``),
        records its use (an ``alert_action_used`` event, and the same in the audit trail), and
        returns how many sessions ended.
        Raises `InvalidAlertAction` for a malformed, forged, expired or already used token."""
        self._alert_key("revoke_from_alert")
        if not isinstance(action_token, str) or len(action_token) > 2048:
            raise InvalidAlertAction("malformed action token")
        body, _, signature = action_token.partition(".")
        if not (body and body.isascii() and signature.isascii()) or not hmac.compare_digest(
                signature.encode("ascii"), self._sign(body).encode("ascii")):
            raise InvalidAlertAction("action token is malformed or forged")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            event_id, user_id, session_id, scope, expires, nonce = json.loads(raw)
            expires = int(expires)
        except (ValueError, TypeError) as exc:
            raise InvalidAlertAction(f"action token payload unreadable: {exc}") from None
        now = self._now_ms()
        if now >= expires:
            raise InvalidAlertAction("action token has expired")
        first_use = yield Command(("SET", self.keys.used_action(str(nonce)), event_id, "NX",
                                   "PX", expires - now))
        if not first_use:
            raise InvalidAlertAction("action token was already used")
        reason = f"account owner reported alert {event_id}"
        if scope == "all" or not session_id:
            count = yield from self.revoke_all_sessions(user_id, actor=OWNER_ACTOR, reason=reason)
        else:
            count = int((yield from self.revoke_session(user_id, session_id, actor=OWNER_ACTOR,
                                                       reason=reason)))
        details = {"actor": OWNER_ACTOR, "event_id": event_id, "scope": scope, "revoked": count}
        yield from self._write_audit(
            "alert_action_used", OWNER_ACTOR, user_id, session_id or None, reason, details,
            before=(self._xadd("alert_action_used", user_id, session_id or None, "info", now,
                               details),))
        return count
