"""Issuing, listing and ending sessions: create (with the detection rules), revoke, revoke-all,
list. Each is one script on the user's slot; on a Cluster its events follow in one pipeline."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..client_hints import HeadersLike, hints_from_values
from ..codec import (
    CorruptRecord,
    assurance_digit,
    check_record_fields,
    details_json,
    encode_description,
    session_from_raw,
    session_view,
    split_description,
    text,
)
from ..detection import (
    Familiarity,
    LiveSession,
    LoginFacts,
    PreviousLogin,
    account_learning,
    country_history,
    evaluate_login,
)
from ..devices import fingerprint, legacy_fingerprint, parse_user_agent
from ..errors import AccountLocked, SessionLimitExceeded, SessionWardenError
from ..keys import split_session_id
from ..models import CreatedSession, Session, SessionView, from_ms
from ..policy import ASSURANCE, SessionPolicy, assurance_rank
from ..protocol import Batch, Command, Eval, Op, ScriptError
from ..sanitize import MAX_DEVICE_ID_LENGTH, clean_text, require_email, require_ip
from ..scripts.calls import (
    CountReply,
    CreateArgs,
    CreateKeys,
    CreateReply,
    ListArgs,
    ListKeys,
    ListReply,
    RevokeAllArgs,
    RevokeAllKeys,
    RevokeArgs,
    RevokeKeys,
    call,
)
from ..settings import SEVERITIES, DetectionSettings
from ..tokens import new_rand, new_token, parse_token
from .audit import AuditOps
from .base import SYSTEM_ACTOR, log

MAX_DEVICES_PER_USER = 50
MAX_NETWORKS_PER_USER = 12  # familiar networks kept in the user record ('w:<net>')


def _coordinate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _float_or_none(value: str) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _previous_login(raw: str) -> PreviousLogin | None:
    parts = raw.split("|")
    if len(parts) != 5 or not parts[0].isdigit():
        return None
    return PreviousLogin(int(parts[0]), _float_or_none(parts[1]), _float_or_none(parts[2]),
                         parts[3] or None, parts[4])


def _unlearn(record: str, profile: dict[str, str], country: str, net_key: str,
             now_ms: int) -> list[Command | Eval]:
    """A sign-in that raised an alert (medium or above) does not make its place familiar:
    the country's and the network's counts go back to what they were before it (a new
    country stays known, with no familiar sign-in; a new network goes), so an attacker cannot
    learn a place in. Same round trip as the events."""
    back: list[str] = []
    if country:
        back += [f"c:{country}", profile.get(f"c:{country}", f"{now_ms}|0")]
    if net_key and f"w:{net_key}" in profile:
        back += [f"w:{net_key}", profile[f"w:{net_key}"]]
    out: list[Command | Eval] = [Command(("HSET", record, *back))] if back else []
    if net_key and f"w:{net_key}" not in profile:
        out.append(Command(("HDEL", record, f"w:{net_key}")))
    return out


def familiarity(profile: dict[str, str], net_key: str, now_ms: int,
                rules: DetectionSettings) -> Familiarity:
    """The account's familiar places from the user record's fields as create read them
    ('c:<country>' = "<first ms>|<count>", 'w:<net>' = "<count>|<last s>", 'fs', 'sk')."""
    countries: dict[str, int] = {}
    learned: set[str] = set()
    first = profile.get("fs", "")
    for key, value in profile.items():
        if key.startswith("c:") and len(key) == 4:
            countries[key[2:]], was_learned = country_history(value, first, rules)
            if was_learned:
                learned.add(key[2:])
    network = profile.get("w:" + net_key) if net_key else None
    count, _, _ = (network or "").partition("|")
    shared = profile.get("sk", "")
    device = profile.get("d", "").split("|")  # "<first s>|<last s>|<country>|<ip>"
    last_seen = ((int(device[1]) * 1000, device[2] or None)
                 if len(device) >= 3 and device[1].isdigit() else None)
    return Familiarity(countries, int(count) if count.isdigit() else (0 if net_key else None),
                       account_learning(first, now_ms, rules),
                       shared.isdigit() and int(shared) > now_ms // 1000, last_seen,
                       frozenset(learned))


def session_policy(policy: object) -> SessionPolicy | None:
    """``create_session``'s ``policy``: a `SessionPolicy`, a preset's name, or ``None`` (the
    session lives by the creating process's `Settings`, as without policies)."""
    if policy is None or isinstance(policy, SessionPolicy):
        return policy
    if isinstance(policy, str):
        return SessionPolicy.preset(policy)
    raise TypeError(f"policy: expected a SessionPolicy or a preset name, got "
                    f"{type(policy).__name__}")


class PolicyArgs(NamedTuple):
    """The create script's policy arguments (fields 13, 16-18 of the record: '' = none)."""

    touch_ms: int | str
    extension_ms: int | str
    max_lifetime_ms: int | str
    policy: str


def policy_args(policy: SessionPolicy | None) -> PolicyArgs:
    if policy is None:
        return PolicyArgs("", "", "", "")
    return PolicyArgs(policy.touch_ms, policy.reauth_extension_ms or "",
                      policy.max_lifetime_ms or "", policy.name)


class SessionOps(AuditOps):
    def _global_streams(self) -> tuple[str | None, str | None, str | None]:
        """The event stream, the global audit trail and the stats hash as a revoke script's
        last keys, when scripts write them themselves."""
        return ((self.keys.events, self.keys.audit, self.keys.stats) if self._inline
                else (None, None, None))

    def _returned(self, reply: CountReply) -> list[Command | Eval]:
        return self._returned_events(reply.events) + self._returned_audit(reply.audit)

    def create_session(
        self, user_id: str, *, user_agent: str | None, ip: str, country: str | None = None,
        city: str | None = None, device_id: str | None = None, email: str | None = None,
        client_hints: HeadersLike | None = None,
        policy: SessionPolicy | str | None = None, assurance: str = "password",
    ) -> Op[CreatedSession]:
        s = self.settings
        fp_key = self._fingerprint_key("create_session")
        chosen = session_policy(policy)
        rank = assurance_rank(assurance)
        uk = self._user_keys(user_id)
        ip = require_ip(ip)
        ua = self._user_agent(user_agent)
        mail = require_email(email) if email is not None else ""
        if device_id is not None and not isinstance(device_id, str):
            raise TypeError(f"device_id: expected str, got {type(device_id).__name__}")
        device_id = clean_text(device_id, MAX_DEVICE_ID_LENGTH)
        place = self.geo.locate(ip, country_hint=country, city_hint=city)
        net = self.networks.describe(ip, place.network, s.detection)
        hints = self._hint_values(client_hints) if client_hints is not None else None
        info = parse_user_agent(ua, hints_from_values(hints) if hints is not None else None)
        fp = fingerprint(fp_key, info, device_id)
        legacy_fp = legacy_fingerprint(fp_key, info, device_id)  # see create.lua
        class_key = self._class_key(info)[0]
        # The one boundary of the packed record: no separator, control or surrogate in any of
        # its text fields, whatever produced them (ValueError naming the field, nothing sent).
        check_record_fields(user_id=user_id, ip=ip, country=place.country or "",
                            network=place.network, city=place.city or "", fingerprint=fp,
                            class_key=class_key)
        rand = new_rand()
        session_id = uk.tag + rand
        token, token_hash = new_token(session_id)
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
        keys = (CreateKeys(uk.record, self.keys.events, self.keys.expiry_index,
                           self.keys.directory, self.keys.recent_users, self.keys.stats)
                if self._inline else CreateKeys(uk.record))
        args = CreateArgs(
            base=uk.base, rand=rand, user_id=user_id, token_hash=token_hash,
            now=self._now_arg(), idle_ms=chosen.idle_ms if chosen else s.idle_ms,
            absolute_ms=chosen.absolute_ms if chosen else s.absolute_ms,
            max_sessions=s.max_sessions, on_limit="deny" if s.on_limit == "deny" else "evict",
            tombstone_ms=s.tombstone_ms,
            # the user record holds the session index: it outlives the longest session
            history_ms=max(s.history_ms, chosen.max_lifetime_ms if chosen else 0,
                           chosen.absolute_ms if chosen else 0),
            fingerprint=fp,
            legacy_fingerprint=legacy_fp,
            # Chrome's reduced UA hides the model: a known device of its kind is this one
            reduced_kind=(f"{info.label}\x1f{info.device_class}"
                          if info.reduced and not device_id else ""),
            class_key=class_key,
            description=encode_description(info.label, info.browser, info.os,
                                           info.device_class),
            # a session on a declared known network has no country: it is everywhere
            ip=ip, country="" if net.neutral else place.country or "", network=place.network,
            city=place.city or "",
            # a sign-in on a declared known network, or through a hosting or VPN network (its
            # exit), says nothing about where the user is: it leaves the last located sign-in
            # for the travel rule, so switching the VPN off is no jump either
            lat="" if net.neutral or net.hosting else _coordinate(place.lat),
            lon="" if net.neutral or net.hosting else _coordinate(place.lon), email=mail,
            burst_window_ms=int(s.detection.burst_window.total_seconds() * 1000),
            max_devices=MAX_DEVICES_PER_USER,
            burst_threshold=(s.detection.burst_logins
                             if s.detection.enabled("login_burst") else 0),
            login_details=details_json(login_details),
            evicted_details=details_json(evicted_details),
            stream_maxlen=s.event_stream_maxlen,
            retention_ms=int(retention.total_seconds() * 1000) if retention is not None else "",
            recent_users_kept=s.recent_users_kept, net_key=net.key,
            max_networks=MAX_NETWORKS_PER_USER,
            learning_ms=int(s.detection.learning_period.total_seconds() * 1000),
            **policy_args(chosen)._asdict(), assurance=assurance_digit(rank),
        )
        try:
            reply = CreateReply.of((yield call("create", keys, args)))
        except ScriptError as exc:
            raise SessionWardenError(f"cannot create a session for this user: {exc}") from None
        now = self._observe(reply.now)
        if reply.status == "locked":
            raise AccountLocked(user_id)
        if reply.status == "denied":
            if returned := self._returned_events(reply.events):
                yield Batch(tuple(returned))
            raise SessionLimitExceeded(user_id, s.max_sessions)

        expiry = reply.expiry
        facts = LoginFacts(
            session_id=session_id, at_ms=now, device=info, fingerprint=fp,
            known_device=reply.known_device, devices_before=reply.devices_before, place=place,
            ip=ip, country_known=reply.country_known, countries_before=reply.countries_before,
            previous=_previous_login(reply.previous), logins_in_window=reply.logins_in_window,
            burst_started=reply.burst_started,
            # a live session made before the fingerprint's v2 on this device is this device
            live=tuple(LiveSession(uk.tag + rand_, country_ or None,
                                   fp if fp_ == legacy_fp else fp_, active, last_ or None)
                       for rand_, country_, fp_, active, last_ in reply.live),
            familiarity=familiarity(reply.profile, net.key, now, s.detection), network=net,
        )
        commands: list[Command | Eval] = [*self._returned_events(reply.events)]
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
        found = evaluate_login(facts, s.detection)
        commands += self._incident_events(found, user_id, session_id, now)
        if any(SEVERITIES.index(f.severity) >= SEVERITIES.index("medium") for f in found):
            commands += _unlearn(uk.record, reply.profile, "" if net.neutral else
                                 place.country or "", net.key, now)
        if commands:
            yield Batch(tuple(commands))
        epoch = self._not_before
        if now > epoch:  # (a create racing revoke_everyone is left to the script)
            self._remember(session_id, now, chosen.touch_ms if chosen else None)
            if self._not_before != epoch:  # moved by another thread meanwhile
                self._remember(session_id, None)
        session = Session(
            session_id=session_id, user_id=user_id, created_ms=now, last_active_ms=now,
            expires_ms=expiry, absolute_expires_ms=now + args.absolute_ms, ip=ip,
            country=None if net.neutral else place.country,
            network=place.network, city=place.city, fingerprint=fp, authenticated_ms=now,
            assurance=ASSURANCE[rank], policy=chosen.name if chosen else None,
        )
        return CreatedSession(session_id=session_id, token=token, session=session)

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
        reply = CountReply.of((yield call(
            "revoke", RevokeKeys(uk.session(rand), uk.record, uk.tombstone(rand), uk.audit,
                                 *self._global_streams()),
            RevokeArgs(rand=rand, now=self._now_arg(), tombstone_ms=self.settings.tombstone_ms,
                       tombstone_reason=reason_ or "revoked", user_id=user_id, actor=actor_,
                       reason=reason_ or "", stream_maxlen=self.settings.event_stream_maxlen,
                       audit_ttl_ms=self.settings.history_ms))))
        if returned := self._returned(reply):
            yield Batch(tuple(returned))
        return reply.result == 1

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
        reply = CountReply.of((yield call(
            "revoke_all", RevokeAllKeys(uk.record, uk.audit, *self._global_streams()),
            RevokeAllArgs(base=uk.base, now=self._now_arg(),
                          tombstone_ms=self.settings.tombstone_ms,
                          tombstone_reason=reason_ or "revoked", keep_rand=keep_rand,
                          keep_hash=keep_hash, user_id=user_id, actor=actor_,
                          reason=reason_ or "", stream_maxlen=self.settings.event_stream_maxlen,
                          audit_ttl_ms=self.settings.history_ms),
        )))
        if returned := self._returned(reply):
            yield Batch(tuple(returned))
        return reply.result

    def get_active_sessions(
        self, user_id: str, *, current_token: str | None = None
    ) -> Op[list[SessionView]]:
        uk = self._user_keys(user_id)
        current = parse_token(current_token) if current_token is not None else None
        reply = ListReply.of((yield call(
            "list", ListKeys(uk.record, self._stream(), self._stats()),
            ListArgs(base=uk.base, now=self._now_arg(), user_id=user_id,
                     stream_maxlen=self.settings.event_stream_maxlen))))
        devices: dict[str, dict[str, Any]] = {}
        flat_devices = reply.devices
        for i in range(0, len(flat_devices) - 1, 2):
            fp = text(flat_devices[i])
            try:
                devices[fp] = split_description(flat_devices[i + 1])
            except CorruptRecord as exc:
                log.warning("user %s: skipped corrupt device %r: %r", uk.tag, fp, str(exc))
        views: list[SessionView] = []
        flat_sessions = reply.sessions
        for i in range(0, len(flat_sessions) - 1, 2):
            session_id = uk.tag + text(flat_sessions[i])
            try:
                session = session_from_raw(session_id, flat_sessions[i + 1])
            except CorruptRecord as exc:
                log.warning("skipped corrupt session: %r", str(exc))
                continue
            views.append(session_view(
                session, devices.get(session.fingerprint),
                current=current is not None and current.session_id == session_id,
                now=from_ms(reply.now),
            ))
        if returned := self._returned_events(reply.events):
            yield Batch(tuple(returned))
        return views
