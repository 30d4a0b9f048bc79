"""The contract of each script: its KEYS and ARGV as typed records, and its reply decoded.

A script names its keys and arguments once, in its first lines (``named(KEYS, 'record', ...)``
and ``named(ARGV, 'base', ...)`` in the ``.lua`` file); the records here list the same names in
the same order, and ``tests/test_script_calls.py`` holds the two against each other. So a
positional mismatch between Python and Lua fails a test instead of corrupting a record.

Keys a script takes only on a standalone server (the event stream and the global indexes,
written inside the script there) are the trailing fields that default to ``None``; `call`
drops them, and the script sees fewer keys.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..protocol import Eval


def call(script: str, keys: tuple[str | None, ...], args: tuple[Any, ...]) -> Eval:
    """The request that runs ``script`` with these typed keys and arguments."""
    present = tuple(k for k in keys if k is not None)
    if len(present) != len(keys) and keys[: len(present)] != present:
        raise ValueError(f"{script}: only trailing keys may be left out")
    return Eval(script, present, tuple(args))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- create -----------------------------------------------------------------------------------


def _pairs(flat: Any) -> dict[str, str]:
    values = [_text(v) for v in flat or ()]
    return dict(zip(values[::2], values[1::2], strict=False))


class CreateKeys(NamedTuple):
    record: str
    events: str | None = None
    expiry_index: str | None = None
    directory: str | None = None
    recent_users: str | None = None
    stats: str | None = None


class CreateArgs(NamedTuple):
    base: str
    rand: str
    user_id: str
    token_hash: bytes
    now: str
    idle_ms: int
    absolute_ms: int
    max_sessions: int
    on_limit: str
    tombstone_ms: int
    history_ms: int
    fingerprint: str
    legacy_fingerprint: str
    reduced_kind: str
    class_key: str
    description: str
    ip: str
    country: str
    network: str
    city: str
    lat: str
    lon: str
    email: str
    burst_window_ms: int
    max_devices: int
    burst_threshold: int
    login_details: str
    evicted_details: str
    stream_maxlen: int
    retention_ms: int | str
    recent_users_kept: int
    net_key: str
    max_networks: int
    learning_ms: int
    touch_ms: int | str  # '' = no policy (this and the next four)
    assurance: str
    extension_ms: int | str
    max_lifetime_ms: int | str
    policy: str


class CreateReply(NamedTuple):
    """``status`` 'ok', 'denied' (the limit with on_limit='deny') or 'locked' (the account is
    locked); only ``now`` and ``events`` are meaningful for the last two."""

    status: str
    now: int
    expiry: int = 0
    known_device: bool = False
    devices_before: int = 0
    country_known: bool = False
    countries_before: int = 0
    previous: str = ""
    logins_in_window: int = 0
    #: (rand, country, fingerprint, active ms, last other place presented from or '')
    live: tuple[tuple[str, str, str, int, str], ...] = ()
    burst_started: bool = False
    profile: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple default, never mutated
    events: Any = ()

    @classmethod
    def of(cls, reply: Any) -> CreateReply:
        status, now = _text(reply[0]), int(reply[1])
        if status in ("denied", "locked"):
            return cls(status, now, events=reply[2])
        flat = [_text(v) for v in reply[9]]
        live = tuple((flat[i], flat[i + 1], flat[i + 2], int(float(flat[i + 3])), flat[i + 4])
                     for i in range(0, len(flat) - 4, 5))
        return cls(status, now, int(reply[2]), bool(int(reply[3])), int(reply[4]),
                   bool(int(reply[5])), int(reply[6]), _text(reply[7]), int(reply[8]), live,
                   bool(int(reply[10])), _pairs(reply[11]), reply[12])


# -- validate ---------------------------------------------------------------------------------


class ValidateKeys(NamedTuple):
    session: str
    record: str
    tombstone: str
    probe: str
    events: str | None = None
    stats: str | None = None


class ValidateArgs(NamedTuple):
    rand: str
    token_hash: bytes
    now: str
    touch_ms: int
    class_key: str
    legacy_class_key: str
    mismatch_rule: str
    tombstone_ms: int
    bind_details: str
    stream_maxlen: int
    not_before: int
    probe_threshold: int
    probe_window_ms: int
    place: str = ""
    no_ua: int = 0
    activity: str = "1"  # '1': user activity (touch when due); '0': not (touch=False)


class ValidateReply(NamedTuple):
    """``status``: 'ok' | 'mismatch' | 'mismatch_revoked' (``record`` as it now stands),
    'revoked' (``tombstone`` "<ms>|<reason>", ``user_id``, ``same_device``), 'expired',
    'ended' (revoke_everyone's epoch or a locked account) or 'none' (``probed``: this wrong
    secret completed a burst of them, ``user_id`` then set). ``events``: what the caller
    appends (on a Cluster)."""

    status: str
    now: int
    record: bytes = b""
    tombstone: str = ""
    user_id: str = ""
    same_device: bool = False
    facts: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple default, never mutated
    events: Any = ()
    probed: bool = False

    @classmethod
    def of(cls, reply: Any) -> ValidateReply:
        status, now = _text(reply[0]), int(reply[1])
        if status in ("ok", "mismatch", "mismatch_revoked", "moved"):
            if len(reply) == 5:
                return cls(status, now, record=reply[2], facts=_pairs(reply[3]),
                           events=reply[4])
            return cls(status, now, record=reply[2], events=reply[3])
        if status == "revoked":
            return cls(status, now, tombstone=_text(reply[2]), user_id=_text(reply[3]),
                       same_device=bool(int(reply[4])), facts=_pairs(reply[5]),
                       events=reply[6])
        if len(reply) > 4 and int(reply[3]):
            return cls(status, now, user_id=_text(reply[4]), events=reply[2], probed=True)
        return cls(status, now, events=reply[2])


# -- reauthenticate, rotate -------------------------------------------------------------------


class ReauthenticateKeys(NamedTuple):
    session: str
    record: str
    events: str | None = None
    stats: str | None = None


class ReauthenticateArgs(NamedTuple):
    rand: str
    token_hash: bytes
    now: str
    assurance: str  # the rank digit ('' = password)
    details: str
    stream_maxlen: int


class RotateKeys(NamedTuple):
    session: str
    record: str
    tombstone: str
    events: str | None = None
    stats: str | None = None


class RotateArgs(NamedTuple):
    rand: str
    token_hash: bytes
    new_hash: bytes
    now: str
    tombstone_ms: int
    details: str
    stream_maxlen: int


class RecordReply(NamedTuple):
    """``{status, now, record, events{}}`` of reauthenticate and rotate: ``status`` 'ok'
    (``record`` as it now stands), 'expired' or 'none' (no ``record``)."""

    status: str
    now: int
    record: bytes
    events: Any

    @classmethod
    def of(cls, reply: Any) -> RecordReply:
        status, now = _text(reply[0]), int(reply[1])
        if status == "ok":
            return cls(status, now, reply[2], reply[3])
        return cls(status, now, b"", reply[2])


# -- revoke, revoke_all -----------------------------------------------------------------------


class RevokeKeys(NamedTuple):
    session: str
    record: str
    tombstone: str
    user_audit: str
    events: str | None = None
    audit: str | None = None
    stats: str | None = None


class RevokeArgs(NamedTuple):
    rand: str
    now: str
    tombstone_ms: int
    tombstone_reason: str
    user_id: str
    actor: str
    reason: str
    stream_maxlen: int
    audit_ttl_ms: int


class RevokeAllKeys(NamedTuple):
    record: str
    user_audit: str
    events: str | None = None
    audit: str | None = None
    stats: str | None = None


class RevokeAllArgs(NamedTuple):
    base: str
    now: str
    tombstone_ms: int
    tombstone_reason: str
    keep_rand: str
    keep_hash: bytes
    user_id: str
    actor: str
    reason: str
    stream_maxlen: int
    audit_ttl_ms: int


class CountReply(NamedTuple):
    """``{count, events{}, audit{}}``: revoke (1 revoked, -1 had expired, 0 none) and
    revoke_all; ``audit``: global audit entries for the caller to append (on a Cluster)."""

    result: int
    events: Any
    audit: Any

    @classmethod
    def of(cls, reply: Any) -> CountReply:
        return cls(int(reply[0]), reply[1], reply[2])


# -- list -------------------------------------------------------------------------------------


class ListKeys(NamedTuple):
    record: str
    events: str | None = None
    stats: str | None = None


class ListArgs(NamedTuple):
    base: str
    now: str
    user_id: str
    stream_maxlen: int


class ListReply(NamedTuple):
    now: int
    sessions: list[Any]  # flat {rand, record as read, ...}
    devices: list[Any]  # flat {fingerprint, description, ...}
    events: Any

    @classmethod
    def of(cls, reply: Any) -> ListReply:
        return cls(int(reply[0]), reply[1], reply[2], reply[3])


# -- sweep, unindex ---------------------------------------------------------------------------


class SweepKeys(NamedTuple):
    record: str
    events: str | None = None
    stats: str | None = None


class SweepArgs(NamedTuple):
    base: str
    now: str
    stream_maxlen: int


class SweepReply(NamedTuple):
    expired: int
    next_expiry: int  # -1: no session left live
    events: Any

    @classmethod
    def of(cls, reply: Any) -> SweepReply:
        return cls(int(reply[0]), int(reply[1]), reply[2])


class UnindexKeys(NamedTuple):
    expiry_index: str


class UnindexArgs(NamedTuple):
    member: str
    score: str


# -- daemon support: findings, the alert consumer group, retention, leases --------------------


class FindingKeys(NamedTuple):
    events: str
    alerts: str
    incident: str  # the user's open incident, in the event stream's slot (KeySchema.incident)
    user_alerts: str | None = None
    stats: str | None = None


class FindingArgs(NamedTuple):
    stream_maxlen: int
    type: str
    user: str
    sid: str
    sev: str
    at: str
    d: str  # the details without "why"
    user_alerts_kept: int
    user_alerts_ttl_ms: int
    why: str  # '"why":[...]', the member a delivered finding's details get ('' = none)
    rank: int  # the finding's severity, as its index in settings.SEVERITIES
    window_s: int  # the incident window
    new_id: str  # the id of the incident this finding opens, if it opens one


class GroupEnsureKeys(NamedTuple):
    alerts: str


class GroupEnsureArgs(NamedTuple):
    group: str


class TrimAlertsKeys(NamedTuple):
    alerts: str


class TrimAlertsArgs(NamedTuple):
    cutoff: str


class TrimAlertsReply(NamedTuple):
    trimmed: int
    bound: str  # '' when nothing could be trimmed

    @classmethod
    def of(cls, reply: Any) -> TrimAlertsReply:
        return cls(int(reply[0]), _text(reply[1]))


class LeaseKeys(NamedTuple):
    lease: str


class LeaseArgs(NamedTuple):
    owner: str
    ttl_ms: int
    op: str  # 'acquire' (or renew) | 'release'


# -- tally ----------------------------------------------------------------------------------


class TallyKeys(NamedTuple):
    stats: str


class TallyArgs(NamedTuple):
    now: str
    live: int
    logins: int
    alerts: int


# -- incident controls: lock, unlock, revoke_everyone, purge_everyone -------------------------


class LockKeys(NamedTuple):
    record: str
    user_audit: str
    events: str | None = None
    audit: str | None = None
    stats: str | None = None
    directory: str | None = None
    locked: str | None = None


class LockArgs(NamedTuple):
    base: str
    now: str
    tombstone_ms: int
    user_id: str
    actor: str
    reason: str
    stream_maxlen: int
    audit_ttl_ms: int
    details: str


class LockReply(NamedTuple):
    """``ended`` sessions; ``already``: the account was locked before; ``since``: lock ms."""

    ended: int
    already: bool
    since: int
    events: Any
    audit: Any

    @classmethod
    def of(cls, reply: Any) -> LockReply:
        return cls(int(reply[0]), bool(int(reply[1])), int(reply[2]), reply[3], reply[4])


class UnlockKeys(NamedTuple):
    record: str
    user_audit: str
    events: str | None = None
    audit: str | None = None
    locked: str | None = None


class UnlockArgs(NamedTuple):
    now: str
    user_id: str
    actor: str
    reason: str
    stream_maxlen: int
    audit_ttl_ms: int
    history_ms: int
    details: str


class RevokeEveryoneKeys(NamedTuple):
    not_before: str
    events: str | None = None
    audit: str | None = None


class RevokeEveryoneArgs(NamedTuple):
    now: str
    actor: str
    reason: str
    stream_maxlen: int
    details: str


class PurgeEveryoneKeys(NamedTuple):
    record: str
    events: str | None = None
    stats: str | None = None


class PurgeEveryoneArgs(NamedTuple):
    base: str
    now: str
    not_before: int
    tombstone_ms: int
    stream_maxlen: int
    details: str


class PurgeEveryoneReply(NamedTuple):
    ended: int
    events: Any

    @classmethod
    def of(cls, reply: Any) -> PurgeEveryoneReply:
        return cls(int(reply[0]), reply[1])


#: script name -> (keys record, args record), for the contract test.
CONTRACTS: dict[str, tuple[type[tuple[Any, ...]], type[tuple[Any, ...]]]] = {
    "create": (CreateKeys, CreateArgs),
    "validate": (ValidateKeys, ValidateArgs),
    "reauthenticate": (ReauthenticateKeys, ReauthenticateArgs),
    "rotate": (RotateKeys, RotateArgs),
    "revoke": (RevokeKeys, RevokeArgs),
    "revoke_all": (RevokeAllKeys, RevokeAllArgs),
    "list": (ListKeys, ListArgs),
    "sweep": (SweepKeys, SweepArgs),
    "unindex": (UnindexKeys, UnindexArgs),
    "finding": (FindingKeys, FindingArgs),
    "group_ensure": (GroupEnsureKeys, GroupEnsureArgs),
    "trim_alerts": (TrimAlertsKeys, TrimAlertsArgs),
    "lease": (LeaseKeys, LeaseArgs),
    "tally": (TallyKeys, TallyArgs),
    "lock": (LockKeys, LockArgs),
    "unlock": (UnlockKeys, UnlockArgs),
    "revoke_everyone": (RevokeEveryoneKeys, RevokeEveryoneArgs),
    "purge_everyone": (PurgeEveryoneKeys, PurgeEveryoneArgs),
}
