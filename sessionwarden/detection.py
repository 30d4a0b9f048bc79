"""Suspicious-login rules: pure functions over facts the store scripts return (no I/O).

The create script reads the user's history (known devices, countries and how familiar they
are, networks, previous login place, recent logins, live sessions) in the same atomic call that
records the login, so the rules cost no extra round trip. Each sign-in gets **one assessment**:
the signals present (new device, new or unfamiliar country, unfamiliar or hosting network,
impossible travel, the same kind of device in use elsewhere, burst, shared account), each with
its weight (`DetectionSettings.weights`) and a reason; the score's severity is the severity of
every finding of that sign-in (one per rule that fired, so each keeps its event type), and the
findings list the signals and why. Travel between two familiar places, and anything on an
operator-declared known network, is no signal. Rules that describe a *state* (shared account,
login burst) fire when a login makes the state true, not on every login while it stays true;
a known shared account does not fire again. Findings then join the user's incident
(`incidents.py`). Every finding carries ``reason``, a sentence an on-call human can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .devices import DeviceInfo
from .geo import Place, centroid, country_name, haversine_km
from .models import ago, from_ms
from .networks import NetworkInfo
from .settings import DetectionSettings


@dataclass(frozen=True, slots=True)
class PreviousLogin:
    at_ms: int
    lat: float | None
    lon: float | None
    country: str | None
    ip: str


@dataclass(frozen=True, slots=True)
class LiveSession:
    session_id: str
    country: str | None
    fingerprint: str
    last_active_ms: int
    #: the last other country it was presented from (validate's place check), None: none
    last_place: str | None = None


@dataclass(frozen=True, slots=True)
class Familiarity:
    """What the account's history says about places: sign-ins from known devices by country,
    on this network (None: no network), and whether the account is still learning (younger
    than ``learning_period``: one sign-in from a known device makes a place familiar).
    ``learned``: the countries first seen during the learning period, which stay familiar
    after it (what the account learnt while new is not forgotten because time passed)."""

    countries: Mapping[str, int] = field(default_factory=dict)
    network_logins: int | None = None
    learning: bool = True
    shared_known: bool = False  # a known shared account (shared_account fired lately)
    #: this kind of device's previous sign-in (ms, country), when it is a known device
    device_last: tuple[int, str | None] | None = None
    learned: frozenset[str] = frozenset()

    @classmethod
    def of_place(cls, place: str | None, logins: int, learning: bool,
                 learned: bool) -> Familiarity:
        """What one country's history says (``country_history``), for a validation's rules."""
        return cls({place: logins} if place else {}, None, learning,
                   learned=frozenset({place}) if place and learned else frozenset())

    def country(self, code: str | None, rules: DetectionSettings) -> bool:
        needed = 1 if self.learning or code in self.learned else rules.familiar_logins
        return bool(code) and self.countries.get(code or "", 0) >= needed

    def network(self, rules: DetectionSettings) -> bool:
        needed = 1 if self.learning else rules.familiar_logins
        return self.network_logins is not None and self.network_logins >= needed


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    weight: float
    why: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """One sign-in's (or validation's) signals, their summed score and its severity."""

    signals: tuple[Signal, ...]
    score: float
    severity: str

    @classmethod
    def of(cls, signals: list[Signal], rules: DetectionSettings) -> Assessment:
        score = round(sum(s.weight for s in signals), 3)
        return cls(tuple(signals), score, rules.severity_of(score))

    def details(self) -> dict[str, Any]:
        return {"signals": [s.name for s in self.signals], "score": self.score,
                "why": [s.why for s in self.signals]}


def account_learning(first_signin: str, now_ms: int, rules: DetectionSettings) -> bool:
    """Whether an account whose user record's ``fs`` (first sign-in, s) is ``first_signin`` is
    still in its learning period (one without a first sign-in is)."""
    return (not first_signin.isdigit()
            or now_ms // 1000 - int(first_signin) < rules.learning_period.total_seconds())


def country_history(value: str, first_signin: str,
                    rules: DetectionSettings) -> tuple[int, bool]:
    """A user record's ``c:<CC>`` value (``"<first seen ms>|<sign-ins from known devices>"``)
    with its ``fs``: (the count, whether the country was first seen during the learning
    period). Malformed values read as a country seen once, outside the learning period (never
    more familiar than they show)."""
    first_ms, _, count = value.partition("|")
    logins = int(count) if count.isdigit() else int(bool(value))
    learned = (first_signin.isdigit() and first_ms.isdigit()
               and int(first_ms) // 1000 - int(first_signin)
               < rules.learning_period.total_seconds())
    return logins, learned


def signal(rules: DetectionSettings, name: str, why: str) -> Signal | None:
    """The signal ``name`` with its configured weight (None when its weight is 0)."""
    weight = rules.weights[name]
    return Signal(name, weight, why) if weight > 0 else None


@dataclass(frozen=True, slots=True)
class LoginFacts:
    """Everything the rules know about one login (the new session is in ``live``)."""

    session_id: str
    at_ms: int
    device: DeviceInfo
    fingerprint: str
    known_device: bool
    devices_before: int
    place: Place
    ip: str
    country_known: bool
    countries_before: int
    previous: PreviousLogin | None
    logins_in_window: int
    burst_started: bool = False  # the store saw the count exceed the threshold (once a window)
    live: tuple[LiveSession, ...] = field(default=())
    familiarity: Familiarity = field(default_factory=Familiarity)
    network: NetworkInfo = field(default_factory=lambda: NetworkInfo(""))


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    severity: str
    details: dict[str, Any]
    #: the session most likely the attacker's (the event's session; None: the request's own)
    suspect: str | None = None


def _country(code: str | None) -> str:
    return f"{country_name(code) or code} ({code})" if code else "an unknown place"


def _finding(rules: DetectionSettings, rule: str, **details: Any) -> Finding:
    return Finding(rule, rules.severities[rule], details)


def evaluate_login(facts: LoginFacts, rules: DetectionSettings) -> list[Finding]:
    """The findings of one login, in a stable order (at most one per rule), all carrying the
    login's one assessment: its severity, signals and why."""
    found: list[Finding] = []
    signals: list[Signal] = []

    def add(name: str, why: str) -> None:
        if (made := signal(rules, name, why)) is not None:
            signals.append(made)

    label = facts.device.label
    country, fam, net = facts.place.country, facts.familiarity, facts.network
    neutral = net.neutral
    if rules.enabled("new_device") and not facts.known_device and facts.devices_before >= 1:
        why = (f"first sign-in from {label} ({facts.device.browser}, {facts.device.os}); "
               f"the account has {facts.devices_before} other known device(s)")
        add("new_device", why)
        found.append(_finding(
            rules, "new_device", device=label, browser=facts.device.browser, os=facts.device.os,
            known_devices=facts.devices_before, reason=why))
    if rules.enabled("new_country") and country and not neutral and facts.countries_before >= 1:
        if not facts.country_known:
            why = (f"first sign-in from {_country(country)}; the account had signed in from "
                   f"{facts.countries_before} other country(ies) before")
            add("new_country", why)
            found.append(_finding(rules, "new_country", country=country, ip=facts.ip,
                                  known_countries=facts.countries_before, reason=why))
        elif not fam.country(country, rules):
            add("unfamiliar_country", f"{_country(country)} is not yet a familiar place "
                f"({fam.countries.get(country, 0)} sign-in(s) from known devices)")
    if (not neutral and not net.hosting and net.key and facts.devices_before >= 1
            and not fam.network(rules)):
        add("unfamiliar_network", "a network the account's known devices have not used "
            "(often enough)")
    if net.hosting:
        add("hosting_network", f"a hosting or VPN network ({net.org or 'listed AS'})")
    # a VPN exit explains a jump; so do several people on a known shared account, in the
    # countries it is known in (a new country stays news)
    shared_excuse = fam.shared_known and facts.country_known
    travel = (None if neutral or net.hosting or shared_excuse
              else _impossible_travel(facts, rules))
    if travel:
        add("impossible_travel", travel.details["reason"])
        found.append(travel)
    elsewhere = None if shared_excuse else _elsewhere(facts, rules)
    if elsewhere:
        add("device_elsewhere", elsewhere)
        if not travel and rules.enabled("impossible_travel"):
            found.append(_finding(rules, "impossible_travel", reason=elsewhere,
                                  to_country=country, to_ip=facts.ip))
    for shared in _shared_account(facts, rules):
        if fam.shared_known:
            continue  # a known shared account: its state is no news
        add("shared_account", shared.details["reason"])
        found.append(shared)
    if rules.enabled("login_burst") and facts.burst_started:
        minutes = rules.burst_window.total_seconds() / 60
        why = (f"{facts.logins_in_window} sign-ins within {minutes:g} minutes "
               f"(more than {rules.burst_logins}): credential stuffing or a shared login")
        add("login_burst", why)
        found.append(_finding(rules, "login_burst", logins=facts.logins_in_window,
                              window_minutes=minutes, reason=why))
    assessment = Assessment.of(signals, rules)
    if assessment.severity == "info" and not any(f.type in rules.pinned for f in found):
        return []
    suspect = None
    if travel or elsewhere:  # the other end of the pair may be the attacker's session
        others = [facts.previous.country if facts.previous else None,
                  *(s.country for s in facts.live if s.fingerprint == facts.fingerprint)]
        suspect = next(filter(None, (_suspect(facts, rules, c) for c in others)), None)
    return [_assessed(f, assessment, rules, suspect) for f in found]


