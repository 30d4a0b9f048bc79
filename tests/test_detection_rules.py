"""The suspicious-login rules, end to end through `SessionManager`, on fakeredis and real Redis.

Every rule is checked both ways: it fires when it should (event type, severity, and a
``details["reason"]`` sentence naming the facts an on-call human needs), and it stays quiet on
the look-alike legitimate case. Time is the test's `clock` (the scripts use it instead of Redis
TIME), so "30 minutes later" costs nothing. Countries come from the ``country=`` hint, which
wins over the offline lookup, on public addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import (
    ANDROID_CHROME,
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    LINUX_FIREFOX,
    MAC_CHROME,
    MAC_CHROME_NEWER,
    WINDOWS_EDGE,
    Backend,
    Clock,
    settings,
)

from sessionwarden import DetectionSettings, Event, SessionManager
from sessionwarden.settings import RULE_SEVERITIES

RULES = tuple(RULE_SEVERITIES)
MINUTE = 60
HOUR = 3600
DAY = 86400


# --------------------------------------------------------------------------- helpers


def make(backend: Backend, clock: Clock, **kw: Any) -> SessionManager:
    return backend.manager(settings(**kw), clock=clock)


@pytest.fixture
def mgr(backend: Backend, clock: Clock) -> SessionManager:
    return make(backend, clock)


def login(mgr: SessionManager, user: str = "alice", *, ua: str = MAC_CHROME, ip: str = IP_US,
          country: str | None = None, device_id: str | None = None) -> Any:
    return mgr.create_session(user, user_agent=ua, ip=ip, country=country, device_id=device_id)


def findings(mgr: SessionManager, rule: str | None = None) -> list[Event]:
    """Detection events (oldest first), optionally of one rule."""
    events = [e for e in reversed(mgr.recent_events(1000)) if e.type in RULE_SEVERITIES]
    return [e for e in events if rule is None or e.type == rule]


def only(mgr: SessionManager, rule: str) -> Event:
    found = findings(mgr, rule)
    assert len(found) == 1, [(e.type, e.details) for e in found]
    return found[0]


def assert_sentence(reason: object, *facts: str) -> None:
    """A sentence a person can act on: words, no Python leftovers, and the given facts."""
    assert isinstance(reason, str)
    assert len(reason.split()) >= 5, reason
    for leftover in ("None", "{", "}", "[", "]"):
        assert leftover not in reason, (leftover, reason)
    for fact in facts:
        assert fact in reason, (fact, reason)


# --------------------------------------------------------------------------- new_device


def test_new_device_fires_on_a_second_device(mgr: SessionManager, clock: Clock) -> None:
    first = login(mgr)
    clock.advance(HOUR)
    second = login(mgr, ua=IPHONE_SAFARI)
    event = only(mgr, "new_device")
    assert event.severity == "low"
    assert event.session_id == second.session_id != first.session_id
    assert event.user_id == "alice"
    assert event.details["device"] == "iPhone/Safari"
    assert event.details["known_devices"] == 1
    assert_sentence(event.details["reason"], "iPhone/Safari", "Safari 17", "iOS 17",
                    "1 other known device")


def test_first_ever_login_is_quiet(mgr: SessionManager) -> None:
    login(mgr, country="US")
    assert findings(mgr) == []


def test_same_device_on_a_new_network_is_quiet(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip="8.8.8.8")
    clock.advance(HOUR)
    login(mgr, ip="8.8.4.4")  # same laptop, other Wi-Fi
    clock.advance(HOUR)
    login(mgr, ip="9.9.9.9")
    assert findings(mgr, "new_device") == []


def test_browser_upgrade_is_not_a_new_device(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ua=MAC_CHROME)
    clock.advance(DAY)
    login(mgr, ua=MAC_CHROME_NEWER)
    assert findings(mgr, "new_device") == []
    assert len(mgr.known_devices("alice")) == 1


def test_device_id_cookie_tells_two_identical_laptops_apart(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, device_id="laptop-home")
    clock.advance(HOUR)
    second = login(mgr, device_id="laptop-work")  # same model, same browser, other machine
    event = only(mgr, "new_device")
    assert event.session_id == second.session_id
    clock.advance(HOUR)
    login(mgr, device_id="laptop-home")  # back on the first one: known
    login(mgr, device_id="laptop-work")
    assert len(findings(mgr, "new_device")) == 1
    assert len(mgr.known_devices("alice")) == 2


def test_new_device_is_per_user(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, "alice", ua=MAC_CHROME)
    login(mgr, "bob", ua=IPHONE_SAFARI)  # bob's first device, whatever alice uses
    clock.advance(MINUTE)
    login(mgr, "bob", ua=MAC_CHROME)  # alice's device kind, new for bob
    event = only(mgr, "new_device")
    assert event.user_id == "bob"


# --------------------------------------------------------------------------- new_country


def test_new_country_quiet_on_first_login(mgr: SessionManager) -> None:
    login(mgr, ip=IP_NL)
    assert findings(mgr, "new_country") == []


def test_new_country_fires_on_a_second_country(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip=IP_US)
    clock.advance(2 * DAY)
    second = login(mgr, ip=IP_NL)
    event = only(mgr, "new_country")
    # a known device's first sign-in in a new country: a trip, low (new_device would add to it)
    assert event.severity == "low"
    assert event.details["signals"] == ["new_country", "unfamiliar_network"]
    assert event.session_id == second.session_id
    assert event.details["country"] == "NL"
    assert event.details["ip"] == IP_NL
    assert event.details["known_countries"] == 1
    assert_sentence(event.details["reason"], "Netherlands (NL)", "1 other country")


def test_new_country_quiet_when_returning_to_a_known_country(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, ip=IP_US)
    clock.advance(2 * DAY)
    login(mgr, ip=IP_NL)
    clock.advance(2 * DAY)
    login(mgr, ip="8.8.4.4")  # home again (US)
    clock.advance(2 * DAY)
    login(mgr, ip="9.9.9.9", country="NL")  # and NL again, other address
    assert [e.details["country"] for e in findings(mgr, "new_country")] == ["NL"]


def test_new_country_counts_hinted_countries(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip="8.8.8.8", country="FR")  # the hint wins over the registry (US)
    clock.advance(DAY)
    login(mgr, ip="8.8.4.4", country="DE")
    event = only(mgr, "new_country")
    assert event.details["country"] == "DE"
    assert_sentence(event.details["reason"], "(DE)")


def test_new_country_quiet_for_private_network_logins(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip="192.168.1.20")  # no country: first login, nothing known
    clock.advance(HOUR)
    login(mgr, ip=IP_US)  # the first *country*: nothing to compare with
    clock.advance(HOUR)
    login(mgr, ip="10.1.2.3")  # private again: no country, no finding
    login(mgr, ip="100.64.0.7")  # carrier-grade NAT counts as private too
    assert findings(mgr, "new_country") == []
    clock.advance(DAY)
    login(mgr, ip=IP_NL)
    assert only(mgr, "new_country").details["known_countries"] == 1


# --------------------------------------------------------------------------- impossible_travel


def test_impossible_travel_us_to_japan_in_30_minutes(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip=IP_US)
    clock.advance(30 * MINUTE)
    second = login(mgr, ip=IP_JP)
    event = only(mgr, "impossible_travel")
    assert event.severity == "high"
    assert event.session_id == second.session_id
    d = event.details
    assert (d["from_country"], d["to_country"]) == ("US", "JP")
    assert (d["from_ip"], d["to_ip"]) == (IP_US, IP_JP)
    assert 9500 < d["distance_km"] < 11000  # centroid to centroid
    assert d["hours"] == 0.5
    assert d["speed_kmh"] == pytest.approx(d["distance_km"] / 0.5, rel=0.01)
    assert d["speed_kmh"] > 15_000
    assert_sentence(d["reason"], "Japan (JP)", "United States (US)", "30 min",
                    f"{d['distance_km']:,} km", "km/h", "limit 1,500 km/h")


def test_impossible_travel_same_instant(mgr: SessionManager) -> None:
    login(mgr, ip=IP_US)
    login(mgr, ip=IP_JP)  # same clock reading: infinite speed
    event = only(mgr, "impossible_travel")
    assert event.details["speed_kmh"] is None  # no meaningful speed over under a minute
    assert_sentence(event.details["reason"], "Japan (JP)", "United States (US)",
                    "limit 1,500 km/h")


def test_impossible_travel_quiet_for_the_same_trip_20_hours_later(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, ip=IP_US)
    clock.advance(20 * HOUR)
    login(mgr, ip=IP_JP)
    assert findings(mgr, "impossible_travel") == []
    assert len(findings(mgr, "new_country")) == 1  # still a new country, just not impossible


def test_impossible_travel_quiet_for_a_commute_within_one_country(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, ip="8.8.8.8", country="DE")
    clock.advance(HOUR)
    login(mgr, ip="9.9.9.9", country="DE")
    clock.advance(MINUTE)
    login(mgr, ip="1.1.1.1", country="DE")  # even a minute apart: one centroid says nothing
    assert findings(mgr) == []


def test_impossible_travel_quiet_for_a_short_hop(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip="8.8.8.8", country="BE")
    clock.advance(5 * MINUTE)
    login(mgr, ip="8.8.4.4", country="NL")  # centroids ~190 km apart: under the 500 km floor
    assert findings(mgr, "impossible_travel") == []
    assert len(findings(mgr, "new_country")) == 1


def test_impossible_travel_quiet_after_a_private_address(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, ip="192.168.0.10")  # no place known
    clock.advance(MINUTE)
    login(mgr, ip=IP_JP)
    assert findings(mgr, "impossible_travel") == []


def test_impossible_travel_respects_a_tuned_speed_limit(
    backend: Backend, clock: Clock
) -> None:
    strict = make(backend, clock, detection=DetectionSettings(impossible_travel_kmh=300))
    login(strict, ip="8.8.8.8", country="DE")
    clock.advance(2 * HOUR)
    login(strict, ip="8.8.4.4", country="ES")  # ~1,500 km in 2 h: 750 km/h > 300
    event = only(strict, "impossible_travel")
    assert_sentence(event.details["reason"], "limit 300 km/h", "Spain (ES)", "Germany (DE)")


# --------------------------------------------------------------------------- shared_account


def test_shared_account_live_sessions_in_three_countries_fire_once(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, ip=IP_US)
    clock.advance(MINUTE)
    login(mgr, ip=IP_NL)
    assert findings(mgr, "shared_account") == []
    clock.advance(MINUTE)
    third = login(mgr, ip=IP_JP)
    event = only(mgr, "shared_account")
    assert event.severity in ("high", "critical")  # with a new country and impossible travel
    assert "shared_account" in event.details["signals"]
    assert event.session_id == third.session_id
    assert event.details["countries"] == ["JP", "NL", "US"]
    assert_sentence(event.details["reason"], "3 countries", "JP, NL, US")
    clock.advance(MINUTE)
    login(mgr, ip="8.8.8.8", country="FR")  # a fourth country while still shared: no repeat
    clock.advance(MINUTE)
    login(mgr, ip=IP_JP)
    assert len(findings(mgr, "shared_account")) == 1


def test_shared_account_quiet_for_laptop_and_phone(mgr: SessionManager, clock: Clock) -> None:
    for _ in range(3):
        login(mgr, ua=MAC_CHROME)
        clock.advance(2 * MINUTE)
        login(mgr, ua=IPHONE_SAFARI, ip="8.8.4.4")
        clock.advance(2 * MINUTE)
    assert findings(mgr, "shared_account") == []


def test_shared_account_four_devices_within_30_minutes(
    mgr: SessionManager, clock: Clock
) -> None:
    for ua in (MAC_CHROME, IPHONE_SAFARI, WINDOWS_EDGE):
        login(mgr, ua=ua)
        clock.advance(5 * MINUTE)
    assert findings(mgr, "shared_account") == []
    fourth = login(mgr, ua=ANDROID_CHROME)
    event = only(mgr, "shared_account")
    assert event.session_id == fourth.session_id
    assert event.details["devices"] == 4
    assert event.details["countries"] == ["US"]
    assert_sentence(event.details["reason"], "4 different devices", "30 minutes")
    clock.advance(MINUTE)
    login(mgr, ua=LINUX_FIREFOX)  # a fifth while still shared: no repeat
    assert len(findings(mgr, "shared_account")) == 1


def test_shared_account_quiet_for_four_devices_spread_over_an_hour_and_a_half(
    mgr: SessionManager, clock: Clock
) -> None:
    for ua in (MAC_CHROME, IPHONE_SAFARI, WINDOWS_EDGE, ANDROID_CHROME):
        login(mgr, ua=ua)
        clock.advance(31 * MINUTE)  # never more than 1 other device in the 30-minute window
    assert findings(mgr, "shared_account") == []


# --------------------------------------------------------------------------- revoked_token_used


def test_revoked_token_presented_again_fires(mgr: SessionManager, clock: Clock) -> None:
    created = login(mgr)
    assert mgr.revoke_session("alice", created.session_id, actor="user")
    clock.advance(10 * MINUTE)
    assert mgr.validate_session(created.token, ip="203.0.114.9", user_agent=WINDOWS_EDGE) is None
    event = only(mgr, "revoked_token_used")
    assert event.severity == "high"
    assert event.session_id == created.session_id
    assert event.user_id == "alice"
    assert event.details["ip"] == "203.0.114.9"
    assert event.details["device"] == "Windows/Edge"
    assert event.details["minutes_since_revocation"] == 10
    assert event.details["revoked_reason"] == "revoked"
    assert_sentence(event.details["reason"], "203.0.114.9", "Windows/Edge", "10 min")


def test_revoked_token_fires_once_for_repeated_presentations(
    mgr: SessionManager, clock: Clock
) -> None:
    created = login(mgr)
    mgr.revoke_session("alice", created.session_id)
    for _ in range(5):
        clock.advance(MINUTE)
        assert mgr.validate_session(created.token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    assert len(findings(mgr, "revoked_token_used")) == 1


def test_revoked_token_fires_whatever_the_revoke_reason(
    mgr: SessionManager, clock: Clock
) -> None:
    created = login(mgr)
    mgr.revoke_session("alice", created.session_id, reason="lost phone|seen")
    mgr.validate_session(created.token, ip=IP_NL, user_agent=WINDOWS_EDGE)
    assert len(findings(mgr, "revoked_token_used")) == 1


def test_revoked_token_of_an_evicted_session_fires(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, max_sessions=1)
    first = login(mgr)
    clock.advance(MINUTE)
    login(mgr, ua=IPHONE_SAFARI)  # evicts the first session
    assert any(e.type == "session_evicted" for e in mgr.recent_events(20))
    clock.advance(MINUTE)
    assert mgr.validate_session(first.token, ip=IP_JP, user_agent=LINUX_FIREFOX) is None
    event = only(mgr, "revoked_token_used")
    assert event.session_id == first.session_id
    assert event.details["revoked_reason"] == "evicted"
    assert event.details["ip"] == IP_JP
    assert_sentence(event.details["reason"], "evicted", IP_JP)


def test_garbage_and_unknown_tokens_do_not_fire(mgr: SessionManager) -> None:
    created = login(mgr)
    session_id, _, secret = created.token.partition(".")
    wrong_secret = session_id + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    unknown = "A" * len(session_id) + "." + secret
    for token in ("garbage", "", None, 42, "x" * 5000, wrong_secret, unknown):
        assert mgr.validate_session(token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    assert findings(mgr) == []
    assert mgr.validate_session(created.token) is not None  # the real one still works


def test_expired_session_token_does_not_fire(mgr: SessionManager, clock: Clock) -> None:
    created = login(mgr)
    clock.advance(mgr.settings.idle_timeout.total_seconds() + 1)
    assert mgr.validate_session(created.token, ip=IP_US, user_agent=MAC_CHROME) is None
    assert mgr.validate_session(created.token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    assert findings(mgr, "revoked_token_used") == []
    assert any(e.type == "session_expired" for e in mgr.recent_events(20))


# --------------------------------------------------------------------------- device_mismatch


def test_device_mismatch_fires_for_another_kind_of_device(
    mgr: SessionManager, clock: Clock
) -> None:
    created = login(mgr, ua=MAC_CHROME)
    clock.advance(5 * MINUTE)
    session = mgr.validate_session(created.token, ip=IP_NL, user_agent=IPHONE_SAFARI)
    assert session is not None  # reported, not blocked (bind_to_device is off)
    event = only(mgr, "device_mismatch")
    assert event.severity == "high"
    assert event.session_id == created.session_id
    assert event.details["device"] == "iPhone/Safari"
    assert event.details["ip"] == IP_NL
    assert event.details["revoked"] is False
    assert_sentence(event.details["reason"], "iPhone/Safari", IP_NL, "different kind of device")
    assert "revoked" not in event.details["reason"]


@pytest.mark.parametrize("ua", [MAC_CHROME, MAC_CHROME_NEWER, None])
def test_device_mismatch_quiet_for_the_same_device(
    mgr: SessionManager, clock: Clock, ua: str | None
) -> None:
    created = login(mgr, ua=MAC_CHROME)
    for _ in range(3):
        clock.advance(2 * MINUTE)
        assert mgr.validate_session(created.token, ip="9.9.9.9", user_agent=ua) is not None
    assert findings(mgr) == []


def test_device_mismatch_reported_once_per_new_device(mgr: SessionManager, clock: Clock) -> None:
    created = login(mgr, ua=MAC_CHROME)
    for ua in (IPHONE_SAFARI, IPHONE_SAFARI, IPHONE_SAFARI, MAC_CHROME, WINDOWS_EDGE,
               WINDOWS_EDGE):
        clock.advance(2 * MINUTE)
        mgr.validate_session(created.token, ip=IP_US, user_agent=ua)  # the session's place
    assert [e.details["device"] for e in findings(mgr, "device_mismatch")] == [
        "iPhone/Safari", "Windows/Edge"]


def test_bind_to_device_revokes_the_session(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, detection=DetectionSettings(bind_to_device=True))
    created = login(mgr, ua=MAC_CHROME)
    clock.advance(MINUTE)
    assert mgr.validate_session(created.token, ip=IP_US, user_agent=MAC_CHROME_NEWER)
    assert mgr.validate_session(created.token, ip=IP_NL, user_agent=ANDROID_CHROME) is None
    event = only(mgr, "device_mismatch")
    assert event.details["revoked"] is True
    assert_sentence(event.details["reason"], "Android/Chrome", "revoked")
    revoked = [e for e in mgr.recent_events(50) if e.type == "session_revoked"]
    assert len(revoked) == 1 and revoked[0].session_id == created.session_id
    assert mgr.validate_session(created.token, ip=IP_US, user_agent=MAC_CHROME) is None
    assert mgr.get_active_sessions("alice") == []


def test_device_mismatch_disabled_does_not_bind(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, detection=DetectionSettings(
        bind_to_device=True, disabled=frozenset({"device_mismatch"})))
    created = login(mgr, ua=MAC_CHROME)
    assert mgr.validate_session(created.token, ip=IP_NL, user_agent=ANDROID_CHROME) is not None
    assert findings(mgr) == []


# --------------------------------------------------------------------------- login_burst


def test_login_burst_eleven_logins_in_ten_minutes_fire_once(
    mgr: SessionManager, clock: Clock
) -> None:
    made = []
    for _ in range(11):
        made.append(login(mgr))
        clock.advance(50)  # 11 logins over 500 s
    event = only(mgr, "login_burst")
    assert event.severity == "medium"
    assert event.session_id == made[-1].session_id
    assert event.details["logins"] == 11
    assert_sentence(event.details["reason"], "11 sign-ins", "10 minutes", "more than 10")
    for _ in range(4):  # the burst goes on inside the same window: one incident, one alert
        login(mgr)
        clock.advance(5)
    assert len(findings(mgr, "login_burst")) == 1


def test_login_burst_ten_logins_are_quiet(mgr: SessionManager, clock: Clock) -> None:
    for _ in range(10):
        login(mgr)
        clock.advance(30)
    assert findings(mgr, "login_burst") == []


def test_login_burst_quiet_when_spread_over_two_hours(mgr: SessionManager, clock: Clock) -> None:
    for _ in range(11):
        login(mgr)
        clock.advance(12 * MINUTE)  # 11 logins over 2 hours
    assert findings(mgr, "login_burst") == []


def test_login_burst_sustained_run_is_one_incident(mgr: SessionManager, clock: Clock) -> None:
    for _ in range(30):
        login(mgr)
        clock.advance(55)
    assert len(findings(mgr, "login_burst")) == 1


# --------------------------------------------------------------------------- disabled / severity


def _new_device(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ua=MAC_CHROME)
    login(mgr, ua=IPHONE_SAFARI)


def _new_country(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip=IP_US)
    clock.advance(DAY)
    login(mgr, ip=IP_NL)


def _impossible_travel(mgr: SessionManager, clock: Clock) -> None:
    login(mgr, ip=IP_US)
    clock.advance(30 * MINUTE)
    login(mgr, ip=IP_JP)


def _shared_account(mgr: SessionManager, clock: Clock) -> None:
    for ip in (IP_US, IP_NL, IP_JP):  # sessions in use within shared_countries_window
        login(mgr, ip=ip)
        clock.advance(HOUR)


def _revoked_token_used(mgr: SessionManager, clock: Clock) -> None:
    created = login(mgr)
    mgr.revoke_session("alice", created.session_id)
    mgr.validate_session(created.token, ip=IP_NL, user_agent=WINDOWS_EDGE)


def _device_mismatch(mgr: SessionManager, clock: Clock) -> None:
    created = login(mgr, ua=MAC_CHROME)
    mgr.validate_session(created.token, ip=IP_NL, user_agent=IPHONE_SAFARI)


def _login_burst(mgr: SessionManager, clock: Clock) -> None:
    for _ in range(11):
        login(mgr)
        clock.advance(20)


def _session_probe(mgr: SessionManager, clock: Clock) -> None:
    created = login(mgr)
    for n in range(10):  # probe_wrong_secrets wrong secrets for the live session's public id
        mgr.validate_session(f"{created.session_id}.{str(n) * 43}", ip=IP_NL,
                             user_agent=WINDOWS_EDGE)


TRIGGERS: dict[str, Callable[[SessionManager, Clock], None]] = {
    "new_device": _new_device,
    "new_country": _new_country,
    "impossible_travel": _impossible_travel,
    "shared_account": _shared_account,
    "revoked_token_used": _revoked_token_used,
    "device_mismatch": _device_mismatch,
    "login_burst": _login_burst,
    "session_probe": _session_probe,
}


def test_every_rule_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(RULES)


@pytest.mark.parametrize("rule", RULES)
def test_trigger_fires_with_default_settings(
    backend: Backend, clock: Clock, rule: str
) -> None:
    mgr = make(backend, clock)
    TRIGGERS[rule](mgr, clock)
    event = only(mgr, rule)
    if rule in ("revoked_token_used", "device_mismatch", "session_probe"):  # validation
        assert event.severity == RULE_SEVERITIES[rule]
    else:  # a sign-in's events carry its assessment: the severity of its score
        assert event.severity == DetectionSettings().severity_of(event.details["score"])
        assert event.severity != "info" and event.details["signals"]


@pytest.mark.parametrize("rule", RULES)
def test_disabled_rule_emits_nothing(backend: Backend, clock: Clock, rule: str) -> None:
    mgr = make(backend, clock, detection=DetectionSettings(disabled=frozenset({rule})))
    TRIGGERS[rule](mgr, clock)
    assert findings(mgr, rule) == []


def test_all_rules_disabled_emit_nothing(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, detection=DetectionSettings(disabled=frozenset(RULES)))
    for rule in RULES:
        TRIGGERS[rule](mgr, clock)
        clock.advance(DAY)
    assert findings(mgr) == []
    assert any(e.type == "login" for e in mgr.recent_events(10))


@pytest.mark.parametrize("rule", RULES)
def test_custom_severity_is_respected(backend: Backend, clock: Clock, rule: str) -> None:
    custom = "critical" if RULE_SEVERITIES[rule] != "critical" else "info"
    mgr = make(backend, clock, detection=DetectionSettings(severities={rule: custom}))
    TRIGGERS[rule](mgr, clock)
    assert only(mgr, rule).severity == custom


def test_custom_windows_are_respected(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, detection=DetectionSettings(
        burst_logins=3, burst_window=timedelta(minutes=1), shared_devices=2,
        shared_window=timedelta(minutes=5)))
    login(mgr, ua=MAC_CHROME)
    clock.advance(10)
    login(mgr, ua=IPHONE_SAFARI)  # 2 devices within 5 minutes
    assert_sentence(only(mgr, "shared_account").details["reason"], "2 different devices",
                    "5 minutes")
    clock.advance(10)
    login(mgr)
    clock.advance(10)
    login(mgr)  # 4 logins within a minute: more than 3
    assert_sentence(only(mgr, "login_burst").details["reason"], "4 sign-ins", "within 1 minute")


# ------------------------------------------------------------- false alerts the trace exposed


def test_signed_out_device_presenting_its_old_token_is_low(
    mgr: SessionManager, clock: Clock
) -> None:
    """After "sign out everywhere else" the phone still holds its cookie: that is expected, not
    theft. The same token from another kind of device afterwards is theft."""
    phone = login(mgr, ua=IPHONE_SAFARI)
    laptop = login(mgr)
    mgr.revoke_all_sessions("alice", except_token=laptop.token, reason="password changed")
    clock.advance(MINUTE)
    assert mgr.validate_session(phone.token, ip=IP_US, user_agent=IPHONE_SAFARI) is None
    [first] = findings(mgr, "revoked_token_used")
    assert first.severity == "low" and first.details["same_device"] is True
    assert "most likely that device" in first.details["reason"]
    assert mgr.validate_session(phone.token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    assert mgr.validate_session(phone.token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    later = findings(mgr, "revoked_token_used")
    assert [e.severity for e in later] == ["low", "high"]
    assert later[1].details["same_device"] is False and later[1].details["ip"] == IP_NL


def test_device_mismatch_alternating_devices_reported_once_each(
    mgr: SessionManager, clock: Clock
) -> None:
    created = login(mgr)
    for _ in range(3):
        for ua in (WINDOWS_EDGE, ANDROID_CHROME):
            clock.advance(MINUTE)
            assert mgr.validate_session(created.token, ip=IP_US, user_agent=ua) is not None
    assert [e.details["device"] for e in findings(mgr, "device_mismatch")] == [
        "Windows/Edge", "Android/Chrome"]


def test_private_network_login_keeps_the_last_located_one(
    mgr: SessionManager, clock: Clock
) -> None:
    login(mgr, ip=IP_US)
    clock.advance(5 * MINUTE)
    login(mgr, ip="10.0.0.7")  # the office network: no place
    clock.advance(5 * MINUTE)
    login(mgr, ip=IP_JP)
    [travel] = findings(mgr, "impossible_travel")
    assert (travel.details["from_country"], travel.details["to_country"]) == ("US", "JP")


def test_login_burst_again_after_a_quiet_window(mgr: SessionManager, clock: Clock) -> None:
    for _ in range(11):
        login(mgr)
        clock.advance(10)
    clock.advance(2 * HOUR)
    for _ in range(11):
        login(mgr)
        clock.advance(10)
    assert len(findings(mgr, "login_burst")) == 2
