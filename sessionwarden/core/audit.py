"""The audit trail: what actors did (revocations with actor and reason, alert
acknowledgements, alert-link uses, dead letters), kept apart from the event stream and never
trimmed with it.

Revocations are recorded by the revoke scripts themselves (atomically with the change); other
parts (the console's acknowledgements, the daemon's dead letters) call `record_audit`. Each
entry goes to the global trail and, when it concerns a user, to that user's own capped trail,
so a user's history is read without scanning the global stream.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from ..codec import (
    audit_entries_from,
    audit_fields,
    details_json,
    text,
    user_audit_from,
    user_trail_entry,
)
from ..keys import split_session_id
from ..models import AuditEntry
from ..protocol import Batch, Command, Op
from ..sanitize import require_user_id
from .base import CoreBase, bounded_limit

USER_AUDIT_KEPT = 200  # entries of a user's own trail (a list; _lib.lua keeps as many)
MAX_AUDIT_DETAILS = 4096  # bytes of an entry's details JSON
_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")


class AuditOps(CoreBase):
    def _returned_audit(self, entries: Any) -> list[Command]:
        """Appends to the global trail of the entries a script returned (on a Cluster)."""
        return [Command(("XADD", self.keys.audit, "*", *fields)) for fields in entries or ()]

    def _write_audit(self, kind: str, actor: str, user_id: str | None,
                     session_id: str | None, reason: str | None,
                     details: dict[str, Any], *, before: tuple[Command, ...] = ()) -> Op[str]:
        """Append one audit entry (checked and cleaned already), after ``before`` in the same
        pipeline: the global trail, then, when it concerns a user, the user's own list with the
        global id (a second round trip: the id is known only once the first is answered).
        Returns the global id."""
        fields = audit_fields(kind, actor, user_id, session_id, reason, self._now_ms(), details)
        replies = yield Batch((*before, Command(("XADD", self.keys.audit, "*", *fields))))
        entry_id = text(replies[-1])
        if user_id is not None:
            user_audit = self.keys.for_user(user_id).audit
            yield Batch((
                Command(("LPUSH", user_audit, user_trail_entry(entry_id, *fields[1::2]))),
                Command(("LTRIM", user_audit, 0, USER_AUDIT_KEPT - 1)),
                Command(("PEXPIRE", user_audit, self.settings.history_ms)),
            ))
        return entry_id

    def record_audit(self, kind: str, *, actor: str, user_id: str | None = None,
                     session_id: str | None = None, reason: str | None = None,
                     details: dict[str, Any] | None = None) -> Op[str]:
        """Append one entry (one round trip, two when it concerns a user); returns its id in
        the global trail. ``kind``: 1-40 characters
        ``[a-z0-9_]`` starting with a letter; ``actor``: who did it (required, cleaned, at most
        64 characters); ``session_id`` must be a session id of this library; ``details``: a
        JSON-safe dict of at most 4 KB once encoded, its strings cleaned. Anything else is a
        ``ValueError`` naming the argument, and nothing is written."""
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise ValueError("kind: 1-40 characters a-z, 0-9 and _, starting with a letter")
        if not isinstance(actor, str) or not actor.strip():
            raise ValueError("actor: required (who did it)")
        actor_, reason_ = self._actor(actor), self._reason(reason)
        if user_id is not None:
            require_user_id(user_id)
        if session_id is not None and split_session_id(session_id) is None:
            raise ValueError("session_id: not a session id of this library")
        if details is not None and not isinstance(details, dict):
            raise ValueError("details: must be a dict")
        try:
            encoded = details_json(details or {})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"details: not JSON-safe: {exc}") from None
        if len(encoded.encode("utf-8", "surrogatepass")) > MAX_AUDIT_DETAILS:
            raise ValueError(f"details: longer than {MAX_AUDIT_DETAILS} bytes once encoded")
        return (yield from self._write_audit(kind, actor_, user_id, session_id, reason_,
                                             details or {}))

    def audit_trail(self, *, user_id: str | None = None,
                    since: datetime | timedelta | None = None,
                    limit: int = 100) -> Op[list[AuditEntry]]:
        """Audit entries, newest first: the user's own trail when ``user_id`` is given (its
        last ~200 entries), else the global one. ``since``: a datetime, or a timedelta back
        from now; ``limit`` 1-10000."""
        limit = bounded_limit(limit)
        low = 0
        if since is not None:
            if isinstance(since, timedelta):
                low = max(self._now_ms() - int(since.total_seconds() * 1000), 0)
            elif isinstance(since, datetime):
                low = max(int(since.timestamp() * 1000), 0)
            else:
                raise ValueError("since: a datetime or a timedelta")
        if user_id is not None:
            reply = yield Command(("LRANGE", self._user_keys(user_id).audit, 0, limit - 1))
            return [e for e in user_audit_from(reply) if e.at.timestamp() * 1000 >= low]
        reply = yield Command(("XREVRANGE", self.keys.audit, "+", str(low) if low else "-",
                               "COUNT", limit))
        return audit_entries_from(reply)