def _assessed(finding: Finding, assessment: Assessment, rules: DetectionSettings,
              suspect: str | None) -> Finding:
    """``finding`` with the assessment's severity (or the one the operator pinned for its
    rule) and its signals, naming the suspect session."""
    severity = (finding.severity if finding.type in rules.pinned else assessment.severity)
    details = {**finding.details, **assessment.details()}
    if suspect:
        details["suspect_session"] = suspect
    return Finding(finding.type, severity, details, suspect)


def _far(a: str, b: str, rules: DetectionSettings) -> bool:
    """Two countries whose centroids are at least ``impossible_travel_min_km`` apart (closer
    ones are within a centroid's error of each other, as for impossible_travel)."""
    pa, pb = centroid(a), centroid(b)
    return bool(a != b and pa and pb and haversine_km(*pa, *pb) >= rules.impossible_travel_min_km)


def _elsewhere(facts: LoginFacts, rules: DetectionSettings) -> str | None:
    """Why the same kind of device looks to be in two places: it signed in, or a live session
    of it was in use, within ``elsewhere_window`` in another country (at least the travel
    rule's distance away) that is not familiar on both sides. None when it is not."""
    here, fam = facts.place.country, facts.familiarity
    if (not here or facts.network.neutral or facts.network.hosting
            or not rules.enabled("impossible_travel")):
        return None  # a VPN exit explains the move
    window_ms = rules.elsewhere_window.total_seconds() * 1000
    last = fam.device_last
    seen = [(last[0], last[1], "signed in from")] if last and last[1] else []
    # a live session was last in use in its own country or where it was last presented from:
    # in two places only when neither is here
    seen += [(s.last_active_ms, s.country, "was in use in") for s in facts.live
             if s.session_id != facts.session_id and s.fingerprint == facts.fingerprint
             and s.country and not (s.last_place and not _far(s.last_place, here, rules))]
    for at_ms, country, did in seen:
        if (country and _far(country, here, rules) and facts.at_ms - at_ms <= window_ms
                and not (fam.country(here, rules) and fam.country(country, rules))):
            minutes = max(facts.at_ms - at_ms, 0) / 60000
            return (f"the same kind of device ({facts.device.label}) {did} "
                    f"{_country(country)} {minutes:,.0f} min before this sign-in from "
                    f"{_country(here)}")
    return None


