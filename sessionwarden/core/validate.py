"""Validate, the library's hottest path: a probe with no I/O, then either one GET judged in
Python (`validate_read`) or the atomic script (`validate_script`) — one round trip either way.

Validate is split in three steps rather than one generator because the drivers run its fast
path without the generator machinery, which costs as much as the rest of it.
"""

from __future__ import annotations

import hmac
from typing import Any, NamedTuple

from ..client_hints import HeadersLike
from ..codec import CorruptRecord, record_touch_ms, session_from_record, split_session_record
from ..detection import (
    Familiarity,
    account_learning,
    country_history,
    device_mismatch_finding,
    place_finding,
    revoked_token_finding,
    session_probe_finding,
)
from ..devices import DeviceInfo
from ..errors import StoreRefused
from ..models import Session
from ..protocol import Batch, Command, Eval, Op, ScriptError
from ..sanitize import require_ip
from ..scripts.calls import ValidateArgs, ValidateKeys, ValidateReply, call
from ..settings import DetectionSettings
from ..tokens import ParsedToken, parse_token
from .base import CoreBase, log
from .memo import bounded_put

MAX_DECODED = 10_000  # session records validate's read path keeps decoded (~0.6 KB each)
#: How long a process trusts the not-before epoch (revoke_everyone) it last read, in seconds.
#: The validate that finds it older sends the epoch's GET in its own pipeline (no extra round
#: trip) and judges by the fresh value, so every process refuses within this interval.
NOT_BEFORE_REFRESH = 0.5
_REFRESH_MS = int(NOT_BEFORE_REFRESH * 1000)

SLOW = object()  # validate_read's answer when the script must decide


def _history(facts: dict[str, str], now_ms: int,
             rules: DetectionSettings) -> tuple[int, bool, bool]:
    """What the facts a validate script returned (the user record's ``fs`` and ``c:<place>``)
    say of the presented place: (sign-ins there, the account still learning, the place
    learnt while it was)."""
    first = facts.get("fs", "")
    logins, learned = country_history(facts.get("c", ""), first, rules)
    return logins, account_learning(first, now_ms, rules), learned


class _Decoded(NamedTuple):
    """A session record as validate's read path last decoded it."""

    raw: bytes
    token_hash: bytes
    active_ms: int
    expiry_ms: int  # min(activity + the record's idle window, its deadline)
    class_key: bytes
    reported: bytes
    touch_ms: int  # the session's touch interval (its own, else this process's)
    session: Session


class ValidateProbe(NamedTuple):
    """What `ValidateOps.validate_probe` learnt: the token, the cleaned context, and the read to
    send first (``None``: go straight to the script)."""

    parsed: ParsedToken
    ip: str | None
    info: DeviceInfo | None
    class_key: str | None
    read: Command | Batch | None  # a Batch: the not-before epoch's GET, then the read
    now_ms: int  # the probe's estimate of the server's clock
    legacy_class_key: str | None = None  # the presenter's class key as version 1 made it
    country: str | None = None  # the caller's country hint (a CDN header)
    no_ua: bool = False  # an empty User-Agent was given (None = not given: no check)
    activity: bool = True  # the validate counts as user activity (touch=True): a touch may be due


