""""This wasn't me" links: `create_alert_action` / `revoke_from_alert`, on both backends.

An action token is ``<base64url payload>.<base64url HMAC>``: signed, single use, expiring after
``Settings.alert_action_ttl``. Whatever reaches `revoke_from_alert` from the outside (a link
click, a crawler, a prankster) either does exactly what the signed payload says, once, or
raises `InvalidAlertAction`: never another exception.
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from conftest import (
    IP_JP,
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    WINDOWS_EDGE,
    Backend,
    Clock,
    settings,
)
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sessionwarden import Event, InvalidAlertAction, SessionManager

B64URL = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def mgr(backend: Backend, clock: Clock) -> SessionManager:
    return backend.manager(settings(), clock=clock)


def event_of(mgr: SessionManager, type_: str) -> Event:
    found = [e for e in mgr.recent_events(200) if e.type == type_]
    assert found, f"no {type_} event"
    return found[0]


def takeover(mgr: SessionManager, clock: Clock) -> tuple[Any, Any, Event]:
    """The owner on a Mac in the US, then an attacker's Windows PC in Japan 20 minutes later:
    returns (owner session, attacker session, the impossible_travel event)."""
    owner = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    clock.advance(20 * 60)
    attacker = mgr.create_session("alice", user_agent=WINDOWS_EDGE, ip=IP_JP)
    event = event_of(mgr, "impossible_travel")
    assert event.session_id == attacker.session_id
    return owner, attacker, event


def flip(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by another base64url character."""
    old = text[index]
    new = "A" if old != "A" else "B"
    return text[:index] + new + text[index + 1:]


# --------------------------------------------------------------------------- the happy path


def test_revoke_from_alert_revokes_the_flagged_session(mgr: SessionManager, clock: Clock) -> None:
    owner, attacker, event = takeover(mgr, clock)
    token = mgr.create_alert_action(event.id)
    assert isinstance(token, str) and token.count(".") == 1
    assert set(token) <= set(B64URL + ".")  # safe in a URL as it is

    clock.advance(3600)
    assert mgr.revoke_from_alert(token) == 1
    assert mgr.validate_session(attacker.token) is None
    assert mgr.validate_session(owner.token) is not None  # only the flagged session ended

    revoked = event_of(mgr, "session_revoked")
    assert revoked.session_id == attacker.session_id
    assert revoked.details["actor"] == "account-owner"
    assert event.id in revoked.details["reason"]
    used = event_of(mgr, "alert_action_used")
    assert used.user_id == "alice"
    assert used.session_id == attacker.session_id
    assert used.details == {"actor": "account-owner", "event_id": event.id, "scope": "session",
                            "revoked": 1}
    # the audit trail holds the revocation and the link's use, with the owner as actor
    trail = mgr.audit_trail(user_id="alice")
    assert [(e.kind, e.actor, e.session_id) for e in trail] == [
        ("alert_action_used", "account-owner", attacker.session_id),
        ("session_revoked", "account-owner", attacker.session_id)]
    assert trail[0].details["event_id"] == event.id
    assert [e.kind for e in mgr.audit_trail()] == ["alert_action_used", "session_revoked"]


def test_second_use_is_refused(mgr: SessionManager, clock: Clock) -> None:
    _, _, event = takeover(mgr, clock)
    token = mgr.create_alert_action(event.id)
    assert mgr.revoke_from_alert(token) == 1
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(token)
    assert len([e for e in mgr.recent_events(200) if e.type == "alert_action_used"]) == 1


def test_two_links_for_one_event_are_independent(mgr: SessionManager, clock: Clock) -> None:
    _, _, event = takeover(mgr, clock)
    first, second = mgr.create_alert_action(event.id), mgr.create_alert_action(event.id)
    assert first != second
    assert mgr.revoke_from_alert(first) == 1
    assert mgr.revoke_from_alert(second) == 0  # the session is already gone; nothing more ends
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(second)


def test_scope_all_revokes_every_session(mgr: SessionManager, clock: Clock) -> None:
    owner, attacker, event = takeover(mgr, clock)
    phone = mgr.create_session("alice", user_agent=IPHONE_SAFARI, ip=IP_US)
    bob = mgr.create_session("bob", user_agent=MAC_CHROME, ip=IP_US)
    token = mgr.create_alert_action(event.id, scope="all")
    assert mgr.revoke_from_alert(token) == 3
    for created in (owner, attacker, phone):
        assert mgr.validate_session(created.token) is None
    assert mgr.validate_session(bob.token) is not None  # another user is untouched
    assert mgr.get_active_sessions("alice") == []
    revoked = [e for e in mgr.recent_events(200) if e.type == "session_revoked"]
    assert len(revoked) == 3
    assert all(e.details["actor"] == "account-owner" for e in revoked)
    assert event_of(mgr, "alert_action_used").details["scope"] == "all"