def _suspect(facts: LoginFacts, rules: DetectionSettings, other: str | None) -> str | None:
    """The session most likely the attacker's when it is not this sign-in's: this one is on a
    known device in a familiar place, and the other end of the travel pair (``other``, a
    country) is not familiar: the live session there, the most recently active."""
    fam = facts.familiarity
    if (not other or not facts.known_device or not fam.country(facts.place.country, rules)
            or fam.country(other, rules)):
        return None
    there = [s for s in facts.live if s.country == other and s.session_id != facts.session_id]
    return max(there, key=lambda s: s.last_active_ms).session_id if there else None


def _impossible_travel(facts: LoginFacts, rules: DetectionSettings) -> Finding | None:
    prev, here = facts.previous, facts.place
    if not rules.enabled("impossible_travel") or prev is None:
        return None
    if None in (prev.lat, prev.lon, here.lat, here.lon):
        return None
    if prev.country and prev.country == here.country and not here.precise:
        return None  # two readings of one country's centroid say nothing about travel
    fam = facts.familiarity
    if fam.country(prev.country, rules) and fam.country(here.country, rules):
        return None  # between two familiar places (a VPN switched on and off, a commute)
    km = haversine_km(prev.lat, prev.lon, here.lat, here.lon)  # type: ignore[arg-type]
    if km < rules.impossible_travel_min_km:
        return None
    elapsed_ms = max(facts.at_ms - prev.at_ms, 0)
    hours = elapsed_ms / 3_600_000
    speed = km / hours if hours > 0 else float("inf")
    if speed <= rules.impossible_travel_kmh:
        return None
    if elapsed_ms < 60_000:  # a speed computed over seconds is noise, not a figure
        after, shown_speed = "less than a minute", "at once"
    else:
        after, shown_speed = f"{elapsed_ms / 60_000:,.0f} min", f"at {speed:,.0f} km/h"
    return _finding(
        rules, "impossible_travel", from_country=prev.country, to_country=here.country,
        from_ip=prev.ip, to_ip=facts.ip, distance_km=round(km), hours=round(hours, 2),
        speed_kmh=None if elapsed_ms < 60_000 else round(speed),
        reason=f"sign-in from {_country(here.country)} {after} after one from "
               f"{_country(prev.country)}: {km:,.0f} km apart, {shown_speed} "
               f"(limit {rules.impossible_travel_kmh:,.0f} km/h)",
    )


