"""Hostile input never reaches a stored field raw (issue #7, item 2).

Every text argument of `create_session` and `validate_session` either raises a ``ValueError``
whose message starts with ``<argument>:`` (nothing written), or round-trips: the session comes
back with exactly the user id given, and the stored record splits into exactly its fields, none
holding a control character. The property runs on fakeredis (speed); the concrete attacks run on
both backends.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import fakeredis
import pytest
from conftest import (
    IP_US,
    IPHONE_SAFARI,
    MAC_CHROME,
    RECORD_FIELDS,
    Backend,
    session_record,
    settings,
)
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sessionwarden import SessionManager, devices
from sessionwarden.codec import (
    MAX_DETAIL_TEXT,
    check_record_fields,
    details_json,
    encode_description,
    event_fields,
    event_from_entry,
    record_text,
)
from sessionwarden.geo import Place
from sessionwarden.keys import KeySchema
from sessionwarden.sanitize import require_ip, require_user_id
from sessionwarden.settings import DetectionSettings

# -- the reported attacks ----------------------------------------------------------------------

# A zone id holding the record separator: accepted before, it split the packed record so that
# validate returned a user id, country and fingerprint of the caller's choosing (and, with
# bind_to_device, a class key that never mismatches).
SPLITTING_ZONE = "fe80::1%\x1fUS\x1f\x1f\x1f0000000000000000\x1f\x1f\x1fx"
ZONE_ATTACKS = [
    SPLITTING_ZONE,
    "fe80::1%\x1b]0;T\x07",  # a terminal title escape
    "fe80::1%\x00",
    "fe80::1%\n",
    "fe80::1%\udcff",  # a lone surrogate: UnicodeEncodeError before
    "fe80::1%eth0",  # even a harmless-looking one: refused by decision
    "fe80::1%1",
]


def _record(raw: Any, user_id: str, session_id: str) -> dict[str, bytes]:
    return session_record(raw, KeySchema("sw").for_user(user_id).session(session_id[16:]))


def _assert_clean_record(raw: Any, user_id: str, session_id: str) -> dict[str, bytes]:
    """The stored record of the session: exactly 11 fields after the 32-byte hash (exactly 10
    separators, so no field was split), each valid UTF-8 without any control character, and
    the user id field exactly the user id given."""
    value = raw.get(KeySchema("sw").for_user(user_id).session(session_id[16:]))
    assert value[32:].count(b"\x1f") == len(RECORD_FIELDS) - 1, value
    record = _record(raw, user_id, session_id)
    for name in RECORD_FIELDS:
        text = record[name].decode("utf-8")  # strict: no invalid UTF-8
        bad = [ch for ch in text if unicodedata.category(ch) == "Cc"]
        assert not bad, (name, text)
    assert record["u"] == user_id.encode("utf-8")
    return record


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _assert_clean_events(mgr: SessionManager, count: int = 10) -> None:
    for entry in mgr.recent_events(count):
        for text in _strings(entry.details):
            assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text), text


@pytest.mark.parametrize("ip", ZONE_ATTACKS)
def test_zone_id_is_refused_and_nothing_written(backend: Backend, ip: str) -> None:
    mgr = backend.manager()
    with pytest.raises(ValueError, match=r"^ip: an IPv6 zone id"):
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=ip)
    assert backend.raw().dbsize() == 0
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    with pytest.raises(ValueError, match=r"^ip: an IPv6 zone id"):
        mgr.validate_session(created.token, ip=ip)


def test_splitting_zone_cannot_forge_a_session_or_disarm_bind_to_device(
        backend: Backend) -> None:
    """The attack end to end: before, the record split and validate returned user id
    'x\\x1f...alice', country US, fingerprint 0000000000000000, and a presenter from another
    kind of device was no longer revoked under bind_to_device."""
    mgr = backend.manager(settings(detection=DetectionSettings(bind_to_device=True)))
    with pytest.raises(ValueError, match=r"^ip:"):
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=SPLITTING_ZONE)
    assert backend.raw().dbsize() == 0
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip="fe80::1")
    session = mgr.validate_session(created.token, user_agent=MAC_CHROME)
    assert (session.user_id, session.ip, session.fingerprint) == (
        "alice", "fe80::1", created.session.fingerprint)
    _assert_clean_record(backend.raw(), "alice", created.session_id)
    assert mgr.validate_session(created.token, user_agent=IPHONE_SAFARI) is None  # revoked
    assert mgr.validate_session(created.token, user_agent=MAC_CHROME) is None


@pytest.mark.parametrize("given_ip", ["::ffff:8.8.8.8", "::FFFF:8.8.8.8", "::ffff:808:808",
                                      "0:0:0:0:0:ffff:8.8.8.8",
                                      "0000:0000:0000:0000:0000:ffff:8.8.8.8"])
def test_ipv4_mapped_address_is_stored_and_shown_as_ipv4(backend: Backend,
                                                         given_ip: str) -> None:
    mgr = backend.manager()
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=given_ip)
    assert created.session.ip == "8.8.8.8"
    assert created.session.country == "US"
    assert mgr.validate_session(created.token, ip=given_ip).ip == "8.8.8.8"
    assert mgr.get_active_sessions("alice")[0].ip == "8.8.8.8"
    assert _assert_clean_record(backend.raw(), "alice", created.session_id)["ip"] == b"8.8.8.8"


@pytest.mark.parametrize("given_ip,canonical", [
    ("::ffff:1.2.3.4", "1.2.3.4"), ("::ffff:0102:0304", "1.2.3.4"), ("1.2.3.4", "1.2.3.4"),
    ("2001:DB8:0:0::1", "2001:db8::1"), ("::1", "::1"), ("fe80::1", "fe80::1"),
    ("::1.2.3.4", "::102:304"),  # IPv4-compatible (deprecated), not mapped: stays IPv6
    ("0000:0000:0000:0000:0000:ffff:255.255.255.255", "255.255.255.255"),  # 45 characters
])
def test_require_ip_canonical_form_is_the_same_on_every_python(given_ip: str,
                                                                canonical: str) -> None:
    assert require_ip(given_ip) == canonical
    assert require_ip(given_ip) == canonical  # and again from the memo


@pytest.mark.parametrize("ip,message", [
    (" 1.2.3.4", "surrounding white space"), ("1.2.3.4 ", "surrounding white space"),
    ("\t::1", "surrounding white space"), ("1.2.3.4\n", "surrounding white space"),
    ("fe80::1%eth0", "an IPv6 zone id"), ("1.2.3.4\x1f", "not a valid"),
    ("1.2.\x003.4", "not a valid"), ("\udcff", "not a valid"), ("１.２.３.４", "not a valid"),
    ("1.2.3.4/24", "not a valid"), ("x" * 46, "expected an IPv4 or IPv6 address"),
    ("0" * 1_000_000, "expected an IPv4 or IPv6 address"), ("", "expected"),
    (None, "expected"), (16909060, "expected"), (b"1.2.3.4", "expected"), (["::1"], "expected"),
])
def test_require_ip_refuses_with_a_value_error_naming_ip(ip: Any, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^ip: {message}") as caught:
        require_ip(ip)
    assert caught.value.__cause__ is None
    assert str(caught.value).isprintable()


# -- user ids ----------------------------------------------------------------------------------

REFUSED_USER_IDS = [
    "\u202eadmin", "admin\u202c", "a\u2066b\u2069", "a\u200bb", "a\u200db", "\ufeffalice",
    "a\u00adb", "a\u2028b", "a\u2029b", " ", "\u3000\u00a0", "\t", "a\x1fb", "a\x85b",
    "a\udcffb",
]


@pytest.mark.parametrize("user_id", REFUSED_USER_IDS)
def test_user_id_with_bidi_zero_width_separator_or_blank_is_refused(backend: Backend,
                                                                    user_id: str) -> None:
    mgr = backend.manager()
    with pytest.raises(ValueError, match=r"^user_id:"):
        mgr.create_session(user_id, user_agent=MAC_CHROME, ip=IP_US)
    with pytest.raises(ValueError, match=r"^user_id:"):
        mgr.get_active_sessions(user_id)
    assert backend.raw().dbsize() == 0


@pytest.mark.parametrize("user_id", ["alice", "名前", "user@example.com", " padded ", "\ue000",
                                     "\U000e0fff", "a b", "👩", "é" * 128])
def test_user_ids_without_refused_characters_round_trip(backend: Backend, user_id: str) -> None:
    """Private-use and unassigned code points are accepted (see require_user_id)."""
    mgr = backend.manager()
    created = mgr.create_session(user_id, user_agent=MAC_CHROME, ip=IP_US)
    assert mgr.validate_session(created.token).user_id == user_id
    assert [v.user_id for v in mgr.get_active_sessions(user_id)] == [user_id]
    _assert_clean_record(backend.raw(), user_id, created.session_id)


def test_require_user_id_names_what_it_refuses() -> None:
    with pytest.raises(ValueError, match=r"^user_id: must not contain format characters .*"
                                         r"\(U\+202E\)"):
        require_user_id("\u202eevil")
    with pytest.raises(ValueError, match=r"^user_id: must not be blank"):
        require_user_id("   ")
    with pytest.raises(ValueError, match=r"^user_id: must not contain line separators"):
        require_user_id("a\u2028")


# -- the codec boundary ------------------------------------------------------------------------

FORBIDDEN_IN_RECORD = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + [
    "\ud800", "\udfff"]


@pytest.mark.parametrize("ch", FORBIDDEN_IN_RECORD, ids=lambda ch: f"U+{ord(ch):04X}")
def test_record_text_refuses_separator_controls_and_surrogates(ch: str) -> None:
    with pytest.raises(ValueError, match=r"^city: must not contain .*"
                                         rf"\(U\+{ord(ch):04X}\) at position 5$"):
        record_text("city", "Paris" + ch)
    with pytest.raises(ValueError, match=r"^fingerprint:"):
        check_record_fields(ip="1.2.3.4", fingerprint=ch)


def test_record_text_accepts_printable_text_as_it_is() -> None:
    for value in ("", "8.8.8.8", "São Paulo", "名前", "a\u2028b", "x" * 10_000, "\u00a0"):
        assert record_text("city", value) is value
    check_record_fields(user_id="alice", ip="::1", country="", network="public", city="",
                        fingerprint="0123456789abcdef", class_key="01234567")
    with pytest.raises(ValueError, match=r"^country: expected str"):
        check_record_fields(country=None)


def test_device_description_refuses_the_separator() -> None:
    assert encode_description("Mac/Chrome", "Chrome", "Mac OS X", "desktop").count("\x1f") == 3
    with pytest.raises(ValueError, match=r"^browser:"):
        encode_description("Mac/Chrome", "Chr\x1fome", "Mac OS X", "desktop")


@pytest.mark.parametrize("place,argument", [
    (Place("US", "public", "Par\x1fis", None, None, False), "city"),
    (Place("U\x1fS", "public", None, None, None, False), "country"),
    (Place("US", "public", "\x1b]0;T\x07", None, None, False), "city"),
])
def test_create_session_refuses_a_record_field_from_any_source(
        backend: Backend, monkeypatch: pytest.MonkeyPatch, place: Place, argument: str) -> None:
    """The boundary holds even when the text comes from somewhere that is not cleaned by
    sanitize (here a place from a broken or hostile geo source): loud, and nothing written."""
    mgr = backend.manager()
    monkeypatch.setattr(mgr.core.geo, "locate", lambda ip, **hints: place)
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    assert backend.raw().dbsize() == 0


# -- event details -----------------------------------------------------------------------------

def test_details_json_cleans_every_string_at_any_depth() -> None:
    hostile = {
        "reason": "\x1b]0;pwned\x07lost \x1b[31mlaptop\x1b[0m",
        "nested": {"list": ["\x00a", ("\u202eb", 1, None, True)], "key\x1b[0m\n": "c\x9b"},
        "long": "x" * 20_000, "n": 1.5, "empty": "", "none": None,
    }
    decoded = event_from_entry("1-0", event_fields("login", "alice", None, "info", 0,
                                                   hostile)).details
    assert decoded == {
        "reason": "lost laptop",
        "nested": {"list": ["a", ["b", 1, None, True]], "key": "c"},
        "long": "x" * MAX_DETAIL_TEXT, "n": 1.5, "empty": "", "none": None,
    }
    assert details_json({"a": "plain text, kept", "b": 3}) == \
        '{"a":"plain text, kept","b":3}'


# -- unauthenticated junk is cheap -------------------------------------------------------------

JUNK_TOKENS = ["", "x", "not-a-token", "A" * 71, "A" * 27 + "." + "B" * 42 + "!", "%" * 5000,
               None, 42, b"A" * 71]


def _novel_user_agents(n: int, seed: str) -> list[str]:
    base = f"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0 {seed}"
    return [(base + f" n{i} " + "Z" * 512)[:512] for i in range(n)]


def test_a_valid_token_with_a_novel_user_agent_is_parsed(backend: Backend) -> None:
    """The control of the test below: the parser's counters do see validate's parsing."""
    mgr = backend.manager()
    token = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US).token
    misses = devices._parse_cached.cache_info().misses
    for ua in _novel_user_agents(5, f"control-{backend.name}"):
        assert mgr.validate_session(token, user_agent=ua) is not None
    assert devices._parse_cached.cache_info().misses == misses + 5


def test_junk_token_with_novel_user_agents_does_no_parsing(backend: Backend) -> None:
    mgr = backend.manager()
    agents = _novel_user_agents(200, f"junk-{backend.name}")
    misses = devices._parse_cached.cache_info().misses
    for i, ua in enumerate(agents):
        assert mgr.validate_session(JUNK_TOKENS[i % len(JUNK_TOKENS)], ip=IP_US,
                                    user_agent=ua) is None
    assert devices._parse_cached.cache_info().misses == misses


@pytest.mark.parametrize("ip", ["not an ip", SPLITTING_ZONE, "\udcff"])
def test_junk_token_with_a_malformed_ip_is_none(backend: Backend, ip: str) -> None:
    assert backend.manager().validate_session("junk", ip=ip) is None


# -- the property: any text, every argument ----------------------------------------------------

_ANY_CHAR = st.one_of(
    st.characters(codec=None, categories=None, exclude_categories=()),  # every category
    st.sampled_from(["\x00", "\x1b", "\x1f", "\x7f", "\x85", "\x9b", "\u202e", "\u200b",
                     "\ufeff", "\u2028", "\u2029", "%", ":", ".", " "]),
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates
)
ANY_TEXT = st.one_of(
    st.text(alphabet=_ANY_CHAR, max_size=40),
    st.text(alphabet=_ANY_CHAR, min_size=1, max_size=4).map(lambda s: s * 250_000),  # ~1 MB
    st.sampled_from([SPLITTING_ZONE, "fe80::1%\x1b]0;T\x07", "\x1b[2J", "a\x1fb", ""]),
)
VALID = {
    "user_id": "alice", "user_agent": MAC_CHROME, "ip": IP_US, "country": None, "city": None,
    "device_id": None, "email": None,
}
CREATE_ARGS = {
    "user_id": st.one_of(ANY_TEXT, st.text(max_size=30), st.text(
        alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
        min_size=1, max_size=30)),
    "user_agent": ANY_TEXT,
    "ip": st.one_of(ANY_TEXT, st.ip_addresses().map(str),
                    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
                    st.tuples(st.ip_addresses(v=6).map(str), ANY_TEXT).map("%".join),
                    st.tuples(st.ip_addresses().map(str), ANY_TEXT).map("".join)),
    "country": st.one_of(ANY_TEXT, st.sampled_from(["US", "fr", " DE ", "U\x1fS"])),
    "city": ANY_TEXT,
    "device_id": ANY_TEXT,
    "email": st.one_of(ANY_TEXT, st.emails(),
                       st.tuples(st.emails(), ANY_TEXT).map("".join)),
}
PROPERTY = hsettings(max_examples=50, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example,
                                            HealthCheck.data_too_large])


def _fake_manager() -> tuple[SessionManager, Any]:
    client = fakeredis.FakeRedis()
    return SessionManager(client, settings()), client


def _create_or_refuse(mgr: SessionManager, raw: Any, kwargs: dict[str, Any],
                      named: tuple[str, ...]) -> None:
    """The property for one call of create_session."""
    before = raw.dbsize()
    try:
        created = mgr.create_session(kwargs["user_id"], **{
            k: v for k, v in kwargs.items() if k != "user_id"})
    except ValueError as exc:
        assert str(exc).split(":", 1)[0] in named, str(exc)
        assert raw.dbsize() == before  # nothing written
        event(f"refused: {str(exc).split(':', 1)[0]}")
        return
    event("accepted")
    user_id = kwargs["user_id"]
    session = mgr.validate_session(created.token)
    assert session is not None and session.user_id == user_id
    assert session.session_id == created.session_id
    views = [v for v in mgr.get_active_sessions(user_id) if v.session_id == created.session_id]
    assert len(views) == 1 and views[0].user_id == user_id
    record = _assert_clean_record(raw, user_id, created.session_id)
    assert record["ip"].decode() == require_ip(kwargs["ip"]) == session.ip
    _assert_clean_events(mgr, 3)


@pytest.mark.parametrize("argument", sorted(CREATE_ARGS))
def test_any_text_in_one_create_argument_is_refused_by_name_or_round_trips(
        argument: str) -> None:
    mgr, raw = _fake_manager()

    @PROPERTY
    @given(value=CREATE_ARGS[argument])
    def check(value: str) -> None:
        _create_or_refuse(mgr, raw, {**VALID, argument: value}, (argument,))

    check()


@PROPERTY
@given(values=st.fixed_dictionaries({
    name: st.one_of(st.just(VALID[name]), hostile) for name, hostile in CREATE_ARGS.items()}))
def test_any_text_in_every_create_argument_at_once(values: dict[str, str]) -> None:
    mgr, raw = _fake_manager()
    _create_or_refuse(mgr, raw, values, tuple(CREATE_ARGS))


def test_any_text_in_validate_arguments_is_refused_by_name_or_answers() -> None:
    mgr, raw = _fake_manager()
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)

    @hsettings(PROPERTY, max_examples=100)
    @given(token=st.booleans().flatmap(lambda valid: st.just(created.token) if valid
                                       else ANY_TEXT),
           ip=st.one_of(st.none(), st.just(IP_US), CREATE_ARGS["ip"]),
           user_agent=st.one_of(st.none(), ANY_TEXT))
    def check(token: str, ip: str | None, user_agent: str | None) -> None:
        try:
            session = mgr.validate_session(token, ip=ip, user_agent=user_agent)
        except ValueError as exc:
            assert str(exc).startswith("ip:"), str(exc)
            event("refused: ip")
            return
        event("valid token" if token == created.token else "junk token")
        if token != created.token:
            assert session is None
        else:  # the default rules alert on a new kind of device, they do not revoke
            assert session is not None and session.user_id == "alice"
            assert session.ip == IP_US  # the stored address, not the presented one
        _assert_clean_record(raw, "alice", created.session_id)
        _assert_clean_events(mgr, 5)

    check()
