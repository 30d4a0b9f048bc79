"""Every operation of the library as a sans-I/O generator (see `protocol`).

Each operation: check and clean its input (a ``ValueError`` naming the argument before anything
is sent), run one atomic script on the user's slot, then, in at most one more round trip,
write the global keys (event stream, expiry index, user directory) with idempotent commands.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .codec import (
    CorruptRecord,
    decode_entries,
    details_json,
    devices_from_record,
    encode_description,
    event_fields,
    events_from_entries,
    pairs,
    session_from_raw,
    session_from_record,
    session_view,
    split_description,
    split_session_record,
    text,
)
from .detection import (
    Finding,
    LiveSession,
    LoginFacts,
    PreviousLogin,
    device_mismatch_finding,
    evaluate_login,
    revoked_token_finding,
)
from .devices import DeviceInfo, device_class_key, fingerprint, parse_user_agent
from .errors import InvalidAlertAction, SessionLimitExceeded, SessionWardenError
from .geo import GeoResolver
from .keys import KeySchema, UserKeys, split_session_id
from .models import (
    CreatedSession,
    Device,
    Event,
    EventPage,
    Session,
    SessionView,
    UserSummary,
    from_ms,
)
from .protocol import Batch, Command, Eval, Op, ScriptError
from .sanitize import (
    MAX_DEVICE_ID_LENGTH,
    clean_text,
    require_email,
    require_ip,
    require_user_id,
)
from .settings import Settings
from .tokens import ParsedToken, new_rand, new_token, parse_token

log = logging.getLogger("sessionwarden")

MAX_DEVICES_PER_USER = 50
MAX_REMEMBERED = 50_000  # sessions whose last activity one process keeps as a routing hint
MAX_CACHED_UA = 1024  # longer user agents (hostile ones) are cleaned and parsed every time
MAX_DECODED = 10_000  # session records validate's read path keeps decoded (~0.6 KB each)
MAX_LIST = 10_000
MAX_ACTOR_LENGTH = 64
MAX_REASON_LENGTH = 200
SYSTEM_ACTOR = "sessionwarden"
OWNER_ACTOR = "account-owner"


def bounded_put(memo: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """``memo[key] = value``, first dropping the longest-held entries while the memo is full.

    A manager is shared by threads, and another thread may take the same entry first (a
    ``KeyError``) or change the memo under the iterator: the loop then looks again, so racing
    evictions never leak (at most one entry over the bound per thread in the middle of a put).
    """
    if key not in memo:
        while len(memo) >= limit:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del memo[next(iter(memo))]
    memo[key] = value


def _bounded_limit(limit: object, name: str = "limit") -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST:
        raise ValueError(f"{name}: must be an integer from 1 to {MAX_LIST}, got {limit!r}")
    return limit


def _coordinate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _float_or_none(value: str) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


SLOW = object()  # validate_read's answer when the script must decide


class _Decoded(NamedTuple):
    """A session record as validate's read path last decoded it."""

    raw: bytes
    token_hash: bytes
    active_ms: int
    deadline_ms: int
    class_key: bytes
    reported: bytes
    session: Session


class ValidateProbe(NamedTuple):
    """What `Core.validate_probe` learnt: the token, the cleaned context, and the read to send
    first (``None``: go straight to the script)."""

    parsed: ParsedToken
    ip: str | None
    info: DeviceInfo | None
    class_key: str | None
    read: Command | None
    now_ms: int  # the probe's estimate of the server's clock


