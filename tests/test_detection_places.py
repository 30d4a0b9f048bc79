"""Where a request is, judged from what the account really knows (issue 11, the trace's
remaining false alerts and misses), on both backends:

* a country learnt while the account was new stays familiar after its learning period;
* a VPN exit (a hosting network) is no place of the user's: the next sign-in does not travel
  from it, and a session presented through one is not marked as having been there;
* a live session last presented from here is not "in use elsewhere" for its device's sign-in;
* a token of a session that ended on its own (signed out, rotated out), presented again by the
  same kind of device from a country the account does not know, is ``medium``, not ``low``;
  one ended with others or evicted stays ``low`` wherever its device goes.

Time is the test's `clock`; IP_US, IP_NL and IP_JP resolve to their countries offline (with
the ASN file, IP_JP is a VPN hosting network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import IP_JP, IP_NL, IP_US, IPHONE_SAFARI, MAC_CHROME, WINDOWS_EDGE, Backend, Clock
from conftest import settings as make_settings
from test_detection_precision import asn_db, findings, login, make

from sessionwarden import SessionManager

__all__ = ["asn_db"]  # the module-scoped fixture, shared with test_detection_precision

MINUTE, HOUR, DAY = 60, 3600, 86400


def signals(mgr: SessionManager, rule: str | None = None) -> list[str]:
    return list(findings(mgr, rule)[-1].details["signals"])


# --------------------------------------------------------------------------- learnt places


def test_a_country_learnt_while_the_account_was_new_stays_familiar(backend: Backend,
                                                                   clock: Clock) -> None:
    """Regression: after the learning period a country seen once in it (the home of an account
    whose sessions last) read as unfamiliar again, and a new phone at home was medium."""
    mgr = make(backend, clock)  # learning_period 14 days, familiar_logins 2
    login(mgr, IP_US)  # the account's first sign-in: US learnt (one sign-in while new)
    clock.advance(20 * DAY)
    login(mgr, IP_US, IPHONE_SAFARI)  # a new phone at home, after the learning period
    (event,) = findings(mgr)
    assert "unfamiliar_country" not in event.details["signals"]
    assert event.severity == "low"


def test_a_country_first_seen_after_the_learning_period_needs_familiar_logins(
        backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock, weights={"unfamiliar_country": 1.0})
    login(mgr, IP_US)
    clock.advance(20 * DAY)
    login(mgr, IP_NL)  # known from now on, but one sign-in: not familiar
    clock.advance(DAY)
    session = login(mgr, IP_US)
    clock.advance(DAY)
    mgr.validate_session(session.token, ip=IP_NL, user_agent=MAC_CHROME)
    assert signals(mgr, "device_mismatch") == ["unfamiliar_country"]


# --------------------------------------------------------------------------- VPN exits


def test_a_vpn_exit_is_not_where_the_next_sign_in_travels_from(backend: Backend, clock: Clock,
                                                               asn_db: Path) -> None:
    """Regression: switching a commercial VPN off (its exit in Japan) and signing in from home
    minutes later was impossible travel from the exit, and medium with the device's sign-in
    there."""
    mgr = backend.manager(make_settings(asn_mmdb_path=str(asn_db)), clock=clock)
    login(mgr, IP_NL)
    clock.advance(20 * DAY)  # past the learning period: NL is familiar (learnt), JP is not
    login(mgr, IP_JP)  # the VPN on: a hosting network, exit in Japan
    before = len(findings(mgr))
    clock.advance(6 * MINUTE)
    login(mgr, IP_NL)  # the VPN off, at home
    after = findings(mgr)[before:]
    assert after and all("impossible_travel" not in e.details["signals"] for e in after)
    assert {e.severity for e in after} == {"low"}


def test_a_session_presented_through_a_vpn_is_not_marked_as_there(backend: Backend,
                                                                  clock: Clock,
                                                                  asn_db: Path) -> None:
    mgr = backend.manager(make_settings(asn_mmdb_path=str(asn_db)), clock=clock)
    session = login(mgr, IP_US)
    clock.advance(HOUR)
    assert mgr.validate_session(session.token, ip=IP_JP, user_agent=MAC_CHROME) is not None
    assert findings(mgr) == []  # a hosting network alone is no alert
    raw = backend.raw().get(mgr.core.keys.for_user("alice").session(
        session.session_id[len(mgr.core.keys.for_user("alice").tag):]))
    assert b"@JP," not in raw  # not a place the session was in use
    clock.advance(10 * MINUTE)  # the same session from the Netherlands: judged from the US
    mgr.validate_session(session.token, ip=IP_NL, user_agent=MAC_CHROME)
    (event,) = findings(mgr, "device_mismatch")
    assert "from Japan" not in event.details["reason"]


# --------------------------------------------------------------------------- live sessions


def test_a_session_last_presented_here_is_not_in_use_elsewhere(backend: Backend,
                                                               clock: Clock) -> None:
    """Regression: a phone's session created at home and in use abroad, then the phone signing
    in abroad (its cookie lost) was "the same kind of device in use" at home: medium."""
    mgr = make(backend, clock)
    session = login(mgr, IP_US, IPHONE_SAFARI)
    clock.advance(DAY)  # a flight later, the session in use in Japan (reported, low)
    assert mgr.validate_session(session.token, ip=IP_JP, user_agent=IPHONE_SAFARI) is not None
    clock.advance(30 * MINUTE)
    login(mgr, IP_JP, IPHONE_SAFARI)  # the cookie lost: a new sign-in, in Japan
    assert "device_elsewhere" not in signals(mgr)
    assert findings(mgr)[-1].severity == "low"


# --------------------------------------------------------------------------- replayed tokens


def replay_from_japan(mgr: SessionManager, token: str, ua: str = MAC_CHROME) -> Any:
    assert mgr.validate_session(token, ip=IP_JP, user_agent=ua) is None
    return findings(mgr, "revoked_token_used")[-1]


def test_a_signed_out_token_replayed_from_an_unknown_country_is_medium(backend: Backend,
                                                                       clock: Clock) -> None:
    """Regression: a copied token presented after its owner signed out, by the same kind of
    device from another country, was ``low`` (the signed-out device itself, it assumed)."""
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    assert mgr.revoke_session("alice", session.session_id, actor="user", reason="signed out")
    clock.advance(3 * HOUR)
    event = replay_from_japan(mgr, session.token)
    assert event.severity == "medium"
    assert event.details["same_device"] is True
    assert (event.details["country"], event.details["session_country"]) == ("JP", "US")
    assert "which the account does not know" in event.details["reason"]


def test_a_signed_out_token_from_its_own_country_or_a_familiar_one_stays_low(
        backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    login(mgr, IP_JP)  # Japan: learnt while the account is new
    clock.advance(DAY)
    session = login(mgr, IP_US)
    mgr.revoke_session("alice", session.session_id, actor="user", reason="signed out")
    clock.advance(HOUR)
    assert replay_from_japan(mgr, session.token).severity == "low"
    other = login(mgr, IP_US)
    mgr.revoke_session("alice", other.session_id, actor="user", reason="signed out")
    assert mgr.validate_session(other.token, ip=IP_US, user_agent=MAC_CHROME) is None
    assert findings(mgr, "revoked_token_used")[-1].severity == "low"


def test_tokens_ended_with_others_or_evicted_stay_low_wherever_they_go(
        backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(make_settings(max_sessions=2), clock=clock)
    laptop = login(mgr, IP_US)
    clock.advance(MINUTE)
    phone = login(mgr, IP_US, IPHONE_SAFARI)
    # "sign out everywhere else" (a password change): the laptop was never told
    assert mgr.revoke_all_sessions("alice", except_token=phone.token, actor="user",
                                   reason="password changed") == 1
    clock.advance(DAY)
    assert replay_from_japan(mgr, laptop.token).severity == "low"
    evicted = login(mgr, IP_US)
    clock.advance(MINUTE)
    login(mgr, IP_US, WINDOWS_EDGE)
    login(mgr, IP_US, IPHONE_SAFARI)  # the limit (2) evicts the oldest: ``evicted``
    clock.advance(DAY)
    event = replay_from_japan(mgr, evicted.token)
    assert event.details["revoked_reason"] == "evicted"
    assert event.severity == "low"


def test_a_tombstone_written_before_it_kept_the_country_still_reads(backend: Backend,
                                                                    clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    mgr.revoke_session("alice", session.session_id, actor="user", reason="signed out")
    keys = mgr.core.keys.for_user("alice")
    tomb = keys.tombstone(session.session_id[len(keys.tag):])
    raw = backend.raw()
    value = raw.get(tomb)
    assert value[41:43] == b"US"  # hash, flag, class key, then the session's country
    raw.set(tomb, value[:41] + value[43:], keepttl=True)  # the layout before
    clock.advance(HOUR)
    event = replay_from_japan(mgr, session.token)
    assert event.severity == "low"  # no country to judge the place by
    assert event.details["revoked_reason"] == "signed out"
    assert 59 <= event.details["minutes_since_revocation"] <= 61


def test_a_rotated_out_token_replayed_from_an_unknown_country_is_medium(
        backend: Backend, clock: Clock) -> None:
    mgr = make(backend, clock)
    session = login(mgr, IP_US)
    rotated = mgr.rotate_session(session.token)
    assert rotated is not None
    clock.advance(2 * HOUR)
    event = replay_from_japan(mgr, session.token)
    assert event.details["revoked_reason"] == "rotated"
    assert event.severity == "medium"


def test_a_session_with_no_country_is_judged_by_the_accounts_places(backend: Backend,
                                                                     clock: Clock) -> None:
    """Regression: a session made on a declared known network (no country of its own) had no
    place check at all: its token presented from anywhere raised nothing."""
    mgr = make(backend, clock, known_networks=("193.0.6.0/24",))
    login(mgr, IP_US)  # home
    clock.advance(HOUR)
    office = login(mgr, IP_NL, country="NL")  # through the corporate VPN: no country
    assert office.session.country is None
    clock.advance(HOUR)
    assert mgr.validate_session(office.token, ip=IP_US, user_agent=MAC_CHROME) is not None
    assert findings(mgr) == []  # home: a familiar place
    clock.advance(DAY)
    assert mgr.validate_session(office.token, ip=IP_JP, user_agent=MAC_CHROME) is not None
    (event,) = findings(mgr, "device_mismatch")
    assert event.details["signals"] == ["new_country"] and event.severity == "low"
    assert "no place of its own" in event.details["reason"]
