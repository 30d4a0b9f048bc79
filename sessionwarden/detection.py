"""Suspicious-login rules: pure functions over facts the store scripts return (no I/O).

The create script reads the user's history (known devices, countries, previous login place,
recent logins, live sessions) in the same atomic call that records the login, so the rules cost
no extra round trip. Rules that describe a *state* (shared account, login burst) fire when a
login makes the state true, not on every login while it stays true: one incident, one alert.
Every finding carries ``reason``, a sentence an on-call human can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .devices import DeviceInfo
from .geo import Place, country_name, haversine_km
from .models import ago, from_ms
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


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    severity: str
    details: dict[str, Any]


def _country(code: str | None) -> str:
    return f"{country_name(code) or code} ({code})" if code else "an unknown place"


def _finding(rules: DetectionSettings, rule: str, **details: Any) -> Finding:
    return Finding(rule, rules.severities[rule], details)


def evaluate_login(facts: LoginFacts, rules: DetectionSettings) -> list[Finding]:
    """The findings of one login, in a stable order (at most one per rule)."""
    found: list[Finding] = []
    label = facts.device.label
    if rules.enabled("new_device") and not facts.known_device and facts.devices_before >= 1:
        found.append(_finding(
            rules, "new_device", device=label, browser=facts.device.browser, os=facts.device.os,
            known_devices=facts.devices_before,
            reason=f"first sign-in from {label} ({facts.device.browser}, {facts.device.os}); "
                   f"the account has {facts.devices_before} other known device(s)",
        ))
    country = facts.place.country
    if (rules.enabled("new_country") and country and not facts.country_known
            and facts.countries_before >= 1):
        found.append(_finding(
            rules, "new_country", country=country, ip=facts.ip,
            known_countries=facts.countries_before,
            reason=f"first sign-in from {_country(country)}; the account had signed in from "
                   f"{facts.countries_before} other country(ies) before",
        ))
    travel = _impossible_travel(facts, rules)
    if travel:
        found.append(travel)
    found.extend(_shared_account(facts, rules))
    if rules.enabled("login_burst") and facts.burst_started:
        minutes = rules.burst_window.total_seconds() / 60
        found.append(_finding(
            rules, "login_burst", logins=facts.logins_in_window, window_minutes=minutes,
            reason=f"{facts.logins_in_window} sign-ins within {minutes:g} minutes "
                   f"(more than {rules.burst_logins}): credential stuffing or a shared login",
        ))
    return found


def _impossible_travel(facts: LoginFacts, rules: DetectionSettings) -> Finding | None:
    prev, here = facts.previous, facts.place
    if not rules.enabled("impossible_travel") or prev is None:
        return None
    if None in (prev.lat, prev.lon, here.lat, here.lon):
        return None
    if prev.country and prev.country == here.country and not here.precise:
        return None  # two readings of one country's centroid say nothing about travel
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

    def countries(sessions: list[LiveSession]) -> set[str]:
        return {s.country for s in sessions if s.country}

    def devices(sessions: list[LiveSession]) -> set[str]:
        return {s.fingerprint for s in sessions if facts.at_ms - s.last_active_ms <= window_ms}

    before_c, after_c = countries(others), countries([*others, mine])
    before_d, after_d = devices(others), devices([*others, mine])
    if len(after_c) >= rules.shared_countries > len(before_c):
        names = ", ".join(sorted(after_c))
        return [_finding(
            rules, "shared_account", countries=sorted(after_c), devices=len(after_d),
            reason=f"live sessions in {len(after_c)} countries at once ({names})",
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
    device: str | None, same_device: bool,
) -> Finding | None:
    """A token of an ended session was presented again. From the same kind of device it is
    most likely the signed-out device itself still holding its cookie (e.g. after "sign out
    everywhere else"): reported as ``low``. From another kind of device, or an unknown one, the
    token was copied: the rule's severity."""
    if not rules.enabled("revoked_token_used"):
        return None
    minutes = max(at_ms - revoked_ms, 0) / 60000
    ended = f"ended {ago(from_ms(revoked_ms), from_ms(at_ms))} ({reason.replace('_', ' ')})"
    where = f"{ip or 'an unknown address'} ({device or 'unknown device'})"
    if same_device:
        text = (f"the token of a session {ended} was presented again from {where}, the same "
                "kind of device it belonged to: most likely that device, still signed in")
    else:
        text = (f"the token of a session {ended} was presented again from {where}, another "
                "kind of device: someone kept a copy of it")
    finding = _finding(
        rules, "revoked_token_used", revoked_reason=reason, ip=ip, device=device,
        same_device=same_device, minutes_since_revocation=round(minutes, 1), reason=text,
    )
    if same_device:
        return Finding(finding.type, "low", finding.details)
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
