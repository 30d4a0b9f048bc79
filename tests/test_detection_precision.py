"""Detection precision end to end, on both backends: familiar places, known and hosting
networks, one assessment per request, one incident one alert, the suspect session and the
"not you?" link, and the blind spots closed on validation (a live token elsewhere, no
user agent, the tombstone's one report, the shared-account re-alert).

Time is the test's `clock`; countries come from the ``country=`` hint or the offline lookup
(IP_US, IP_NL, IP_JP resolve to their countries).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    IP_JP,
    IP_NL,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    WINDOWS_EDGE,
    Backend,
    Clock,
    settings,
)

from sessionwarden import DetectionSettings, Event, SessionManager
from sessionwarden.networks import NetworkResolver
from sessionwarden.settings import RULE_SEVERITIES

MINUTE, HOUR, DAY = 60, 3600, 86400


def make(backend: Backend, clock: Clock, **detection: Any) -> SessionManager:
    return backend.manager(settings(detection=DetectionSettings(**detection)), clock=clock)


def findings(mgr: SessionManager, rule: str | None = None) -> list[Event]:
    events = [e for e in reversed(mgr.recent_events(1000)) if e.type in RULE_SEVERITIES]
    return [e for e in events if rule is None or e.type == rule]


def login(mgr: SessionManager, ip: str = IP_US, ua: str = MAC_CHROME, **kw: Any) -> Any:
    return mgr.create_session("alice", user_agent=ua, ip=ip, **kw)


# --------------------------------------------------------------------------- familiar places


def test_travel_between_two_familiar_places_is_not_impossible(backend: Backend,
                                                               clock: Clock) -> None:
    mgr = make(backend, clock)
    login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_JP)  # a trip: JP becomes known (and, while the account learns, familiar)
    clock.advance(DAY)
    login(mgr, IP_US)
    before = len(findings(mgr))
    clock.advance(20 * MINUTE)
    login(mgr, IP_JP)  # US -> JP in 20 minutes, both familiar: a VPN switched on, not travel
    assert findings(mgr)[before:] == []


def test_a_place_is_familiar_after_familiar_logins_from_known_devices(backend: Backend,
                                                                      clock: Clock) -> None:
    # unfamiliar_country weighed up so that it shows on its own
    mgr = make(backend, clock, learning_period=timedelta(seconds=1), familiar_logins=2,
               weights={"unfamiliar_country": 1.0})
    login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_NL)  # known in NL now, one sign-in from a known device: not yet familiar
    clock.advance(DAY)
    first = login(mgr, IP_US)
    clock.advance(DAY)
    mgr.validate_session(first.token, ip=IP_NL, user_agent=MAC_CHROME)
    assert findings(mgr)[-1].details["signals"] == ["unfamiliar_country"]
    clock.advance(DAY)
    login(mgr, IP_NL)  # the second: familiar
    clock.advance(DAY)
    second = login(mgr, IP_US)
    clock.advance(DAY)
    count = len(findings(mgr))
    mgr.validate_session(second.token, ip=IP_NL, user_agent=MAC_CHROME)
    assert len(findings(mgr)) == count


def test_an_alerting_sign_in_does_not_make_its_place_familiar(backend: Backend,
                                                              clock: Clock) -> None:
    mgr = make(backend, clock)
    login(mgr, IP_US)
    clock.advance(20 * MINUTE)
    login(mgr, IP_JP, WINDOWS_EDGE)  # a takeover: new device, new country, too fast
    assert findings(mgr)[-1].severity in ("high", "critical")
    record = backend.raw().hgetall(mgr.core.keys.for_user("alice").record)
    assert record[b"c:JP"].endswith(b"|0")  # known, with no familiar sign-in
    assert record[b"c:US"].endswith(b"|1")
    assert not any(k.startswith(b"w:85") for k in record)  # its network was not kept


def test_declared_known_network_is_location_neutral(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, known_networks=("193.0.6.0/24",))
    login(mgr, IP_US)
    clock.advance(10 * MINUTE)
    vpn = login(mgr, IP_NL, country="NL")  # the corporate VPN's exit, minutes later
    clock.advance(10 * MINUTE)
    login(mgr, IP_US)
    assert findings(mgr) == []
    assert vpn.session.country is None  # a session on a known network is everywhere
    # the session in use hops country with the VPN: no place check on a known network
    home = login(mgr, IP_US)
    clock.advance(5 * MINUTE)
    assert mgr.validate_session(home.token, ip=IP_NL, user_agent=MAC_CHROME) is not None
    assert findings(mgr) == []


def test_known_networks_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="known_networks"):
        DetectionSettings(known_networks=("10.0.0.0/33",))
    with pytest.raises(ValueError, match="weights"):
        DetectionSettings(weights={"new_device": -1})
    with pytest.raises(ValueError, match="unknown signal"):
        DetectionSettings(weights={"vibes": 1.0})
    with pytest.raises(ValueError, match="increasing"):
        DetectionSettings(medium_at=9.0, high_at=5.0)


@pytest.fixture(scope="module")
def asn_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small GeoLite2-ASN-shaped database, written with mmdb-writer."""
    mmdb_writer = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    writer = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True,
                                    database_type="GeoLite2-ASN", languages=["en"],
                                    description="sessionwarden test")
    for net, number, org in (("193.0.6.0/24", 3333, "RIPE NCC"),
                             ("133.11.0.0/16", 64500, "Example VPN Hosting Ltd"),
                             ("8.8.8.0/24", 15169, "Google LLC")):
        writer.insert_network(netaddr.IPSet([net]), {
            "autonomous_system_number": number, "autonomous_system_organization": org})
    path = tmp_path_factory.mktemp("asn") / "GeoLite2-ASN-test.mmdb"
    writer.to_db_file(str(path))
    return path