class ValidateOps(CoreBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: dict[str, _Decoded] = {}
        # when the epoch (`_not_before`) was last read (the probe's clock, ms; -inf: never,
        # so a new process reads it before trusting it)
        self._not_before_at = float("-inf")
        self._not_before_read = Command(("GET", self.keys.not_before))
        rules = self.settings.detection
        self._probe_threshold = (rules.probe_wrong_secrets if rules.enabled("session_probe")
                                 else 0)
        self._probe_window_ms = int(rules.probe_window.total_seconds() * 1000)
        self._places: dict[tuple[str, str | None], tuple[str | None, bool]] = {}

    def _not_before_stale(self, now_ms: float | None = None) -> bool:
        """The epoch read is older than the refresh interval (or the clock went back)."""
        now = self._server_now_ms() if now_ms is None else now_ms
        return not 0 <= now - self._not_before_at < _REFRESH_MS

    def _learn_not_before(self, raw: Any) -> bool:
        """Take the epoch read in validate's pipeline; ``True`` when it moved. A value that is
        not a number (a foreign write) fails closed: `StoreRefused`, and it is read again by
        the next validate."""
        try:
            value = 0 if raw is None else int(raw)
        except (TypeError, ValueError):
            raise StoreRefused(f"{self.keys.not_before} holds {raw!r}, not an epoch in ms",
                               "SWEPOCH") from None
        self._not_before_at = self._server_now_ms()
        return self._move_not_before(value)

    def _move_not_before(self, epoch: int) -> bool:
        """Adopt ``epoch``; when it moves, forget every session this process remembers, so
        the read path (which does not look at the epoch) never serves one the new epoch ended:
        each goes to the script once, which judges it by the epoch."""
        if epoch == self._not_before:
            return False
        self._not_before = epoch
        self._activity.clear()
        self._decoded.clear()
        return True

    def _presented_place(self, ip: str, hint: str | None) -> tuple[str | None, bool]:
        """(country, hosting network) of a presenting address for the place check; no
        country on a declared known network (location-neutral). Memoised, bounded."""
        found = self._places.get((ip, hint))
        if found is None:
            place = self.geo.locate(ip, country_hint=hint)
            net = self.networks.describe(ip, place.network, self.settings.detection)
            found = (None if net.neutral else place.country, net.hosting)
            bounded_put(self._places, (ip, hint), found, 4096)
        return found

    def validate_probe(self, token: object, *, ip: str | None = None,
                       user_agent: str | None = None,
                       client_hints: HeadersLike | None = None, country: str | None = None,
                       city: str | None = None, touch: bool = True) -> ValidateProbe | None:
        """Check validate's input and choose its route; ``None`` for a token that cannot be
        valid (any type or shape), decided before anything else is looked at — no user-agent
        parsing, no HMAC, no I/O — so unauthenticated junk costs next to nothing. Raises
        ``ValueError`` for a malformed ``ip`` of a well-formed token, `SecretRequired` on an
        operator core. ``touch=False``: the call is not user activity (polling, a health
        check), so no touch is ever due: no activity of the session is written."""
        if self._fp_key is None:
            self._fingerprint_key("validate_session")  # raises SecretRequired
        parsed = parse_token(token)
        if parsed is None:
            return None
        if ip is not None:
            ip = require_ip(ip)
        info = class_key = legacy = None
        if user_agent is not None or client_hints is not None:
            info, class_key, legacy = self._presenter(user_agent, client_hints)
        # city: accepted like create's, for the same callers; the place check is by country
        del city
        # The read is sent only when this process saw the session's last activity less than
        # its touch interval ago (the record can only be more recent, so no touch is due) or,
        # with touch=False, saw the session at all (no touch is ever due); a session it has
        # not seen, or one due a touch, goes to the script: one round trip either way.
        # A place check due by the record this process last decoded goes straight to the
        # script too: the read would only send it there. A secret that is not the one this
        # process last saw for the session goes to the script too, which counts it (probing of
        # a known session id) and answers it exactly as an unknown id: same route, same reply
        # (or, for a token rotated out of the session, reports it as revoked_token_used).
        if touch is not True and touch is not False:
            raise TypeError(f"touch: expected a bool, got {type(touch).__name__}")
        read: Command | Batch | None = None
        now = self._server_now_ms()
        # an empty User-Agent (client hints alone do not name the browser); None: not given
        no_ua = self._place_check and user_agent is not None and (
            info is None or (client_hints is not None and not str(user_agent).strip()))
        due = self._activity.get(parsed.session_id)
        if due is not None and (now < due or not touch):
            known = self._decoded.get(parsed.session_id)
            if known is None or (hmac.compare_digest(known.token_hash, parsed.secret_hash) and (
                    (ip == known.session.ip and not no_ua)
                    or not self._place_due(known, ip, country, no_ua))):
                read = Command(("GET", self.keys.session(parsed.tag, parsed.rand)))
                if not 0 <= now - self._not_before_at < _REFRESH_MS:  # _not_before_stale
                    read = Batch((self._not_before_read, read))
        return ValidateProbe(parsed, ip, info, class_key, read, now, legacy, country, no_ua,
                             touch)

    def _place_due(self, decoded: _Decoded, ip: str | None, hint: str | None,
                   no_ua: bool) -> bool:
        """Whether the place check has something to mark on this session: an address that
        is not the session's own (no lookup otherwise) in another country not yet reported
        for it (any located one for a session with no country; not through a hosting or VPN
        network: its exit is no place of the user's), or an empty user agent not yet
        reported."""
        session = decoded.session
        if ip is not None and ip != session.ip and self._place_check:
            place, hosting = self._presented_place(ip, hint)
            if (place and not hosting and place != session.country
                    and b"@" + place.encode() not in decoded.reported):
                return True
        return no_ua and bool(decoded.class_key) and b"@-" not in decoded.reported

    def _with_epoch(self, request: Eval) -> Op[tuple[Any, Any]]:
        """Send ``request`` with revoke_everyone's epoch read in the same pipeline when this
        process's copy is due a refresh (no extra round trip): ``(the epoch as read, or SLOW
        when it was not read, the request's reply)``. A script error is raised as
        `ScriptError`, the epoch learnt first."""
        if not self._not_before_stale():
            return SLOW, (yield request)
        epoch, raw = yield Batch((self._not_before_read, request))
        if isinstance(raw, Exception):  # a script error stays in place in a pipeline
            self._learn_not_before(epoch)
            raise ScriptError(str(raw))
        return epoch, raw

    def validate_script(self, probe: ValidateProbe) -> Op[Session | None]:
        """Validate by the atomic script: touch, tombstone, expiry, mismatch, corruption."""
        s = self.settings
        parsed, ip, info, class_key = probe.parsed, probe.ip, probe.info, probe.class_key
        rules = s.detection
        uk = self.keys.for_tag(parsed.tag)
        place, hosting = (self._presented_place(ip, probe.country)
                          if ip is not None and self._place_check else (None, False))
        request = call(
            "validate", ValidateKeys(uk.session(parsed.rand), uk.record,
                                     uk.tombstone(parsed.rand), uk.probe(parsed.rand),
                                     self._stream(), self._stats()),
            ValidateArgs(rand=parsed.rand, token_hash=parsed.secret_hash,
                         now=self._now_arg(), touch_ms=s.touch_ms,
                         class_key=class_key or "",
                         legacy_class_key=probe.legacy_class_key or "",
                         mismatch_rule=self._mismatch_rule,
                         tombstone_ms=s.tombstone_ms, bind_details=self._bind_details,
                         stream_maxlen=s.event_stream_maxlen, not_before=self._not_before,
                         probe_threshold=self._probe_threshold,
                         probe_window_ms=self._probe_window_ms,
                         # a VPN exit is no place of the session's: never marked as its
                         # last place (a later move is judged from where it really was)
                         place="" if hosting else place or "",
                         no_ua=int(probe.no_ua), activity="1" if probe.activity else "0"))
        try:
            epoch, raw = yield from self._with_epoch(request)
        except ScriptError as exc:
            log.warning("session %s skipped: %r", parsed.session_id, str(exc))
            return None
        reply = ValidateReply.of(raw)
        status, now = reply.status, self._observe(reply.now)
        if epoch is not SLOW:  # learnt on the server's clock the reply just gave
            self._learn_not_before(epoch)
        if status == "none":
            self._remember(parsed.session_id, None)
            if reply.probed and (finding := session_probe_finding(
                    rules, ip=ip, device=info.label if info else None)):
                yield Batch(tuple(self._finding_event(finding, reply.user_id,
                                                      parsed.session_id, now)))
            return None
        if status in ("expired", "ended"):
            self._remember(parsed.session_id, None)
            if returned := self._returned_events(reply.events):
                yield Batch(tuple(returned))
            return None
        if status == "revoked":
            self._remember(parsed.session_id, None)
            revoked_ms, _, reason = reply.tombstone.partition("|")
            if not revoked_ms.isdigit():  # a tombstone this version did not write
                log.warning("session %s: skipped corrupt tombstone", parsed.session_id)
                return None
            facts = reply.facts
            familiar = Familiarity.of_place(place, *_history(facts, now, rules))
            finding = revoked_token_finding(
                rules, reason=reason, revoked_ms=int(revoked_ms), at_ms=now, ip=ip,
                device=info.label if info else None, same_device=reply.same_device,
                no_user_agent=probe.no_ua, place=None if hosting else place,
                session_country=facts.get("sc") or None,
                place_familiar=familiar.country(place, rules),
            )
            if finding:
                yield Batch(tuple(self._incident_events(
                    [finding], reply.user_id, parsed.session_id, now)))
            return None
        # The script parsed this record (it refuses one it cannot), so it splits here too.
        fields = split_session_record(reply.record)[1]
        user_id = fields[11].decode("utf-8", "replace")
        session: Session | None = None
        try:
            session = session_from_record(parsed.session_id, fields)
        except CorruptRecord as exc:
            log.warning("session skipped: %r", str(exc))
        epoch_now = self._not_before
        if session is not None and session.created_ms <= epoch_now:
            # the epoch read in this very pipeline is newer than the one the script was given:
            # judged by it (the next validate, or the purge, ends the session)
            self._remember(parsed.session_id, None)
            return None
        if status == "mismatch_revoked" or session is None:
            self._remember(parsed.session_id, None)
        else:  # the session's touch interval parses: session_from_record checked it
            self._remember(parsed.session_id, session.last_active_ms,
                           record_touch_ms(fields, s.touch_ms))
        if self._not_before != epoch_now:  # another thread moved it meanwhile: not for the read
            self._remember(parsed.session_id, None)
        if status in ("mismatch", "mismatch_revoked"):
            revoked = status == "mismatch_revoked"
            label = info.label if info else "Unknown/Unknown"
            commands: list[Command | Eval] = [
                *self._returned_events(reply.events)]  # the revocation, under 'bind'
            finding = device_mismatch_finding(rules, device=label, ip=ip, revoked=revoked)
            if revoked:
                commands.extend(self._finding_event(finding, user_id, parsed.session_id, now))
            else:
                commands += self._incident_events([finding], user_id, parsed.session_id, now)
            yield Batch(tuple(commands))
            if revoked:
                return None
        elif status == "moved" and session is not None:
            self._decoded.pop(parsed.session_id, None)  # the read decodes the new marks
            facts = reply.facts
            logins, learning, learned = _history(facts, now, rules)
            moved = place_finding(
                rules, session_country=session.country, place=place,
                place_logins=logins, learning=learning, learned=learned,
                last_active_ms=int(facts.get("a") or now), at_ms=now, ip=ip,
                no_user_agent=probe.no_ua, hosting=hosting,
                device=info.label if info else None, last_place=facts.get("lp") or None)
            if moved is not None:
                yield Batch(tuple(self._incident_events([moved], user_id, parsed.session_id,
                                                        now)))
        return session

    def validate_read(self, probe: ValidateProbe, raw: Any) -> Session | object | None:
        """The session from the reply to ``probe.read``, or `SLOW` when the script must decide
        (missing, a wrong secret — counted as probing by the script, or a token rotated out of
        this session, which it reports —, due a touch, dead or dying by its own fields, a new
        not-before epoch read with it, corrupt, or presented by a new kind of device). The read
        path never serves a session created before the epoch: a moved epoch empties the memos
        that route to it (`_move_not_before`)."""
        parsed, class_key = probe.parsed, probe.class_key
        if probe.read.__class__ is Batch:  # the not-before epoch was read with the record
            if raw is None:
                return SLOW  # the pipeline met a foreign key: the script judges
            if self._learn_not_before(raw[0]):
                return SLOW  # a new epoch: the script judges this session by it
            raw = raw[1]
        if raw is None:
            return SLOW  # revoked (tombstone), expired, or never existed
        # A record is decoded once per change: the same bytes decode to the same session, and
        # a busy session's record changes only at a touch. The check of the token against the
        # stored hash, and of time, runs on every call.
        decoded = self._decoded.get(parsed.session_id)
        if decoded is None or decoded.raw != raw:
            try:
                stored_hash, fields = split_session_record(raw)
                session = session_from_record(parsed.session_id, fields)
                decoded = _Decoded(raw, stored_hash, session.last_active_ms,
                                   session.expires_ms, fields[9], fields[10],
                                   record_touch_ms(fields, self.settings.touch_ms), session)
            except (CorruptRecord, ValueError):
                return SLOW  # the script reports it
            bounded_put(self._decoded, parsed.session_id, decoded, MAX_DECODED)
        if not hmac.compare_digest(decoded.token_hash, parsed.secret_hash):
            return SLOW  # a wrong secret: the script reports a rotated-out token, counts others
        now = probe.now_ms
        if now >= decoded.expiry_ms or (probe.activity
                                         and now - decoded.active_ms >= decoded.touch_ms):
            return SLOW
        if class_key and self._mismatch_rule != "off" and decoded.class_key:
            presented = class_key.encode()
            # Under 'bind' the script revokes on any other kind of device, reported before or
            # not (a kind reported while the rule was 'alert' must not slip through the read).
            # A session created before the v2 class key holds the v1 key of the same device.
            if presented != decoded.class_key and (self._mismatch_rule == "bind"
                                                   or presented not in decoded.reported) and (
                    (probe.legacy_class_key or "").encode() != decoded.class_key):
                return SLOW
        session = decoded.session
        if ((probe.ip is not None and probe.ip != session.ip) or probe.no_ua) and (
                self._place_due(decoded, probe.ip, probe.country, probe.no_ua)):
            return SLOW  # the script marks it (a record this process had not decoded yet)
        return session
