"""Session policies, validate(touch=False), re-authentication, rotation and step-up on the
sans-I/O core, fed scripted replies: no Redis at all."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from conftest import MAC_CHROME
from hypothesis import given
from hypothesis import strategies as st
from scripted import (
    DAY,
    HOUR,
    NOW,
    Clock,
    base,
    core,
    drive,
    drive_raises,
    entry,
    record,
    xadd,
    xadd_fields,
)
from test_core_sansio_validate import HASH, RAND, SID, TOKEN

from sessionwarden import PRESETS, SessionPolicy, require_fresh
from sessionwarden.core import SLOW
from sessionwarden.models import CreatedSession, Session
from sessionwarden.policy import ASSURANCE, MAX_LIFETIME
from sessionwarden.protocol import Batch, Command, Eval
from sessionwarden.scripts.calls import (
    CreateArgs,
    ReauthenticateArgs,
    ReauthenticateKeys,
    RotateArgs,
    RotateKeys,
    ValidateArgs,
)

MIN = 60_000


def rec18(*, active: int = NOW - 10_000, idle: int = 30 * MIN, touch: int | None = MIN,
          deadline: int | None = None, token_hash: bytes = HASH, **kw: object) -> bytes:
    created = active - 100_000
    return record(token_hash, created=created, active=active,
                  deadline=created + 12 * HOUR if deadline is None else deadline, idle=idle,
                  fields=18, touch=touch, **kw)  # type: ignore[arg-type]


def create_reply(now: int = NOW, idle: int = 7 * DAY) -> list[object]:
    return [b"ok", now, now + idle, 0, 0, 0, 0, b"", 1, [], 0, [], []]  # (profile, events)


# -- SessionPolicy ----------------------------------------------------------------------------


def test_presets_follow_the_standards_limits() -> None:
    aal1, aal2, aal3 = PRESETS["aal1"], PRESETS["aal2"], PRESETS["aal3"]
    assert aal1.absolute_lifetime == timedelta(days=30)
    assert (aal2.absolute_lifetime, aal2.idle_timeout) == (timedelta(hours=12),
                                                           timedelta(minutes=30))
    assert (aal3.absolute_lifetime, aal3.idle_timeout) == (timedelta(hours=12),
                                                           timedelta(minutes=15))
    for name, preset in PRESETS.items():
        assert preset.name == name and SessionPolicy.preset(name) is preset
        # a re-authentication never extends past the bound the preset sets
        assert preset.max_lifetime is not None and preset.reauth_extension is not None
        assert preset.reauth_extension <= preset.max_lifetime
    with pytest.raises(ValueError, match="policy: unknown preset 'aal4'; presets: aal1"):
        SessionPolicy.preset("aal4")


H = timedelta(hours=1)


@pytest.mark.parametrize(("kw", "field"), [
    ({"idle_timeout": timedelta(0)}, "idle_timeout"),
    ({"idle_timeout": -H}, "idle_timeout"),
    ({"absolute_lifetime": timedelta(0)}, "absolute_lifetime"),
    ({"absolute_lifetime": timedelta(days=401)}, "absolute_lifetime"),
    ({"idle_timeout": 3 * H, "absolute_lifetime": 2 * H}, "idle_timeout"),
    ({"touch_interval": H}, "touch_interval"),  # not shorter than the idle timeout
    ({"touch_interval": timedelta(microseconds=10)}, "touch_interval"),
    ({"reauth_extension": H}, "max_lifetime"),  # an extension needs its bound
    ({"max_lifetime": 4 * H}, "reauth_extension"),  # a bound without an extension
    ({"reauth_extension": H, "max_lifetime": H}, "max_lifetime"),  # below absolute_lifetime
    ({"reauth_extension": 5 * H, "max_lifetime": 4 * H}, "reauth_extension"),
    ({"reauth_extension": H, "max_lifetime": timedelta(days=10_000)}, "max_lifetime"),
    ({"name": ""}, "name"), ({"name": "Admin"}, "name"), ({"name": "a" * 17}, "name"),
    ({"name": "x\x1b"}, "name"),
])
def test_a_bad_policy_is_a_value_error_naming_the_field(kw: dict, field: str) -> None:
    args = {"idle_timeout": H, "absolute_lifetime": 2 * H} | kw
    with pytest.raises(ValueError, match=rf"^{field}: "):
        SessionPolicy(**args)


def test_a_policy_duration_must_be_a_timedelta() -> None:
    with pytest.raises(TypeError, match=r"^idle_timeout: expected a timedelta"):
        SessionPolicy(idle_timeout=1800, absolute_lifetime=H)  # type: ignore[arg-type]


def test_a_policy_is_immutable() -> None:
    with pytest.raises(AttributeError):
        PRESETS["aal2"].idle_timeout = H  # type: ignore[misc]


_ms = st.integers(min_value=-1000, max_value=MAX_LIFETIME // timedelta(milliseconds=1) + 1000)


@given(idle=_ms, absolute=_ms, touch=_ms, extension=st.none() | _ms, bound=st.none() | _ms)
def test_any_policy_is_either_consistent_or_refused_naming_a_field(
        idle: int, absolute: int, touch: int, extension: int | None, bound: int | None) -> None:
    def td(ms: int | None) -> timedelta | None:
        return None if ms is None else timedelta(milliseconds=ms)

    try:
        p = SessionPolicy(idle_timeout=td(idle), absolute_lifetime=td(absolute),  # type: ignore[arg-type]
                          touch_interval=td(touch), reauth_extension=td(extension),  # type: ignore[arg-type]
                          max_lifetime=td(bound))
    except ValueError as exc:
        assert str(exc).split(":")[0] in {"idle_timeout", "absolute_lifetime", "touch_interval",
                                          "reauth_extension", "max_lifetime"}
        return
    assert 1 <= p.touch_ms < p.idle_ms <= p.absolute_ms <= MAX_LIFETIME / timedelta(
        milliseconds=1)
    if p.reauth_extension is None:
        assert p.reauth_extension_ms == p.max_lifetime_ms == 0
    else:
        assert 1 <= p.reauth_extension_ms <= p.max_lifetime_ms
        assert p.absolute_ms <= p.max_lifetime_ms <= MAX_LIFETIME / timedelta(milliseconds=1)


# -- create_session(policy=..., assurance=...) ------------------------------------------------


def test_create_with_a_policy_writes_it_into_the_record_arguments() -> None:
    c = core(history_ttl=timedelta(days=180))
    policy = SessionPolicy(idle_timeout=timedelta(minutes=20), absolute_lifetime=timedelta(
        days=200), touch_interval=timedelta(seconds=5), reauth_extension=timedelta(days=30),
        max_lifetime=timedelta(days=365), name="remember-me")
    created, requests = drive(c.create_session("alice", user_agent=MAC_CHROME,
                                               ip="203.0.113.7", policy=policy,
                                               assurance="phishing_resistant"),
                              [create_reply(idle=20 * MIN)])
    args = CreateArgs(*requests[0].args)
    assert (args.idle_ms, args.absolute_ms, args.touch_ms) == (20 * MIN, 200 * DAY, 5000)
    assert (args.extension_ms, args.max_lifetime_ms, args.policy) == (30 * DAY, 365 * DAY,
                                                                      "remember-me")
    assert args.assurance == "2"
    # the user record (the session index) must outlive the longest the session may live
    assert args.history_ms == 365 * DAY
    s = created.session
    assert (s.authenticated_ms, s.assurance, s.policy) == (NOW, "phishing_resistant",
                                                           "remember-me")
    assert s.absolute_expires_ms == NOW + 200 * DAY
    # the process knows the session's own touch interval: a read within 5 s, the script after
    c._clock.now += 4.9  # type: ignore[union-attr]
    assert c.validate_probe(created.token).read is not None  # type: ignore[union-attr]
    c._clock.now += 0.2  # type: ignore[union-attr]
    assert c.validate_probe(created.token).read is None  # type: ignore[union-attr]


def test_create_takes_a_preset_by_name() -> None:
    c = core()
    _, requests = drive(c.create_session("alice", user_agent=MAC_CHROME, ip="203.0.113.7",
                                         policy="aal3"), [create_reply(idle=15 * MIN)])
    args = CreateArgs(*requests[0].args)
    assert (args.idle_ms, args.absolute_ms, args.policy, args.assurance) == (
        15 * MIN, 12 * HOUR, "aal3", "")


@pytest.mark.parametrize(("kw", "error", "match"), [
    ({"policy": "aal9"}, ValueError, r"^policy: unknown preset"),
    ({"policy": 30}, TypeError, r"^policy: expected a SessionPolicy"),
    ({"assurance": "sms"}, ValueError, r"^assurance: must be one of password, mfa"),
    ({"assurance": None}, ValueError, r"^assurance: "),
    ({"assurance": "MFA"}, ValueError, r"^assurance: "),
])
def test_create_with_a_bad_policy_or_assurance_sends_nothing(kw, error, match) -> None:
    exc, requests = drive_raises(core().create_session("alice", user_agent=MAC_CHROME,
                                                       ip="203.0.113.7", **kw), [], error)
    assert requests == [] and exc.args[0].startswith(match.lstrip("^").split(" ")[0])
    with pytest.raises(error, match=match):
        drive(core().create_session("alice", user_agent=MAC_CHROME, ip="203.0.113.7", **kw))


# -- the record's policy fields on the read path ----------------------------------------------


def read(c, raw: object, **kw: object) -> object:
    probe = c.validate_probe(TOKEN, **kw)
    assert probe is not None
    return c.validate_read(probe, raw)


def test_the_read_judges_a_touch_due_by_the_records_own_interval() -> None:
    c = core(touch_interval=timedelta(seconds=60))
    assert isinstance(read(c, rec18(active=NOW - 2_000, touch=5_000)), Session)
    assert read(c, rec18(active=NOW - 6_000, touch=5_000)) is SLOW  # due by the record
    # a record without its own interval is judged by the caller's, as before
    assert isinstance(read(c, rec18(active=NOW - 6_000, touch=None)), Session)
    assert read(c, rec18(active=NOW - 61_000, touch=None)) is SLOW


def test_the_read_decodes_the_proof_and_policy_fields() -> None:
    c = core()
    session = read(c, rec18(authenticated=NOW - 5_000, assurance="1", policy="aal2"))
    assert isinstance(session, Session)
    assert (session.authenticated_ms, session.assurance, session.policy) == (NOW - 5_000, "mfa",
                                                                             "aal2")
    assert session.authenticated_at == datetime.fromtimestamp((NOW - 5_000) / 1000, UTC)


def with_field(raw: bytes, index: int, value: bytes) -> bytes:
    fields = raw[32:].split(b"\x1f")
    fields[index] = value
    return raw[:32] + b"\x1f".join(fields)


@pytest.mark.parametrize("raw", [
    rec18(assurance="3"), rec18(assurance="x"), rec18(assurance="11"),
    with_field(rec18(), 12, b"-1"), with_field(rec18(), 15, b"A"),
    rec18() + b"\x1fextra",  # 19 fields
], ids=["rank-3", "rank-x", "rank-11", "bad-touch", "bad-extension", "19-fields"])
def test_a_record_with_bad_policy_fields_is_left_to_the_script(raw: bytes) -> None:
    assert read(core(), raw) is SLOW


# -- validate_session(touch=False) ------------------------------------------------------------


def ok(rec: bytes) -> list[object]:
    return [b"ok", NOW, rec, []]


def test_touch_false_never_counts_as_activity() -> None:
    clock = Clock()
    c = core(clock=clock)
    # unseen: the script, told it is not activity
    probe = c.validate_probe(TOKEN, touch=False)
    assert probe is not None and probe.read is None
    session, requests = drive(c.validate_script(probe), [ok(rec18(active=NOW - 120_000))])
    assert isinstance(session, Session)
    assert ValidateArgs(*requests[0].args).activity == "0"
    # seen, and a touch long due: with touch=False the read answers, the script is not needed
    probe = c.validate_probe(TOKEN, touch=False)
    assert probe is not None and probe.read == Command(("GET", base("alice") + "s:" + RAND))
    assert isinstance(c.validate_read(probe, rec18(active=NOW - 120_000)), Session)
    # control: the same request that is activity goes to the script for its touch
    probe = c.validate_probe(TOKEN)
    assert probe is not None and probe.read is None
    assert ValidateArgs(*drive(c.validate_script(probe), [ok(rec18())])[1][0].args
                        ).activity == "1"
    # dead by its own fields: the script decides, touch or not
    probe = c.validate_probe(TOKEN, touch=False)
    assert c.validate_read(probe, rec18(active=NOW - 31 * MIN)) is SLOW  # type: ignore[arg-type]


@pytest.mark.parametrize("touch", [0, 1, None, "no"])
def test_touch_must_be_a_bool(touch: object) -> None:
    with pytest.raises(TypeError, match=r"^touch: expected a bool"):
        core().validate_probe(TOKEN, touch=touch)  # type: ignore[arg-type]


@pytest.mark.parametrize("inline", [True, False])
def test_a_rotated_out_token_is_reported_as_a_revoked_token(inline: bool) -> None:
    c = core(inline=inline)
    probe = c.validate_probe(TOKEN, ip="203.0.113.9")
    result, requests = drive(c.validate_script(probe),  # type: ignore[arg-type]
                             [[b"revoked", NOW, f"{NOW - 90_000}|rotated".encode(), b"alice",
                               1, [], []], ["1-0"]])
    assert result is None
    finding = xadd_fields(requests[1].items[0])
    assert (finding["type"], finding["sev"]) == ("revoked_token_used", "low")
    assert '"revoked_reason":"rotated"' in finding["d"]


# -- reauthenticate ---------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False])
def test_reauthenticate_sends_one_script_and_returns_the_session_as_it_now_is(inline) -> None:
    c = core(inline=inline)
    fresh = rec18(active=NOW, authenticated=NOW, assurance="1", policy="aal2")
    returned = [] if inline else [entry("reauthenticated", sid=SID)]
    replies: list[object] = [[b"ok", NOW, fresh, returned]] + ([["1-0"]] if returned else [])
    session, requests = drive(c.reauthenticate(TOKEN, assurance="mfa"), replies)
    b = base("alice")
    assert requests[0] == Eval("reauthenticate", tuple(k for k in ReauthenticateKeys(
        b + "s:" + RAND, b + "u", *(("sw:events", "sw:stats") if inline else ())) if k),
        tuple(ReauthenticateArgs(rand=RAND, token_hash=HASH, now=str(NOW), assurance="1",
                                 details='{"assurance":"mfa"}', stream_maxlen=100_000)))
    if not inline:
        assert requests[1] == Batch((xadd(returned[0]),))
    assert isinstance(session, Session)
    assert (session.session_id, session.authenticated_ms, session.assurance) == (SID, NOW, "mfa")
    # the process now knows the session's activity: the next validate is one GET
    assert c.validate_probe(TOKEN).read is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [b"none", b"expired"])
def test_reauthenticate_of_a_dead_token_is_none(status: bytes) -> None:
    c = core()
    result, requests = drive(c.reauthenticate(TOKEN), [[status, NOW, []]])
    assert result is None and len(requests) == 1
    assert ReauthenticateArgs(*requests[0].args).assurance == ""  # password: the empty field


@pytest.mark.parametrize("junk", [None, 1, "", "x" * 71, TOKEN[:-1], TOKEN.encode()])
def test_reauthenticate_and_rotate_of_junk_send_nothing(junk: object) -> None:
    assert drive(core().reauthenticate(junk, assurance="mfa")) == (None, [])
    assert drive(core().rotate_session(junk)) == (None, [])


def test_reauthenticate_with_an_unknown_assurance_sends_nothing() -> None:
    exc, requests = drive_raises(core().reauthenticate(TOKEN, assurance="otp"), [], ValueError)
    assert requests == [] and str(exc).startswith("assurance: ")


# -- rotate_session ---------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False])
def test_rotate_sends_one_script_with_the_new_hash_and_returns_the_new_token(inline) -> None:
    c = core(inline=inline)
    captured: dict[str, bytes] = {}

    def reply(request: Eval) -> list[object]:
        args = RotateArgs(*request.args)
        captured["new"] = args.new_hash
        return [b"ok", NOW, rec18(token_hash=args.new_hash),
                [] if inline else [entry("session_rotated", sid=SID)]]

    replies: list[object] = [reply] + ([] if inline else [["1-0"]])
    created, requests = drive(c.rotate_session(TOKEN), replies)
    assert isinstance(created, CreatedSession)
    assert created.session_id == SID and created.session.session_id == SID
    assert created.token != TOKEN and created.token.startswith(SID + ".")
    assert hashlib.sha256(created.token.split(".")[1].encode()).digest() == captured["new"]
    b = base("alice")
    assert requests[0].keys == tuple(k for k in RotateKeys(
        b + "s:" + RAND, b + "u", b + "x:" + RAND,
        *(("sw:events", "sw:stats") if inline else ())) if k)
    args = RotateArgs(*requests[0].args)
    assert (args.rand, args.token_hash, args.tombstone_ms) == (RAND, HASH, 7 * DAY)
    assert "new" in captured and captured["new"] != HASH


def test_rotate_of_a_dead_token_is_none() -> None:
    assert drive(core().rotate_session(TOKEN), [[b"none", NOW, []]])[0] is None


# -- require_fresh ----------------------------------------------------------------------------


def session(authenticated_ms: int, assurance: str = "mfa") -> Session:
    return Session(SID, "alice", NOW - DAY, NOW, NOW + HOUR, NOW + DAY, "203.0.113.7", None,
                   "public", None, "f" * 16, authenticated_ms, assurance, None)


NOW_S = NOW / 1000


@pytest.mark.parametrize(("age_s", "held", "required", "ok", "reason"), [
    (60, "mfa", "mfa", True, "fresh"),
    (60, "phishing_resistant", "mfa", True, "fresh"),
    (60, "password", "mfa", False, "weak"),
    (600, "mfa", "mfa", False, "stale"),  # exactly `within` old: stale
    (599.999, "mfa", "mfa", True, "fresh"),
    (3600, "password", "mfa", False, "stale"),  # both: a new proof cures both
    (60, "password", "password", True, "fresh"),
    (-30, "mfa", "mfa", True, "fresh"),  # a clock behind the proof: age 0, not negative
])
def test_require_fresh(age_s, held, required, ok, reason) -> None:
    s = session(int((NOW_S - age_s) * 1000), held)
    decision = require_fresh(s, within=timedelta(minutes=10), assurance=required, now=NOW_S)
    assert (decision.ok, bool(decision), decision.reason) == (ok, ok, reason)
    assert decision.age == timedelta(seconds=max(age_s, 0))
    assert (decision.assurance, decision.required) == (held, required)
    assert require_fresh(s, assurance=required,
                         now=datetime.fromtimestamp(NOW_S, UTC)) == decision


@given(age=st.integers(min_value=0, max_value=10 * DAY), held=st.sampled_from(ASSURANCE),
       required=st.sampled_from(ASSURANCE), within=st.integers(min_value=1, max_value=DAY))
def test_require_fresh_is_ok_exactly_when_recent_and_strong_enough(age, held, required,
                                                                  within) -> None:
    d = require_fresh(session(NOW - age, held), within=timedelta(milliseconds=within),
                      assurance=required, now=NOW_S)
    assert d.ok == (age < within and ASSURANCE.index(held) >= ASSURANCE.index(required))


@pytest.mark.parametrize(("kw", "error", "match"), [
    ({"within": 600}, TypeError, r"^within: "),
    ({"within": timedelta(0)}, ValueError, r"^within: "),
    ({"within": timedelta(days=401)}, ValueError, r"^within: "),
    ({"assurance": "totp"}, ValueError, r"^assurance: "),
    ({"now": "now"}, TypeError, r"^now: "),
    ({"now": datetime(2027, 1, 1)}, ValueError, r"^now: "),  # naive
])
def test_require_fresh_refuses_bad_arguments(kw, error, match) -> None:
    with pytest.raises(error, match=match):
        require_fresh(session(NOW), **kw)


def test_require_fresh_wants_a_session() -> None:
    with pytest.raises(TypeError, match=r"^session: "):
        require_fresh({"authenticated_ms": NOW})  # type: ignore[arg-type]


# -- revoke_everyone's epoch ------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["reauthenticate", "rotate_session"])
def test_reauthenticate_and_rotate_read_a_stale_epoch_in_their_pipeline_and_obey_it(operation):
    c = core(epoch_known=False)
    op = (c.reauthenticate(TOKEN, assurance="mfa") if operation == "reauthenticate"
          else c.rotate_session(TOKEN))
    # the epoch (signed out everyone after this session's creation) rides with the script
    record_ = rec18(active=NOW, authenticated=NOW)
    created_ms = NOW - 100_000
    result, requests = drive(op, [[str(created_ms + 1).encode(), [b"ok", NOW, record_, []]]])
    assert isinstance(requests[0], Batch) and len(requests[0].items) == 2
    assert requests[0].items[0] == Command(("GET", "sw:nb"))
    assert isinstance(requests[0].items[1], Eval)
    assert result is None  # created before the epoch: dead, as validate judges it
    # control: an epoch before the session's creation lets it through, and is now known
    c = core(epoch_known=False)
    op = (c.reauthenticate(TOKEN) if operation == "reauthenticate" else c.rotate_session(TOKEN))
    result, _ = drive(op, [[str(created_ms - 1).encode(), [b"ok", NOW, record_, []]]])
    assert result is not None
    again = (c.reauthenticate(TOKEN) if operation == "reauthenticate"
             else c.rotate_session(TOKEN))
    assert isinstance(drive(again, [[b"ok", NOW, record_, []]])[1][0], Eval)  # fresh: no read