def test_asn_database_names_networks_and_hosting(asn_db: Path) -> None:
    resolver = NetworkResolver(asn_db)
    rules = DetectionSettings(hosting_asns=frozenset({15169}))
    assert resolver.describe(IP_NL, "public", rules).key == "a3333"
    assert not resolver.describe(IP_NL, "public", rules).hosting
    jp = resolver.describe(IP_JP, "public", rules)
    assert (jp.key, jp.hosting, jp.org) == ("a64500", True, "Example VPN Hosting Ltd")  # word
    assert resolver.describe(IP_US, "public", rules).hosting  # listed AS number
    # outside the database: the address's /24 (IPv4) or /48 (IPv6) prefix
    assert resolver.describe("9.9.9.9", "public", rules).key == "090909"
    assert resolver.describe("2001:db8:1:2::1", "public", rules).key == "20010db80001"
    assert resolver.describe("10.1.2.3", "private", rules).key == ""
    resolver.close()
    with pytest.raises(ValueError, match="asn_mmdb_path"):
        NetworkResolver(asn_db.with_name("missing.mmdb"))


def test_hosting_network_is_weighed_never_an_alert_alone(backend: Backend, clock: Clock,
                                                          asn_db: Path) -> None:
    mgr = backend.manager(settings(asn_mmdb_path=str(asn_db)), clock=clock)
    login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_JP)  # a known device through a VPN exit in Japan
    (event,) = findings(mgr)
    assert "hosting_network" in event.details["signals"]
    assert "impossible_travel" not in event.details["signals"]  # the exit explains a jump
    assert event.severity == "low"


# --------------------------------------------------------------------------- assessment