def _shared_account(facts: LoginFacts, rules: DetectionSettings) -> list[Finding]:
    if not rules.enabled("shared_account"):
        return []
    others = [s for s in facts.live if s.session_id != facts.session_id]
    mine = next((s for s in facts.live if s.session_id == facts.session_id), None)
    if mine is None:
        return []
    window_ms = rules.shared_window.total_seconds() * 1000

    countries_ms = rules.shared_countries_window.total_seconds() * 1000

    def countries(sessions: list[LiveSession]) -> set[str]:
        # sessions in use lately: a laptop left signed in at home is not a second person
        return {s.country for s in sessions
                if s.country and facts.at_ms - s.last_active_ms <= countries_ms}

    def devices(sessions: list[LiveSession]) -> set[str]:
        return {s.fingerprint for s in sessions if facts.at_ms - s.last_active_ms <= window_ms}

    before_c, after_c = countries(others), countries([*others, mine])
    before_d, after_d = devices(others), devices([*others, mine])
    if len(after_c) >= rules.shared_countries > len(before_c):
        names = ", ".join(sorted(after_c))
        return [_finding(
            rules, "shared_account", countries=sorted(after_c), devices=len(after_d),
            reason=f"sessions in use in {len(after_c)} countries at once ({names})",
        )]
    if len(after_d) >= rules.shared_devices > len(before_d):
        minutes = window_ms / 60000
        return [_finding(
            rules, "shared_account", countries=sorted(after_c), devices=len(after_d),
            reason=f"{len(after_d)} different devices active within {minutes:g} minutes",
        )]
    return []


def revoked_token_finding(
    rules: DetectionSettings, *, reason: str, revoked_ms: int, at_ms: int, ip: str | None,
    device: str | None, same_device: bool, no_user_agent: bool = False,
    place: str | None = None, session_country: str | None = None, place_familiar: bool = True,
) -> Finding | None:
    """A token of an ended session was presented again. From the same kind of device it is
    most likely the signed-out device itself still holding its cookie (e.g. after "sign out
    everywhere else"): reported as ``low``; with an empty user agent (``no_user_agent``) too, on
    its own weak evidence — unless it comes from another country than its session's
    (``place``, located and not a hosting network; ``session_country``) that the account does
    not know as familiar (``place_familiar``): a copy on the same kind of device, or the
    signed-out device abroad; ``medium``. The tombstone keeps the session's country only when
    the session ended on its own (`revoke_session`, a rotated-out token): a session ended with
    others or evicted leaves its device holding a token it goes on presenting wherever its
    owner goes, so ``session_country`` is None for it. From another kind of device the token
    was copied: the rule's severity."""
    if not rules.enabled("revoked_token_used"):
        return None
    minutes = max(at_ms - revoked_ms, 0) / 60000
    ended = f"ended {ago(from_ms(revoked_ms), from_ms(at_ms))} ({reason.replace('_', ' ')})"
    where = f"{ip or 'an unknown address'} ({device or 'unknown device'})"
    if no_user_agent:
        text = (f"the token of a session {ended} was presented again from {where}, without a "
                "user agent: a client that omits the header, or a copy")
    elif same_device:
        text = (f"the token of a session {ended} was presented again from {where}, the same "
                "kind of device it belonged to: most likely that device, still signed in")
    else:
        text = (f"the token of a session {ended} was presented again from {where}, another "
                "kind of device: someone kept a copy of it")
    elsewhere = bool(place and session_country and place != session_country
                     and not place_familiar)
    if elsewhere and (same_device or no_user_agent):
        text += (f"; from {_country(place)}, which the account does not know, while the "
                 f"session was from {_country(session_country)}")
    finding = _finding(
        rules, "revoked_token_used", revoked_reason=reason, ip=ip, device=device,
        same_device=same_device, minutes_since_revocation=round(minutes, 1), reason=text,
        country=place, session_country=session_country,
    )
    if same_device or no_user_agent:
        severity = "medium" if elsewhere else "low"
        return Finding(finding.type, severity, finding.details)
    return finding


