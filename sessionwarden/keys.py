"""The Redis key schema, in one place (mirrored in docs/redis-schema.md).

All keys of one user share the Redis Cluster hash tag ``{<tag>}``, where the tag is a hash of
the user id: user ids are never spliced into key names, so ids such as ``a:b``, ``{a}`` or ``*``
can neither collide with each other nor inject key syntax. Global keys (user directory, expiry
index, event stream, used alert actions) live outside any user's slot and are only ever written
with idempotent commands after the per-user script has run.

A session id is ``<tag><rand>``: the tag says which slot holds the session, so validating a
token needs no lookup, and the random part names the session inside that slot.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

TAG_LEN = 16  # 96 bits of SHA-256, base64url
RAND_LEN = 11  # 64 bits, base64url; unique within one user's slot
SESSION_ID_LEN = TAG_LEN + RAND_LEN
SESSION_ID_RE = re.compile(rf"^[A-Za-z0-9_-]{{{SESSION_ID_LEN}}}$")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def user_tag(user_id: str) -> str:
    """The hash tag of a user: 96 bits of SHA-256 of the UTF-8 user id, base64url."""
    return b64(hashlib.sha256(user_id.encode("utf-8")).digest()[:12])


def split_session_id(session_id: str) -> tuple[str, str] | None:
    """``(tag, rand)`` of a well-formed session id, ``None`` for anything else."""
    if not isinstance(session_id, str) or not SESSION_ID_RE.match(session_id):
        return None
    return session_id[:TAG_LEN], session_id[TAG_LEN:]


@dataclass(frozen=True, slots=True)
class UserKeys:
    """Keys of one user's slot. ``base`` is the prefix scripts append ``s:<rand>`` to."""

    tag: str
    base: str

    @property
    def record(self) -> str:  # hash: profile, session index (s:<rand>), devices (d:, n:<fp>)
        return self.base + "u"

    def session(self, rand: str) -> str:  # string: packed record, PEXPIREAT = its own expiry
        return self.base + "s:" + rand

    def tombstone(self, rand: str) -> str:
        # string "<hash><flag><class><CC or -->" then "<ms>|<reason>", PX (CC: the country
        # of a session that ended on its own)
        return self.base + "x:" + rand

    def probe(self, rand: str) -> str:  # string: wrong secrets counted for a session, PX
        return self.base + "pr:" + rand

    @property
    def audit(self) -> str:  # list: this user's audit entries, newest first, capped, PX history
        return self.base + "a"

    @property
    def alerts(self) -> str:  # list: this user's alerts (findings >= low), newest first, capped
        return self.base + "al"


@dataclass(frozen=True, slots=True)
class KeySchema:
    prefix: str

    def for_user(self, user_id: str) -> UserKeys:
        return self.for_tag(user_tag(user_id))

    def for_tag(self, tag: str) -> UserKeys:
        return UserKeys(tag=tag, base=f"{self.prefix}:{{{tag}}}:")

    def session(self, tag: str, rand: str) -> str:
        """``for_tag(tag).session(rand)`` without the intermediate object (validate's path)."""
        return f"{self.prefix}:{{{tag}}}:s:{rand}"

    @property
    def directory(self) -> str:  # zset, all scores 0: user ids in lexical order (prefix search)
        return f"{self.prefix}:users"

    @property
    def recent_users(self) -> str:  # zset: user id -> last login (ms)
        return f"{self.prefix}:users:recent"

    @property
    def expiry_index(self) -> str:  # zset: user tag -> lower bound of its sessions' expiry (ms)
        return f"{self.prefix}:exp"

    @property
    def events(self) -> str:  # stream of Event records
        return f"{self.prefix}:events"

    @property
    def audit(self) -> str:  # stream of AuditEntry records (what actors did), trimmed by age only
        return f"{self.prefix}:audit"

    def used_action(self, nonce: str) -> str:  # string, PX = remaining action lifetime
        return f"{self.prefix}:aa:{nonce}"

    # -- daemon support (appended) ---------------------------------------------------------

    @property
    def alerts(self) -> str:  # stream: findings for delivery; same slot as the event stream
        return f"{self.prefix}:alerts{{{self.prefix}:events}}"

    def incident(self, tag: str) -> str:  # string: a user's open incident, PX; same slot too
        return f"{self.prefix}:ic{{{self.prefix}:events}}:{tag}"

    @property
    def dead_letters(self) -> str:  # stream: alert deliveries given up after N attempts
        return f"{self.prefix}:dead"

    def delivery(self, alert_id: str) -> str:  # hash: sink -> ok/dead, a:<sink> -> attempts
        return f"{self.prefix}:dlv:{alert_id}"

    @property
    def heartbeats(self) -> str:  # zset: daemon instance -> last beat ms
        return f"{self.prefix}:hb"

    def heartbeat(self, instance: str) -> str:  # string: JSON of one daemon's state, PX
        return f"{self.prefix}:hb:{instance}"

    def lease(self, name: str) -> str:  # string: owner of a lease, PX
        return f"{self.prefix}:lease:{name}"

    @property
    def stats(self) -> str:  # hash: console totals ('live', per-minute ring 'l<n>', 'a<n>')
        return f"{self.prefix}:stats"

    # -- incident controls (appended) -------------------------------------------------------

    @property
    def not_before(self) -> str:  # string: revoke_everyone's epoch (ms); no expiry
        return f"{self.prefix}:nb"

    @property
    def everyone_purge(self) -> str:  # hash: the background clean-up's 'epoch' and 'cursor'
        return f"{self.prefix}:nb:purge"

    @property
    def locked(self) -> str:  # zset: user id -> lock ms (the listings' view of the locks)
        return f"{self.prefix}:locked"