def test_one_assessment_lists_every_signal_and_why(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    login(mgr, IP_US)
    clock.advance(20 * MINUTE)
    attacker = login(mgr, IP_JP, WINDOWS_EDGE)
    events = findings(mgr)
    assert {e.type for e in events} == {"new_device", "new_country", "impossible_travel"}
    assert len({(e.severity, e.details["score"], tuple(e.details["signals"]))
                for e in events}) == 1  # one assessment, carried by each rule's event
    first = events[0].details
    assert first["signals"] == ["new_device", "new_country", "unfamiliar_network",
                                "impossible_travel"]
    assert len(first["why"]) == 4 and all(isinstance(w, str) and w for w in first["why"])
    assert first["score"] == 6.0 and events[0].severity == "high"
    assert {e.session_id for e in events} == {attacker.session_id}


def test_a_travellers_first_sign_in_abroad_is_low_a_new_device_there_is_not(
        backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_JP)
    assert {e.severity for e in findings(mgr)} == {"low"}
    clock.advance(DAY)
    login(mgr, IP_NL, WINDOWS_EDGE)  # a new device in a new country
    assert findings(mgr)[-1].severity in ("medium", "high")


def test_weights_and_cuts_are_configurable(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, weights={"new_country": 5.0})
    login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_JP)
    assert findings(mgr)[-1].severity == "high"  # 5.0 + 0.5 (network) >= high_at 5.5
    quiet = make(backend, clock, low_at=9.0, medium_at=9.5, high_at=9.8, critical_at=9.9)
    quiet.create_session("bob", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(DAY)
    quiet.create_session("bob", user_agent=WINDOWS_EDGE, ip=IP_NL)
    assert [e for e in findings(quiet) if e.user_id == "bob"] == []


# --------------------------------------------------------------------------- incidents


def test_findings_of_one_user_share_one_incident_delivered_once(backend: Backend,
                                                                 clock: Clock) -> None:
    mgr = make(backend, clock)
    assert mgr.ensure_alert_group()
    login(mgr, IP_US)
    proxies = [("9.9.9.9", c) for c in ("NL", "JP", "BR", "RU", "VN", "NG", "ID", "TR")]
    for ip, country in proxies:  # slow credential stuffing through rotating proxies
        clock.advance(15 * MINUTE)
        login(mgr, ip, "python-requests/2.31.0", country=country)
    events = findings(mgr)
    assert len(events) > len(proxies)
    assert len({e.details["incident"] for e in events}) == 1
    delivered = mgr.read_alerts("test", count=1000).alerts
    assert 1 <= len(delivered) <= 2  # opened, at most one escalation
    assert [a.event.details["notify"] for a in delivered] == [True] * len(delivered)
    assert sum(e.details["notify"] for e in events) == len(delivered)
    clock.advance(2 * DAY)  # a quiet incident window later: a new incident
    login(mgr, IP_NL, IPHONE_SAFARI)
    assert findings(mgr)[-1].details["incident"] != events[0].details["incident"]


def test_known_shared_account_does_not_keep_re_alerting(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    team = [(IP_US, MAC_CHROME), (IP_NL, WINDOWS_EDGE), (IP_JP, IPHONE_SAFARI)]
    for _day in range(10):
        for ip, ua in team:
            mgr.create_session("team", user_agent=ua, ip=ip)
            clock.advance(20 * MINUTE)
        clock.advance(DAY)
    shared = [e for e in findings(mgr, "shared_account") if e.user_id == "team"]
    assert len(shared) == 1  # then a known shared account for shared_known_for (30 days)


def test_shared_account_does_not_fire_again_after_an_eviction(backend: Backend,
                                                              clock: Clock) -> None:
    """Regression (issue 11): one iPhone user agent, default settings, sign-ins a day apart
    from DE, US, GB, US, US, FR: the eviction of DE made FR look like a third live country and
    the FR sign-in raised a second shared_account alert."""
    mgr = backend.manager(settings(), clock=clock)
    for country in ("DE", "US", "GB", "US", "US", "FR"):
        last = mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip="9.9.9.9",
                                  country=country)
        clock.advance(DAY)
    shared = findings(mgr, "shared_account")
    assert len(shared) <= 1
    assert all(e.session_id != last.session_id for e in shared)


# --------------------------------------------------------------------------- suspect session


def assert_the_link_ends_only(mgr: SessionManager, alert: Event, suspect: Any,
                              owner: Any) -> None:
    """The alert's "not you?" link ends the suspect's session, not the owner's."""
    assert mgr.revoke_from_alert(mgr.create_alert_action(alert.id)) == 1
    assert mgr.validate_session(suspect.token) is None
    assert mgr.validate_session(owner.token) is not None


def test_the_alert_names_the_other_session_and_its_link_revokes_that_one(
        backend: Backend, clock: Clock) -> None:
    """The owner signs in at home on her Mac; a thief signs in from Japan on the same kind of
    Mac; the owner signs in at home again: that sign-in is evidence that the *other* session
    (the unfamiliar place) is the attacker's. The alert names it, and the "not you?" link
    ends it, never the owner's current session."""
    mgr = make(backend, clock, learning_period=timedelta(seconds=1))  # an established account
    login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_US)  # the US: familiar (2 sign-ins from known devices)
    clock.advance(DAY)
    thief = login(mgr, IP_JP)  # only low: a known kind of device in a new country
    clock.advance(10 * MINUTE)
    owner = login(mgr, IP_US)
    on_owner = [e for e in findings(mgr) if e.at.timestamp() == clock.now]
    assert on_owner and all(e.session_id == thief.session_id for e in on_owner)
    assert on_owner[0].details["suspect_session"] == thief.session_id
    assert_the_link_ends_only(mgr, on_owner[0], thief, owner)


def test_a_takeovers_alert_link_revokes_the_attackers_session(backend: Backend,
                                                               clock: Clock) -> None:
    mgr = make(backend, clock)
    owner = login(mgr, IP_US)
    clock.advance(20 * MINUTE)
    attacker = login(mgr, IP_JP, WINDOWS_EDGE)
    alert = next(e for e in findings(mgr) if e.details["notify"])
    assert alert.session_id == attacker.session_id
    assert_the_link_ends_only(mgr, alert, attacker, owner)


# --------------------------------------------------------------------------- blind spots