def device_mismatch_finding(
    rules: DetectionSettings, *, device: str, ip: str | None, revoked: bool
) -> Finding:
    action = "; the session was revoked (bind_to_device)" if revoked else ""
    return _finding(
        rules, "device_mismatch", device=device, ip=ip, revoked=revoked,
        reason=f"the session's token was presented by a different kind of device ({device}) "
               f"from {ip or 'an unknown address'}{action}",
    )


def place_finding(
    rules: DetectionSettings, *, session_country: str | None, place: str | None,
    place_logins: int, learning: bool, last_active_ms: int, at_ms: int, ip: str | None,
    no_user_agent: bool, hosting: bool, device: str | None, last_place: str | None = None,
    learned: bool = False,
) -> Finding | None:
    """A live token presented from another country than its session's (from any located one
    for a session with no country of its own), or without a user
    agent when its session had one (each once per session and place: the validate script
    keeps the marks). Familiar places say nothing; a hosting or VPN network explains the move
    (its exit country says nothing about the user: only `hosting_network` is weighed). Getting
    there faster than a plane from where the session was last in use is the stolen token in
    use (`device_elsewhere`): from the nearer of its own country and ``last_place`` (the last
    other place it was presented from), since either may be where it was last used. The
    finding is a ``device_mismatch`` (the token presented in circumstances its session was
    not) with the assessment."""
    if not rules.enabled("device_mismatch"):
        return None
    signals: list[Signal | None] = []
    familiar = Familiarity.of_place(place, place_logins, learning, learned)
    # a session with no country (made on a declared known network, or behind a private
    # address) has no place of its own: any located place is judged by the account's history
    moved = bool(place and place != session_country)
    origin = (f"the session is from {_country(session_country)}" if session_country else
              "the session has no place of its own (made on a known or private network)")
    if moved and hosting:
        signals.append(signal(rules, "hosting_network", f"presented from a hosting or VPN "
                              f"network (exit in {_country(place)})"))
    elif moved and not familiar.country(place, rules):
        signals.append(signal(rules, "new_country" if place_logins == 0 else
                              "unfamiliar_country", f"the session's token was presented from "
                              f"{_country(place)}; {origin}"))
        here = centroid(place or "")
        hours = max(at_ms - last_active_ms, 0) / 3_600_000
        starts = [p for p in (centroid(session_country or ""), centroid(last_place or ""))
                  if p is not None]
        if here and starts:
            km = min(haversine_km(*a, *here) for a in starts)
            if km >= rules.impossible_travel_min_km and (
                    hours == 0 or km / hours > rules.session_travel_kmh):
                signals.append(signal(rules, "device_elsewhere", f"the session was in use "
                                      f"{hours * 60:,.0f} min before, at least {km:,.0f} km "
                                      "away: faster than a plane"))
    if no_user_agent:
        signals.append(signal(rules, "no_user_agent", "presented without a user agent; the "
                              "session was created with one"))
    found = [s for s in signals if s is not None]
    assessment = Assessment.of(found, rules)
    if assessment.severity == "info":
        return None
    reason = "; ".join(s.why for s in found)
    return Finding("device_mismatch", assessment.severity, {
        "mismatch": "place" if moved else "no_user_agent", "device": device, "ip": ip,
        "country": place, "session_country": session_country, "revoked": False,
        "reason": reason, **assessment.details()})


def session_probe_finding(
    rules: DetectionSettings, *, ip: str | None, device: str | None
) -> Finding | None:
    """Wrong secrets were presented for a session id that exists: session ids are public
    (console, events, webhooks), so a burst of them is someone guessing a live session's
    secret. Counted per session by the validate script; this is its one report per burst."""
    if not rules.enabled("session_probe"):
        return None
    window = int(rules.probe_window.total_seconds())
    return _finding(
        rules, "session_probe", ip=ip, device=device,
        wrong_secrets=rules.probe_wrong_secrets, window_seconds=window,
        reason=f"{rules.probe_wrong_secrets} wrong secrets within {window} s were presented "
               f"for this live session's id, the last from {ip or 'an unknown address'} "
               f"({device or 'unknown device'}): someone is guessing its token",
    )