def test_token_still_works_just_before_it_expires(mgr: SessionManager, clock: Clock) -> None:
    _, _, event = takeover(mgr, clock)
    token = mgr.create_alert_action(event.id)
    clock.advance(mgr.settings.alert_action_ttl.total_seconds() - 1)
    assert mgr.revoke_from_alert(token) == 1


# --------------------------------------------------------------------------- refused tokens


def test_expired_token_is_refused(mgr: SessionManager, clock: Clock) -> None:
    _, attacker, event = takeover(mgr, clock)
    token = mgr.create_alert_action(event.id)
    clock.advance(mgr.settings.alert_action_ttl.total_seconds() + 1)
    with pytest.raises(InvalidAlertAction, match="expired"):
        mgr.revoke_from_alert(token)
    assert mgr.validate_session(attacker.token) is not None
    assert not [e for e in mgr.recent_events(200) if e.type == "alert_action_used"]


@pytest.mark.parametrize("part", ["body", "signature"])
@pytest.mark.parametrize("where", [0, 7, -1])
def test_tampered_token_is_refused(
    mgr: SessionManager, clock: Clock, part: str, where: int
) -> None:
    _, attacker, event = takeover(mgr, clock)
    token = mgr.create_alert_action(event.id)
    body, signature = token.split(".")
    if part == "body":
        tampered = flip(body, where) + "." + signature
    else:
        tampered = body + "." + flip(signature, where)
    assert tampered != token
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(tampered)
    assert mgr.validate_session(attacker.token) is not None
    assert mgr.revoke_from_alert(token) == 1  # the genuine token was not used up


def test_token_signed_with_another_secret_is_refused(
    backend: Backend, mgr: SessionManager, clock: Clock
) -> None:
    _, _, event = takeover(mgr, clock)
    other = backend.manager(settings(secret="another-secret-" + "x" * 40), clock=clock)
    forged = other.create_alert_action(event.id)  # same event, same store, wrong key
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(forged)


def test_unknown_event_id_is_a_value_error(mgr: SessionManager, clock: Clock) -> None:
    takeover(mgr, clock)
    for event_id in ("1-0", "99999999999999-0", "1"):
        with pytest.raises(ValueError, match="event_id"):
            mgr.create_alert_action(event_id)
    for malformed in ("", "abc", "1-x", "-", None, 12):
        with pytest.raises(ValueError, match="event_id"):
            mgr.create_alert_action(malformed)  # type: ignore[arg-type]


def test_bad_scope_is_a_value_error(mgr: SessionManager, clock: Clock) -> None:
    _, _, event = takeover(mgr, clock)
    with pytest.raises(ValueError, match="scope"):
        mgr.create_alert_action(event.id, scope="everything")


GARBAGE: list[Any] = [
    None, 123, 1.5, True, b"bytes", [], {}, ("a", "b"), "", ".", "a.b", "a.", ".b", "..",
    "a.b.c", "x" * 5000, "A" * 43 + "." + "B" * 43, "=.=", "%00.%00", " " * 10, "\x00.\x00",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: repr(g)[:20])
def test_garbage_is_refused(mgr: SessionManager, garbage: Any) -> None:
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(garbage)


def test_well_signed_nonsense_payload_is_refused(mgr: SessionManager) -> None:
    """Payloads a future bug could sign: wrong arity, not JSON, not base64."""
    sign = mgr.core._sign
    for body in ("bm90IGpzb24", "WzEsMl0", "e30", "W10", "IiI", "!!!!"):  # not JSON, [1,2], ...
        with pytest.raises(InvalidAlertAction):
            mgr.revoke_from_alert(f"{body}.{sign(body)}")


_ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127))
_TOKEN_SHAPED = st.builds(lambda a, b: f"{a}.{b}", st.text(B64URL, max_size=120),
                          st.text(B64URL, max_size=50))


@hsettings(max_examples=150, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.one_of(_ASCII_TEXT, _TOKEN_SHAPED))
def test_any_ascii_text_is_refused_cleanly(mgr: SessionManager, garbage: str) -> None:
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(garbage)


def test_non_ascii_text_is_refused_cleanly(mgr: SessionManager) -> None:
    for garbage in ("é", "é.x", "abc\u2028.def", "a.\ud800", "\ud800.a"):
        with pytest.raises(InvalidAlertAction):
            mgr.revoke_from_alert(garbage)


@hsettings(max_examples=200, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.text())
@example(garbage="é.x")
def test_any_text_is_refused_cleanly(mgr: SessionManager, garbage: str) -> None:
    with pytest.raises(InvalidAlertAction):
        mgr.revoke_from_alert(garbage)