def test_live_token_from_another_country_is_reported_once(backend: Backend,
                                                          clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    clock.advance(10 * MINUTE)
    # the same kind of device, another country, minutes later: the stolen token
    assert mgr.validate_session(session.token, ip=IP_JP, user_agent=MAC_CHROME) is not None
    (event,) = findings(mgr, "device_mismatch")
    assert event.details["mismatch"] == "place"
    assert event.details["signals"] == ["new_country", "device_elsewhere"]
    assert event.severity in ("medium", "high")
    assert event.session_id == session.session_id
    for _ in range(3):  # once per session and place
        clock.advance(2 * MINUTE)
        mgr.validate_session(session.token, ip=IP_JP, user_agent=MAC_CHROME)
    assert len(findings(mgr, "device_mismatch")) == 1


def test_the_country_hint_is_used_for_the_place_check(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    clock.advance(10 * MINUTE)
    assert mgr.validate_session(session.token, ip="9.9.9.9", user_agent=MAC_CHROME,
                                country="JP", city="Tokyo") is not None
    (event,) = findings(mgr, "device_mismatch")
    assert event.details["country"] == "JP"


def test_a_session_used_abroad_after_a_plausible_trip_is_low(backend: Backend,
                                                             clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    clock.advance(DAY)  # a flight later
    assert mgr.validate_session(session.token, ip=IP_JP, user_agent=MAC_CHROME) is not None
    (event,) = findings(mgr, "device_mismatch")
    assert event.severity == "low" and event.details["signals"] == ["new_country"]


def test_familiar_places_are_no_place_check(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    clock.advance(DAY)
    login(mgr, IP_JP)  # the account's known device signed in from Japan: familiar (learning)
    clock.advance(DAY)
    count = len(findings(mgr))
    assert mgr.validate_session(session.token, ip=IP_JP, user_agent=MAC_CHROME) is not None
    assert len(findings(mgr)) == count


def test_an_empty_user_agent_is_weak_evidence_once(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    clock.advance(MINUTE)
    assert mgr.validate_session(session.token, ip=IP_US) is not None  # None: not given
    assert findings(mgr) == []
    for _ in range(3):
        clock.advance(MINUTE)
        assert mgr.validate_session(session.token, ip=IP_US, user_agent="") is not None
    (event,) = findings(mgr, "device_mismatch")
    assert (event.severity, event.details["signals"]) == ("low", ["no_user_agent"])


def test_an_empty_user_agent_from_another_place_adds_up(backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    clock.advance(10 * MINUTE)
    mgr.validate_session(session.token, ip=IP_JP, user_agent="")
    (event,) = findings(mgr, "device_mismatch")
    assert event.details["signals"] == ["new_country", "device_elsewhere", "no_user_agent"]
    assert event.severity == "high"


def test_own_device_without_user_agent_keeps_the_tombstones_report(backend: Backend,
                                                                   clock: Clock) -> None:
    """Regression (issue 11): the user's own client presenting its revoked token without a
    User-Agent used up the tombstone's one report, so the thief presenting it later from
    another kind of device was not reported."""
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    mgr.revoke_session("alice", session.session_id)
    clock.advance(MINUTE)
    assert mgr.validate_session(session.token, ip=IP_US, user_agent="") is None
    assert [e.severity for e in findings(mgr, "revoked_token_used")] == ["low"]
    clock.advance(MINUTE)
    assert mgr.validate_session(session.token, ip=IP_NL, user_agent=WINDOWS_EDGE) is None
    reports = findings(mgr, "revoked_token_used")
    assert [e.severity for e in reports] == ["low", "high"]
    assert reports[-1].details["same_device"] is False


def test_the_place_check_keeps_validate_at_one_round_trip(backend: Backend,
                                                          clock: Clock) -> None:
    from test_round_trips import counting

    mgr = make(backend, clock)
    token = login(mgr, IP_US).token
    sent = counting(mgr)
    for ip in (IP_US, "8.8.4.4", IP_US):  # another address in the session's own country
        assert mgr.validate_session(token, ip=ip, user_agent=MAC_CHROME) is not None
    # the fast path: one GET each (the first may carry the not-before epoch's GET with it, in
    # the same round trip)
    assert [s.removesuffix("+epoch") for s in sent] == ["Command"] * 3
    sent.clear()
    mgr.validate_session(token, ip=IP_JP, user_agent=MAC_CHROME)
    assert sent == ["Eval", "Batch"]  # the script marks the place; the report follows
    sent.clear()
    mgr.validate_session(token, ip=IP_JP, user_agent=MAC_CHROME)
    assert sent == ["Command"]  # that place is reported: the fast path again