class Core:
    """Operations over one `Settings`; holds no connection and does no I/O."""

    def __init__(self, settings: Settings, clock: Callable[[], float] | None = None, *,
                 inline_events: bool = True) -> None:
        """``inline_events``: scripts append their events (and sign-in's global index entries)
        themselves, atomically with the change — right for a standalone server. On a Cluster
        those keys live in other slots, so the caller appends what the scripts return."""
        self.settings = settings
        self._inline = inline_events
        self._bind_details = details_json(
            {"actor": SYSTEM_ACTOR, "reason": "device_mismatch (bind_to_device)"})
        self.keys = KeySchema(settings.key_prefix)
        self._clock = clock
        secret = settings.secret
        assert isinstance(secret, bytes)
        self._fp_key = hmac.new(secret, b"sessionwarden/fingerprint", hashlib.sha256).digest()
        self._action_key = hmac.new(secret, b"sessionwarden/alert-action", hashlib.sha256).digest()
        self.geo = GeoResolver(settings.mmdb_path)
        self._class_keys: dict[DeviceInfo, str] = {}
        self._skew_ms = 0
        rules = settings.detection
        self._mismatch_rule = ("off" if not rules.enabled("device_mismatch")
                               else "bind" if rules.bind_to_device else "alert")
        # session id -> last activity (ms) this process has seen: a routing hint only (see
        # validate_probe), never a judge of validity; bounded, the longest remembered goes.
        self._activity: dict[str, int] = {}
        self._decoded: dict[str, _Decoded] = {}
        self._presenters: dict[str, tuple[DeviceInfo | None, str | None]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _presenter(self, user_agent: object) -> tuple[DeviceInfo | None, str | None]:
        """The parsed device and class key of a user agent, memoised by the raw string: a
        session's requests carry the same user agent, and cleaning, parsing and keying it
        cost validate more than the rest of its Python."""
        cacheable = isinstance(user_agent, str) and len(user_agent) <= MAX_CACHED_UA
        found = self._presenters.get(user_agent) if cacheable else None  # type: ignore[arg-type]
        if found is None:
            ua = self._user_agent(user_agent)  # TypeError for a non-string
            info = parse_user_agent(ua) if ua else None
            found = (info, self._class_key(info) if info is not None else None)
            if cacheable:  # bounded: 4096 strings of at most 1024 characters
                bounded_put(self._presenters, user_agent, found, 4096)  # type: ignore[arg-type]
        return found

    def _class_key(self, info: DeviceInfo) -> str:
        """`device_class_key`, memoised: validate computes it on every request that passes a
        user agent, and a process sees few distinct kinds of device."""
        key = self._class_keys.get(info)
        if key is None:
            if len(self._class_keys) >= 4096:
                self._class_keys.clear()
            key = self._class_keys[info] = device_class_key(self._fp_key, info)
        return key

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

    def _remember(self, session_id: str, active_ms: int | None) -> None:
        if active_ms is None:
            self._activity.pop(session_id, None)
            return
        bounded_put(self._activity, session_id, active_ms, MAX_REMEMBERED)

    def _observe(self, server_now: int) -> int:
        if self._clock is None:
            self._skew_ms = server_now - self._now_ms()
        return server_now

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

    def _finding_event(self, finding: Finding, user_id: str, session_id: str | None,
                       at_ms: int) -> Command:
        return self._xadd(finding.type, user_id, session_id, finding.severity, at_ms,
                          finding.details)

    def _stream(self) -> tuple[str, ...]:
        """The event stream as a script's last key, when scripts append their own events."""
        return (self.keys.events,) if self._inline else ()

    def _returned_events(self, entries: Any) -> list[Command]:
        """Appends of the events a script returned (on a Cluster; none come back otherwise)."""
        return [Command(("XADD", self.keys.events, "MAXLEN", "~",
                         self.settings.event_stream_maxlen, "*", *fields))
                for fields in entries or ()]

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
        return clean_text(user_agent, self.settings.max_user_agent_length) or ""

    # -- sessions --------------------------------------------------------------------------

    def create_session(
        self, user_id: str, *, user_agent: str | None, ip: str, country: str | None = None,
        city: str | None = None, device_id: str | None = None, email: str | None = None,
    ) -> Op[CreatedSession]:
        s = self.settings
        uk = self._user_keys(user_id)
        ip = require_ip(ip)
        ua = self._user_agent(user_agent)
        mail = require_email(email) if email is not None else ""
        if device_id is not None and not isinstance(device_id, str):
            raise TypeError(f"device_id: expected str, got {type(device_id).__name__}")
        device_id = clean_text(device_id, MAX_DEVICE_ID_LENGTH)
        place = self.geo.locate(ip, country_hint=country, city_hint=city)
        info = parse_user_agent(ua)
        fp = fingerprint(self._fp_key, info, device_id)
        rand = new_rand()
        session_id = uk.tag + rand
        token, token_hash = new_token(session_id)
        description = encode_description(info.label, info.browser, info.os, info.device_class)
        burst_ms = int(s.detection.burst_window.total_seconds() * 1000)
        login_details = {
            "ip": ip, "country": place.country, "network": place.network, "city": place.city,
            "device": info.label, "browser": info.browser, "os": info.os,
            "device_class": info.device_class, "fingerprint": fp,
        }
        evicted_details = {
            "actor": SYSTEM_ACTOR, "reason": f"session limit ({s.max_sessions}) reached: the "
            "least recently active session made way for a new sign-in",
            "new_session_id": session_id,
        }
        retention = s.event_retention
        globals_ = ((self.keys.events, self.keys.expiry_index, self.keys.directory,
                     self.keys.recent_users) if self._inline else ())
        try:
            reply = yield Eval("create", (uk.record, *globals_), (
                uk.base, rand, user_id, token_hash, self._now_arg(), s.idle_ms, s.absolute_ms,
                s.max_sessions, "deny" if s.on_limit == "deny" else "evict", s.tombstone_ms,
                s.history_ms, fp, self._class_key(info), description, ip,
                place.country or "", place.network, place.city or "",
                _coordinate(place.lat), _coordinate(place.lon), mail, burst_ms,
                MAX_DEVICES_PER_USER,
                s.detection.burst_logins if s.detection.enabled("login_burst") else 0,
                details_json(login_details), details_json(evicted_details),
                s.event_stream_maxlen,
                int(retention.total_seconds() * 1000) if retention is not None else "",
                s.recent_users_kept,
            ))
        except ScriptError as exc:
            raise SessionWardenError(f"cannot create a session for this user: {exc}") from None
        status, now = text(reply[0]), self._observe(int(reply[1]))
        if status == "denied":
            if returned := self._returned_events(reply[2]):
                yield Batch(tuple(returned))
            raise SessionLimitExceeded(user_id, s.max_sessions)

        expiry = int(reply[2])
        live_flat = [text(v) for v in reply[9]]
        facts = LoginFacts(
            session_id=session_id, at_ms=now, device=info, fingerprint=fp,
            known_device=bool(int(reply[3])), devices_before=int(reply[4]), place=place, ip=ip,
            country_known=bool(int(reply[5])), countries_before=int(reply[6]),
            previous=self._previous_login(text(reply[7])), logins_in_window=int(reply[8]),
            burst_started=bool(int(reply[10])),
            live=tuple(
                LiveSession(uk.tag + live_flat[i], live_flat[i + 1] or None, live_flat[i + 2],
                            int(float(live_flat[i + 3])))
                for i in range(0, len(live_flat) - 3, 4)
            ),
        )
        commands = self._returned_events(reply[11])
        if not self._inline:
            commands += [
                # LT: a user's entry only ever moves down here (a new session never expires
                # before the live ones); the sweep moves it up.
                Command(("ZADD", self.keys.expiry_index, "LT", expiry, uk.tag)),
                Command(("ZADD", self.keys.directory, 0, user_id)),
                Command(("ZADD", self.keys.recent_users, now, user_id)),
                Command(("ZREMRANGEBYRANK", self.keys.recent_users, 0,
                         -s.recent_users_kept - 1)),
                *self._retention_commands(now),
            ]
        commands.extend(self._finding_event(f, user_id, session_id, now)
                        for f in evaluate_login(facts, s.detection))
        if commands:
            yield Batch(tuple(commands))
        self._remember(session_id, now)
        session = Session(
            session_id=session_id, user_id=user_id, created_ms=now, last_active_ms=now,
            expires_ms=expiry, absolute_expires_ms=now + s.absolute_ms, ip=ip,
            country=place.country,
            network=place.network, city=place.city, fingerprint=fp,
        )
        return CreatedSession(session_id=session_id, token=token, session=session)

    @staticmethod
    def _previous_login(raw: str) -> PreviousLogin | None:
        parts = raw.split("|")
        if len(parts) != 5 or not parts[0].isdigit():
            return None
        return PreviousLogin(int(parts[0]), _float_or_none(parts[1]), _float_or_none(parts[2]),
                             parts[3] or None, parts[4])

    def validate_probe(self, token: object, *, ip: str | None = None,
                       user_agent: str | None = None) -> ValidateProbe | None:
        """Check validate's input and choose its route; ``None`` for a token that cannot be
        valid (any type or shape: no I/O). Raises ``ValueError`` for a malformed ``ip``.

        Validate is split in three steps (probe, `validate_read`, `validate_script`) rather
        than one generator because its fast path is the library's hottest code: the drivers
        run it without the generator machinery, which costs as much as the rest of it.
        """
        if ip is not None:
            ip = require_ip(ip)
        parsed = parse_token(token)
        info = class_key = None
        if user_agent is not None:
            info, class_key = self._presenter(user_agent)
        if parsed is None:
            return None
        # The read is sent only when this process saw the session's last activity less than a
        # touch interval ago (the record can only be more recent, so no touch is due); a
        # session it has not seen, or one due a touch, goes to the script: one round trip
        # either way.
        read = None
        now = self._server_now_ms()
        seen = self._activity.get(parsed.session_id)
        if seen is not None and now - seen < self.settings.touch_ms:
            read = Command(("GET", self.keys.session(parsed.tag, parsed.rand)))
        return ValidateProbe(parsed, ip, info, class_key, read, now)

    def validate_script(self, probe: ValidateProbe) -> Op[Session | None]:
        """Validate by the atomic script: touch, tombstone, expiry, mismatch, corruption."""
        s = self.settings
        parsed, ip, info, class_key = probe.parsed, probe.ip, probe.info, probe.class_key
        rules = s.detection
        uk = self.keys.for_tag(parsed.tag)
        try:
            reply = yield Eval(
                "validate", (uk.session(parsed.rand), uk.record, uk.tombstone(parsed.rand),
                             *self._stream()),
                (parsed.rand, parsed.secret_hash, self._now_arg(), s.idle_ms, s.touch_ms,
                 class_key or "", self._mismatch_rule, s.tombstone_ms, self._bind_details,
                 s.event_stream_maxlen),
            )
        except ScriptError as exc:
            log.warning("session %s skipped: %r", parsed.session_id, str(exc))
            return None
        status, now = text(reply[0]), self._observe(int(reply[1]))
        if status == "none":
            self._remember(parsed.session_id, None)
            return None
        if status == "expired":
            self._remember(parsed.session_id, None)
            if returned := self._returned_events(reply[2]):
                yield Batch(tuple(returned))
            return None
        if status == "revoked":
            self._remember(parsed.session_id, None)
            revoked_ms, _, reason = text(reply[2]).partition("|")
            finding = revoked_token_finding(
                rules, reason=reason, revoked_ms=int(revoked_ms), at_ms=now, ip=ip,
                device=info.label if info else None, same_device=bool(int(reply[4])),
            )
            if finding:
                yield self._finding_event(finding, text(reply[3]), parsed.session_id, now)
            return None
        # The script parsed this record (it refuses one it cannot), so it splits here too.
        fields = split_session_record(reply[2])[1]
        user_id = fields[10].decode("utf-8", "replace")
        session: Session | None = None
        try:
            session = session_from_record(parsed.session_id, fields, idle_ms=s.idle_ms)
        except CorruptRecord as exc:
            log.warning("session skipped: %r", str(exc))
        self._remember(parsed.session_id, int(fields[1]) if status != "mismatch_revoked"
                       and session is not None else None)
        if status in ("mismatch", "mismatch_revoked"):
            revoked = status == "mismatch_revoked"
            label = info.label if info else "Unknown/Unknown"
            commands = self._returned_events(reply[3])  # the revocation, under 'bind'
            commands.append(self._finding_event(
                device_mismatch_finding(rules, device=label, ip=ip, revoked=revoked),
                user_id, parsed.session_id, now))
            yield Batch(tuple(commands))
            if revoked:
                return None
        return session

    def validate_read(self, probe: ValidateProbe, raw: Any) -> Session | object | None:
        """The session from the reply to ``probe.read``; ``None`` for a wrong secret; `SLOW`
        when the script must decide (missing, due a touch, dead or dying by its fields,
        corrupt, or presented by a new kind of device)."""
        parsed, class_key = probe.parsed, probe.class_key
        if raw is None:
            return SLOW  # revoked (tombstone), expired, or never existed
        # A record is decoded once per change: the same bytes decode to the same session, and
        # a busy session's record changes only at a touch. The check of the token against the
        # stored hash, and of time, runs on every call.
        decoded = self._decoded.get(parsed.session_id)
        if decoded is None or decoded.raw != raw:
            try:
                stored_hash, fields = split_session_record(raw)
                decoded = _Decoded(raw, stored_hash, int(fields[1]), int(fields[2]), fields[8],
                                   fields[9], session_from_record(
                                       parsed.session_id, fields, idle_ms=self.settings.idle_ms))
            except (CorruptRecord, ValueError):
                return SLOW  # the script reports it
            bounded_put(self._decoded, parsed.session_id, decoded, MAX_DECODED)
        if not hmac.compare_digest(decoded.token_hash, parsed.secret_hash):
            return None
        now = probe.now_ms
        if now - decoded.active_ms >= self.settings.touch_ms or now >= decoded.deadline_ms:
            return SLOW
        if class_key and self._mismatch_rule != "off" and decoded.class_key:
            presented = class_key.encode()
            if presented != decoded.class_key and presented not in decoded.reported:
                return SLOW
        return decoded.session

    def revoke_session(
        self, user_id: str, session_id: str, *, actor: str | None = None,
        reason: str | None = None,
    ) -> Op[bool]:
        uk = self._user_keys(user_id)
        parts = split_session_id(session_id)
        if parts is None:
            raise ValueError("session_id: not a session id of this library")
        actor_, reason_ = self._actor(actor), self._reason(reason)
        if parts[0] != uk.tag:
            return False  # a well-formed id of another user's session: nothing of this user's
        rand = parts[1]
        reply = yield Eval(
            "revoke", (uk.session(rand), uk.record, uk.tombstone(rand), *self._stream()),
            (rand, self._now_arg(), self.settings.tombstone_ms, reason_ or "revoked",
             self.settings.idle_ms, user_id, actor_, reason_ or "",
             self.settings.event_stream_maxlen))
        if returned := self._returned_events(reply[1]):
            yield Batch(tuple(returned))
        return int(reply[0]) == 1

    def revoke_all_sessions(
        self, user_id: str, *, except_token: str | None = None, actor: str | None = None,
        reason: str | None = None,
    ) -> Op[int]:
        """Revoke every session; ``except_token`` keeps its session only if the token is valid
        for this user (an invalid or foreign token keeps nothing)."""
        uk = self._user_keys(user_id)
        actor_, reason_ = self._actor(actor), self._reason(reason)
        keep = parse_token(except_token) if except_token is not None else None
        keep_rand, keep_hash = ("", b"")
        if keep is not None and keep.tag == uk.tag:
            keep_rand, keep_hash = keep.rand, keep.secret_hash
        reply = yield Eval("revoke_all", (uk.record, *self._stream()), (
            uk.base, self._now_arg(), self.settings.idle_ms, self.settings.tombstone_ms,
            reason_ or "revoked", keep_rand, keep_hash, user_id, actor_, reason_ or "",
            self.settings.event_stream_maxlen,
        ))
        if returned := self._returned_events(reply[1]):
            yield Batch(tuple(returned))
        return int(reply[0])

    def get_active_sessions(
        self, user_id: str, *, current_token: str | None = None
    ) -> Op[list[SessionView]]:
        uk = self._user_keys(user_id)
        current = parse_token(current_token) if current_token is not None else None
        reply = yield Eval("list", (uk.record, *self._stream()),
                           (uk.base, self._now_arg(), self.settings.idle_ms, user_id,
                            self.settings.event_stream_maxlen))
        now = int(reply[0])
        devices: dict[str, dict[str, Any]] = {}
        flat_devices = reply[2]
        for i in range(0, len(flat_devices) - 1, 2):
            fp = text(flat_devices[i])
            try:
                devices[fp] = split_description(flat_devices[i + 1])
            except CorruptRecord as exc:
                log.warning("user %s: skipped corrupt device %r: %r", uk.tag, fp, str(exc))
        views: list[SessionView] = []
        flat_sessions = reply[1]
        for i in range(0, len(flat_sessions) - 1, 2):
            session_id = uk.tag + text(flat_sessions[i])
            try:
                session = session_from_raw(session_id, flat_sessions[i + 1],
                                           idle_ms=self.settings.idle_ms)
            except CorruptRecord as exc:
                log.warning("skipped corrupt session: %r", str(exc))
                continue
            views.append(session_view(
                session, devices.get(session.fingerprint),
                current=current is not None and current.session_id == session_id,
                now=from_ms(now),
            ))
        if returned := self._returned_events(reply[3]):
            yield Batch(tuple(returned))
        return views

    # -- users, devices, events ------------------------------------------------------------

    def users(self, prefix: str = "", *, limit: int = 50) -> Op[list[str]]:
        """User ids in lexical order, starting with ``prefix`` ("" = all)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix: expected str, got {type(prefix).__name__}")
        limit = _bounded_limit(limit)
        if len(prefix.encode("utf-8", "surrogatepass")) > 256:
            raise ValueError("prefix: longer than a user id can be (256 bytes)")
        low = "[" + prefix if prefix else "-"
        high = "[" + prefix + "\U0010ffff" if prefix else "+"
        reply = yield Command(("ZRANGEBYLEX", self.keys.directory, low, high, "LIMIT", 0, limit))
        return [text(m) for m in reply]

    def recent_users(self, *, limit: int = 50) -> Op[list[UserSummary]]:
        """Users by most recent sign-in, newest first."""
        limit = _bounded_limit(limit)
        reply = yield Command(("ZREVRANGE", self.keys.recent_users, 0, limit - 1, "WITHSCORES"))
        return [UserSummary(text(m), from_ms(int(float(score))))
                for m, score in _score_pairs(reply)]

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

    def recent_events(self, limit: int = 100) -> Op[list[Event]]:
        """The newest events first."""
        limit = _bounded_limit(limit)
        reply = yield Command(("XREVRANGE", self.keys.events, "+", "-", "COUNT", limit))
        return events_from_entries(reply)

    def events_after(self, after: str = "0-0", *, limit: int = 100,
                     block_ms: int | None = None) -> Op[EventPage]:
        """Events newer than stream id ``after``, oldest first, with the cursor to pass next;
        ``block_ms`` waits for some (keep it below the socket timeout)."""
        limit = _bounded_limit(limit)
        if not isinstance(after, str) or not (after == "$" or _is_stream_id(after)):
            raise ValueError(f"after: not a stream id: {clean_text(str(after), 40)!r}")
        args: tuple[Any, ...] = ("XREAD", "COUNT", limit)
        if block_ms is not None:
            if not isinstance(block_ms, int) or not 0 < block_ms <= 60_000:
                raise ValueError("block_ms: must be from 1 to 60000")
            args += ("BLOCK", block_ms)
        reply = yield Command((*args, "STREAMS", self.keys.events, after))
        streams = (reply.items() if isinstance(reply, dict) else reply) or []
        for _name, entries in streams:
            events, last = decode_entries(entries[0] if _nested(entries) else entries)
            return EventPage(events, last or after)
        return EventPage([], after)

    # -- expiry sweep (run by the daemon) --------------------------------------------------

    def sweep_expired(self, *, limit: int = 500) -> Op[int]:
        """Sweep up to ``limit`` users whose expiry lower bound has passed: report their dead
        sessions as ``session_expired`` (exactly once: pruning paths and the sweep both remove
        the index member before reporting) and move each user to the earliest expiry of the
        sessions still live, or drop users with none. Returns the number of expired sessions."""
        limit = _bounded_limit(limit)
        now = self._now_ms()
        if self._clock is None:
            seconds, micros = (yield Command(("TIME",)))
            now = int(seconds) * 1000 + int(micros) // 1000
        due = yield Command(("ZRANGEBYSCORE", self.keys.expiry_index, "-inf", now,
                             "WITHSCORES", "LIMIT", 0, limit))
        users = [(text(member), score) for member, score in _score_pairs(due)]
        replies = (yield Batch(tuple(
            Eval("sweep", (uk.record, *self._stream()),
                 (uk.base, self._now_arg(), self.settings.idle_ms,
                  self.settings.event_stream_maxlen))
            for uk in (self.keys.for_tag(tag) for tag, _ in users)
        ))) if users else []
        commands: list[Command | Eval] = []
        expired = 0
        for (tag, score), reply in zip(users, replies, strict=True):
            if isinstance(reply, Exception):
                log.warning("sweep of user %r failed: %r", tag, str(reply))
                continue
            expired += int(reply[0])
            next_expiry = int(reply[1])
            commands.extend(self._returned_events(reply[2]))
            if next_expiry >= 0:
                commands.append(Command(("ZADD", self.keys.expiry_index, next_expiry, tag)))
            else:
                commands.append(Eval("unindex", (self.keys.expiry_index,), (tag, score)))
        if commands:
            yield Batch((*commands, *self._retention_commands(now)))
        return expired

    # -- "this wasn't me" links ------------------------------------------------------------

    def create_alert_action(self, event_id: str, *, scope: str = "session") -> Op[str]:
        """A signed, single-use, expiring token for a "not you? revoke" link about one event.

        ``scope="session"`` revokes the flagged session, ``"all"`` every session of the user.
        """
        if scope not in ("session", "all"):
            raise ValueError("scope: must be 'session' or 'all'")
        if not isinstance(event_id, str) or not _is_stream_id(event_id):
            raise ValueError("event_id: not a stream id")
        reply = yield Command(("XRANGE", self.keys.events, event_id, event_id))
        events = events_from_entries(reply)
        if not events:
            raise ValueError(f"event_id: no such event {event_id}")
        event = events[0]
        expires = self._now_ms() + int(self.settings.alert_action_ttl.total_seconds() * 1000)
        payload = json.dumps(
            [event.id, event.user_id, event.session_id or "", scope, expires,
             secrets.token_urlsafe(12)], separators=(",", ":"), ensure_ascii=False,
        ).encode("utf-8")
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._action_key, body.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def revoke_from_alert(self, action_token: object) -> Op[int]:
        """Use a "this wasn't me" token: revokes what it names (actor ``account-owner``),
        records an ``alert_action_used`` audit event, and returns how many sessions ended.
        Raises `InvalidAlertAction` for a malformed, forged, expired or already used token."""
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
        yield self._xadd("alert_action_used", user_id, session_id or None, "info", now,
                         {"actor": OWNER_ACTOR, "event_id": event_id, "scope": scope,
                          "revoked": count})
        return count


def _score_pairs(reply: Any) -> list[tuple[Any, str]]:
    """``(member, score)`` pairs of a WITHSCORES reply, flat or already paired by redis-py."""
    if reply and isinstance(reply[0], list | tuple):
        return [(m, str(score)) for m, score in reply]
    return [(reply[i], text(reply[i + 1])) for i in range(0, len(reply) - 1, 2)]


def _is_stream_id(value: str) -> bool:
    ms, dash, seq = value.partition("-")
    return len(value) <= 41 and ms.isdigit() and (not dash or seq.isdigit())


def _nested(entries: Any) -> bool:
    """redis-py RESP2 XREAD replies nest entries one level deeper than RESP3 ones."""
    return bool(entries) and isinstance(entries[0], list) and bool(entries[0]) and isinstance(
        entries[0][0], list | tuple)

