"""What every operation shares: settings, key schema, clocks, memos and event helpers.

`CoreBase` holds no connection and does no I/O; the operation mixins of this package build on
it, and `sessionwarden.core.Core` combines them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from ..client_hints import HeadersLike, hint_values, hints_from_values
from ..codec import details_json, event_fields, text, user_trail_entry
from ..detection import Finding
from ..devices import (
    DeviceInfo,
    device_class_key,
    legacy_device_class_key,
    normalise_user_agent,
    parse_user_agent,
)
from ..errors import SecretRequired
from ..geo import GeoResolver
from ..incidents import incident_args
from ..keys import KeySchema, UserKeys, split_session_id
from ..networks import NetworkResolver
from ..protocol import Command, Eval
from ..sanitize import clean_text, require_user_id
from ..scripts.calls import FindingArgs, FindingKeys, TallyArgs, TallyKeys, call
from ..settings import SECRET_ENV, Settings
from .memo import bounded_put

log = logging.getLogger("sessionwarden")


class _ScriptReply(Protocol):
    """A decoded per-user script reply: it carries the events the script left to append."""

    @property
    def events(self) -> Any: ...


R = TypeVar("R", bound=_ScriptReply)

#: What validate learns of a presenting client: its device (``None`` without a user agent or
#: hints), class key and the class key as version 1 computed it (see `legacy_device_class_key`).
Presenter = tuple[DeviceInfo | None, str | None, str | None]

MAX_REMEMBERED = 50_000  # sessions whose last activity one process keeps as a routing hint
MAX_CACHED_UA = 1024  # longer user agents (hostile ones) are cleaned and parsed every time
MAX_LIST = 10_000
MAX_ACTOR_LENGTH = 64
MAX_REASON_LENGTH = 200
USER_ALERTS_KEPT = 100  # entries of a user's own alert list
ALERT_SEVERITIES = frozenset({"low", "medium", "high", "critical"})  # findings that are alerts
_LIVE_DELTA = {b"login": 1, b"session_revoked": -1, b"session_expired": -1,
               b"session_evicted": -1}
SYSTEM_ACTOR = "sessionwarden"
OWNER_ACTOR = "account-owner"


def bounded_limit(limit: object, name: str = "limit") -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST:
        raise ValueError(f"{name}: must be an integer from 1 to {MAX_LIST}, got {limit!r}")
    return limit


def score_pairs(reply: Any) -> list[tuple[Any, str]]:
    """``(member, score)`` pairs of a WITHSCORES reply, flat or already paired by redis-py."""
    if reply and isinstance(reply[0], list | tuple):
        return [(m, str(score)) for m, score in reply]
    return [(reply[i], text(reply[i + 1])) for i in range(0, len(reply) - 1, 2)]


def is_stream_id(value: str) -> bool:
    ms, dash, seq = value.partition("-")
    return len(value) <= 41 and ms.isdigit() and (not dash or seq.isdigit())


class CoreBase:
    """Operations over one `Settings`; holds no connection and does no I/O."""

    def __init__(self, settings: Settings, clock: Callable[[], float] | None = None, *,
                 inline_events: bool = True) -> None:
        """``inline_events``: scripts append their events (and sign-in's global index entries)
        themselves, atomically with the change — right for a standalone server. On a Cluster
        those keys live in other slots, so the caller appends what the scripts return.

        Without ``settings.secret`` this is an *operator* core: it lists, revokes, sweeps and
        reads events and the directory, and refuses (`SecretRequired`) what needs the
        deployment's secret: issuing and validating sessions and alert links."""
        self.settings = settings
        self._inline = inline_events
        self._bind_details = details_json(
            {"actor": SYSTEM_ACTOR, "reason": "device_mismatch (bind_to_device)"})
        self.keys = KeySchema(settings.key_prefix)
        self._clock = clock
        secret = settings.secret
        assert secret is None or isinstance(secret, bytes)
        self._fp_key = (hmac.new(secret, b"sessionwarden/fingerprint", hashlib.sha256).digest()
                        if secret else None)
        self._action_key = (hmac.new(secret, b"sessionwarden/alert-action",
                                     hashlib.sha256).digest() if secret else None)
        self.geo = GeoResolver(settings.mmdb_path)
        self.networks = NetworkResolver(settings.asn_mmdb_path)
        self._class_keys: dict[DeviceInfo, tuple[str, str]] = {}
        self._skew_ms = 0
        rules = settings.detection
        self._mismatch_rule = ("off" if not rules.enabled("device_mismatch")
                               else "bind" if rules.bind_to_device else "alert")
        self._place_check = rules.enabled("device_mismatch")
        # session id -> when a touch falls due (ms: the last activity this process has seen
        # plus the session's touch interval): a routing hint only (see validate_probe), never
        # a judge of validity; bounded, the longest remembered goes.
        self._activity: dict[str, int] = {}
        # revoke_everyone's not-before epoch as this process last read it (ms, 0 = none): a
        # session created at or before it is dead (see core/validate.py and core/controls.py)
        self._not_before = 0
        self._presenters: dict[object, Presenter] = {}

    @property
    def can_issue(self) -> bool:
        """Whether this core has the deployment's secret (may create and validate sessions and
        sign or redeem alert links), rather than being an operator core."""
        return self._fp_key is not None

    def _fingerprint_key(self, operation: str) -> bytes:
        if self._fp_key is None:
            raise SecretRequired(operation, SECRET_ENV)
        return self._fp_key

    def _alert_key(self, operation: str) -> bytes:
        if self._action_key is None:
            raise SecretRequired(operation, SECRET_ENV)
        return self._action_key

    # -- memos -----------------------------------------------------------------------------

    def _presenter(self, user_agent: object,
                   client_hints: HeadersLike | None = None) -> Presenter:
        """The parsed device, class key and v1 class key of a user agent (and client hints),
        memoised by the raw strings: a session's requests carry the same user agent, and
        cleaning, parsing and keying it cost validate more than the rest of its Python.
        Without hints the memo key is the user agent itself (no extra work on the hot path)."""
        hints = None if client_hints is None else self._hint_values(client_hints)
        key: object = (user_agent if hints is None else (user_agent, hints)) if (
            user_agent is None or (isinstance(user_agent, str)
            and len(user_agent) <= MAX_CACHED_UA)) else None
        found = self._presenters.get(key) if key is not None else None
        if found is None:
            ua = self._user_agent(user_agent)  # TypeError for a non-string
            parsed = hints_from_values(hints) if hints is not None else None
            info = parse_user_agent(ua, parsed) if ua or parsed else None
            found = ((info, *self._class_key(info)) if info is not None
                     else (None, None, None))
            if key is not None:  # bounded: 4096 entries of at most 1024 + 6 * 512 characters
                bounded_put(self._presenters, key, found, 4096)
        return found

    @staticmethod
    def _hint_values(client_hints: object) -> tuple[str | None, ...] | None:
        """The raw hint values of ``client_hints`` (a key for the memo), ``None`` if none;
        ``TypeError`` for something that is not a mapping of header names to values."""
        values = hint_values(client_hints)
        if values is None and not callable(getattr(client_hints, "get", None)):
            raise TypeError("client_hints: expected a mapping of header names to values, got "
                            f"{type(client_hints).__name__}")
        return values

    def _class_key(self, info: DeviceInfo) -> tuple[str, str]:
        """`device_class_key` and `legacy_device_class_key`, memoised: validate computes them
        on every request that passes a user agent, and a process sees few kinds of device."""
        keys = self._class_keys.get(info)
        if keys is None:
            if len(self._class_keys) >= 4096:
                self._class_keys.clear()
            secret = self._fingerprint_key("device class keys")
            keys = self._class_keys[info] = (device_class_key(secret, info),
                                             legacy_device_class_key(secret, info))
        return keys

    def _remember(self, session_id: str, active_ms: int | None,
                  touch_ms: int | None = None) -> None:
        """Remember when a touch of the session falls due: its last activity plus its touch
        interval (the session's own, ``touch_ms``, else this process's); ``None`` forgets."""
        if active_ms is None:
            self._activity.pop(session_id, None)
            return
        due = active_ms + (self.settings.touch_ms if touch_ms is None else touch_ms)
        bounded_put(self._activity, session_id, due, MAX_REMEMBERED)

    # -- clocks ----------------------------------------------------------------------------

    def _now_arg(self) -> str:
        """The caller's clock for scripts ('' = the Redis server's own clock)."""
        return "" if self._clock is None else str(int(self._clock() * 1000))

    def _now_ms(self) -> int:
        return int((self._clock or time.time)() * 1000)

    def _server_now_ms(self) -> int:
        """Our best estimate of the scripts' "now": the local clock corrected by the offset
        seen in the last script reply, so validate's fast path judges "touch due" on the same
        clock as the script that does the touch (a skewed app server would otherwise send every
        request down the slow path without the touch ever becoming due)."""
        return self._now_ms() + self._skew_ms

    def _observe(self, server_now: int) -> int:
        if self._clock is None:
            self._skew_ms = server_now - self._now_ms()
        return server_now

    # -- events ----------------------------------------------------------------------------

    def _xadd(self, type_: str, user_id: str, session_id: str | None, severity: str,
              at_ms: int, details: dict[str, Any]) -> Command:
        return Command((
            "XADD", self.keys.events, "MAXLEN", "~", self.settings.event_stream_maxlen, "*",
            *event_fields(type_, user_id, session_id, severity, at_ms, details),
        ))

    def _retention_commands(self, now_ms: int) -> list[Command]:
        retention = self.settings.event_retention
        if retention is None:
            return []
        oldest = max(now_ms - int(retention.total_seconds() * 1000), 0)
        return [Command(("XTRIM", self.keys.events, "MINID", "~", f"{oldest}-0"))]

    def _incident_events(self, findings: list[Finding], user_id: str, session_id: str | None,
                         at_ms: int) -> list[Command | Eval]:
        """The events of one request's findings, each joined to the user's incident by its
        script (`_finding_event`), and with a shared_account finding the account made a known
        shared one (``sk`` in the user record: known shared until, s). Same round trip as the
        events."""
        commands: list[Command | Eval] = []
        for finding in findings:
            commands += self._finding_event(finding, user_id, finding.suspect or session_id,
                                            at_ms)
        if any(f.type == "shared_account" for f in findings):
            until = at_ms // 1000 + int(self.settings.detection.shared_known_for.total_seconds())
            commands.append(Command(("HSET", self.keys.for_user(user_id).record, "sk",
                                     str(until))))
        return commands

    def _finding_event(self, finding: Finding, user_id: str, session_id: str | None,
                       at_ms: int) -> list[Command | Eval]:
        """The finding's event, in one script (`finding.lua`) that joins it to the user's
        incident (`incidents.py`: an ``incident`` id on it, and it goes to the uncapped alert
        stream when it opens or escalates the incident and a daemon consumes alerts, so no
        event flood can trim an alert before the daemon has delivered it); and when it is an
        alert (severity low or more) the entry in the user's own alert list and the alert in
        the per-minute totals: in the same script on a standalone server, right after it (same
        pipeline) on a Cluster. Never an extra round trip."""
        details, incident = incident_args(finding.details, finding.severity,
                                          self.settings.detection)
        fields = event_fields(finding.type, user_id, session_id, finding.severity, at_ms,
                              details)
        type_, user, sid, sev, at, d = fields[1::2]
        args = FindingArgs(stream_maxlen=self.settings.event_stream_maxlen, type=type_,
                           user=user, sid=sid, sev=sev, at=at, d=d,
                           user_alerts_kept=USER_ALERTS_KEPT,
                           user_alerts_ttl_ms=self.settings.history_ms, **incident._asdict())
        parts = split_session_id(session_id) if session_id else None
        uk = self.keys.for_tag(parts[0]) if parts else self.keys.for_user(user_id)
        keys = FindingKeys(self.keys.events, self.keys.alerts, self.keys.incident(uk.tag))
        if finding.severity not in ALERT_SEVERITIES:
            return [call("finding", keys, args)]
        if self._inline:
            return [call("finding", keys._replace(user_alerts=uk.alerts,
                                                  stats=self.keys.stats), args)]
        # the entry as the library built it: its id and incident are the script's (the event
        # stream's entry has them)
        entry = user_trail_entry("", type_, user, sid, sev, at, details_json(finding.details))
        return [
            call("finding", keys, args),
            Command(("LPUSH", uk.alerts, entry)),
            Command(("LTRIM", uk.alerts, 0, USER_ALERTS_KEPT - 1)),
            Command(("PEXPIRE", uk.alerts, self.settings.history_ms)),
            self._tally(at_ms, alerts=1),
        ]

    def _tally(self, at_ms: int, *, live: int = 0, logins: int = 0, alerts: int = 0) -> Eval:
        return call("tally", TallyKeys(self.keys.stats),
                    TallyArgs(now=str(at_ms), live=live, logins=logins, alerts=alerts))

    def _stats(self) -> str | None:
        """The stats hash as a script's last key, when scripts write their own events."""
        return self.keys.stats if self._inline else None

    def _stream(self) -> str | None:
        """The event stream as a script's key, when scripts append their own events."""
        return self.keys.events if self._inline else None

    def _per_user_replies(self, what: str, tags: Sequence[str], replies: Sequence[Any],
                          of: Callable[[Any], R], commands: list[Command | Eval],
                          ) -> Iterator[tuple[int, R]]:
        """The replies of a batch of per-user scripts (the sweep, the purge after sign out
        everyone), each decoded by ``of`` with its position in ``tags``; a user whose script
        failed is logged and skipped (the batch goes on: the next run retries it), and the
        events each script returned are queued on ``commands``."""
        for i, (tag, reply) in enumerate(zip(tags, replies, strict=True)):
            if isinstance(reply, Exception):
                log.warning("%s of user %r failed: %r", what, tag, str(reply))
                continue
            decoded = of(reply)
            commands.extend(self._returned_events(decoded.events))
            yield i, decoded

    def _returned_events(self, entries: Any) -> list[Command | Eval]:
        """Appends of the events a script returned (on a Cluster; none come back otherwise),
        and their change to the totals (what `emit` in _lib.lua does on a standalone server)."""
        commands: list[Command | Eval] = []
        live = logins = 0
        at_ms = 0
        for fields in entries or ():
            commands.append(Command(("XADD", self.keys.events, "MAXLEN", "~",
                                     self.settings.event_stream_maxlen, "*", *fields)))
            kind = fields[1] if isinstance(fields[1], bytes) else str(fields[1]).encode()
            delta = _LIVE_DELTA.get(kind, 0)
            live += delta
            logins += kind == b"login"
            at_ms = max(at_ms, int(fields[9]))
        if live or logins:
            commands.append(self._tally(at_ms, live=live, logins=logins))
        return commands

    # -- arguments -------------------------------------------------------------------------

    def _user_keys(self, user_id: str) -> UserKeys:
        return self.keys.for_user(require_user_id(user_id))

    @staticmethod
    def _actor(actor: object) -> str:
        if actor is not None and not isinstance(actor, str):
            raise TypeError(f"actor: expected str, got {type(actor).__name__}")
        return clean_text(actor, MAX_ACTOR_LENGTH) or "app"

    @staticmethod
    def _reason(reason: object) -> str | None:
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"reason: expected str, got {type(reason).__name__}")
        return clean_text(reason, MAX_REASON_LENGTH)

    def _user_agent(self, user_agent: object) -> str:
        if user_agent is not None and not isinstance(user_agent, str):
            raise TypeError(f"user_agent: expected str, got {type(user_agent).__name__}")
        return normalise_user_agent(user_agent, self.settings.max_user_agent_length)
