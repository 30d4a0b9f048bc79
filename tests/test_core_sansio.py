"""The sans-I/O core fed scripted replies: no Redis at all (issue #7, item 5).

Each test builds a `Core` directly, runs one operation with `scripted.drive` and asserts the
requests it yields (script names, typed KEYS/ARGV records, plain commands, batches) and what it
makes of the replies a script could give. The validate path is in test_core_sansio_validate.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import timedelta

import pytest
from conftest import MAC_CHROME
from scripted import (
    DAY,
    HOUR,
    NOW,
    NOW_S,
    SECRET,
    Clock,
    base,
    core,
    drive,
    drive_raises,
    entry,
    incident,
    record,
    secret_hash,
    tag,
    tally,
    token,
    xadd,
    xadd_fields,
)

from sessionwarden import Settings
from sessionwarden.core import Core
from sessionwarden.devices import fingerprint, legacy_fingerprint, parse_user_agent
from sessionwarden.errors import (
    InvalidAlertAction,
    SecretRequired,
    SessionLimitExceeded,
    SessionWardenError,
)
from sessionwarden.geo import centroid
from sessionwarden.models import EventPage
from sessionwarden.protocol import Batch, Command, Eval, ScriptError
from sessionwarden.scripts.calls import (
    CreateArgs,
    CreateKeys,
    FindingArgs,
    ListArgs,
    ListKeys,
    RevokeAllArgs,
    RevokeAllKeys,
    RevokeArgs,
    RevokeKeys,
    SweepArgs,
    SweepKeys,
    UnindexArgs,
    UnindexKeys,
)
from sessionwarden.settings import DetectionSettings


def ok_reply(now: int = NOW, expiry: int | None = None, *, known_device: int = 0,
             devices_before: int = 0, country_known: int = 0, countries_before: int = 0,
             events: list[list[bytes]] | None = None, idle: int = 7 * DAY) -> list[object]:
    """create.lua's 'ok' reply (no previous located login, no live sessions besides the new
    one left out, no burst)."""
    return [b"ok", now, now + idle if expiry is None else expiry, known_device, devices_before,
            country_known, countries_before, b"", 1, [], 0, [], events or []]


def sign_in(c: Core, user: str = "alice", **kw: object):  # -> generator
    kw.setdefault("user_agent", MAC_CHROME)
    kw.setdefault("ip", "203.0.113.7")
    return c.create_session(user, **kw)  # type: ignore[arg-type]


# -- create_session ---------------------------------------------------------------------------


@pytest.mark.parametrize(("on_limit", "sent"), [("evict_oldest", "evict"), ("deny", "deny")])
def test_create_sends_one_create_eval_with_keys_and_args_built_from_the_inputs(on_limit, sent):
    c = core(idle_timeout=timedelta(hours=2), absolute_lifetime=timedelta(days=1),
             max_sessions=3, on_limit=on_limit, event_retention=timedelta(days=2),
             tombstone_ttl=timedelta(days=2), history_ttl=timedelta(days=40),
             recent_users_kept=77, event_stream_maxlen=500,
             detection=DetectionSettings(burst_logins=4, burst_window=timedelta(minutes=3)))
    created, requests = drive(
        c.create_session("alice", user_agent=MAC_CHROME, ip="2001:4860:4860:0:0:0:0:8888",
                         country=" de ", city="Berlin\x1b[31m", device_id="dev-1\x07",
                         email=" a@example.com "),
        [ok_reply(idle=2 * HOUR)])
    assert len(requests) == 1 and isinstance(requests[0], Eval)
    request = requests[0]
    assert request.script == "create"
    assert request.keys == tuple(CreateKeys(base("alice") + "u", "sw:events", "sw:exp",
                                            "sw:users", "sw:users:recent", "sw:stats"))
    args = CreateArgs(*request.args)
    sid = created.session_id
    assert sid == tag("alice") + args.rand and len(args.rand) == 11
    fp_key = hmac.new(SECRET.encode(), b"sessionwarden/fingerprint", hashlib.sha256).digest()
    lat, lon = centroid("DE")  # type: ignore[misc]
    expected = CreateArgs(
        base=base("alice"), rand=args.rand, user_id="alice", token_hash=secret_hash(created.token),
        now=str(NOW), idle_ms=2 * HOUR, absolute_ms=DAY, max_sessions=3, on_limit=sent,
        tombstone_ms=2 * DAY, history_ms=40 * DAY, fingerprint=args.fingerprint,
        legacy_fingerprint=args.legacy_fingerprint, reduced_kind="",
        class_key=args.class_key, description="Mac/Chrome\x1fChrome 119\x1fmacOS 10\x1fdesktop",
        ip="2001:4860:4860::8888", country="DE", network="public", city="Berlin",
        lat=f"{lat:.4f}", lon=f"{lon:.4f}", email="a@example.com", burst_window_ms=180_000,
        max_devices=50, burst_threshold=4, login_details=args.login_details,
        evicted_details=args.evicted_details, stream_maxlen=500, retention_ms=2 * DAY,
        recent_users_kept=77, net_key="200148604860", max_networks=12,
        learning_ms=14 * DAY,
        # no policy: the record's policy fields stay empty (the Settings' windows, as before)
        touch_ms="", assurance="", extension_ms="", max_lifetime_ms="", policy="",
    )
    assert args == expected
    # the fingerprint is keyed by the deployment secret and covers the (cleaned) device id
    assert args.fingerprint == fingerprint(fp_key, parse_user_agent(MAC_CHROME), "dev-1")
    assert args.legacy_fingerprint == legacy_fingerprint(fp_key, parse_user_agent(MAC_CHROME),
                                                         "dev-1")
    assert len(args.class_key) == 8 and args.class_key != args.fingerprint[:8]
    assert json.loads(args.login_details) == {
        "ip": "2001:4860:4860::8888", "country": "DE", "network": "public", "city": "Berlin",
        "device": "Mac/Chrome", "browser": "Chrome 119", "os": "macOS 10",
        "device_class": "desktop", "fingerprint": args.fingerprint}
    assert json.loads(args.evicted_details) == {
        "actor": "sessionwarden", "new_session_id": sid,
        "reason": "session limit (3) reached: the least recently active session made way for "
                  "a new sign-in"}


def test_create_returns_the_session_as_the_script_reports_it():
    c = core(idle_timeout=timedelta(hours=2), absolute_lifetime=timedelta(days=1))
    server_now = NOW + 7  # the script's clock is the one that counts
    expiry = min(server_now + 2 * HOUR, server_now + DAY)
    created, requests = drive(sign_in(c, ip="::FFFF:203.0.113.7"),
                              [ok_reply(server_now, expiry)])
    assert len(requests) == 1  # inline: no findings, nothing to append
    tok = created.token
    sid, _, secret = tok.partition(".")
    assert sid == created.session_id and len(secret) == 43
    assert secret_hash(tok) == CreateArgs(*requests[0].args).token_hash
    s = created.session
    assert (s.session_id, s.user_id) == (sid, "alice")
    assert (s.created_ms, s.last_active_ms) == (server_now, server_now)
    assert s.expires_ms == expiry == server_now + 2 * HOUR
    assert s.absolute_expires_ms == server_now + DAY
    assert s.ip == "203.0.113.7"  # IPv4-mapped: stored and shown as the IPv4 address
    assert s.fingerprint == CreateArgs(*requests[0].args).fingerprint
    # and this process now routes the new token's validate to the one-GET read
    probe = c.validate_probe(tok)
    assert probe is not None and probe.read == Command(("GET", base("alice") + "s:" + sid[16:]))


def test_create_on_a_cluster_passes_one_key_and_appends_events_and_index_entries():
    c = core(inline=False, event_retention=timedelta(days=2), recent_users_kept=77)
    login = entry("login")
    expired = entry("session_expired")
    server_now = NOW + 3
    created, requests = drive(sign_in(c),
                              [ok_reply(server_now, events=[login, expired]), ["ok"] * 7])
    assert requests[0].keys == (base("alice") + "u",)
    assert CreateArgs(*requests[0].args).stream_maxlen == 100_000
    assert requests[1] == Batch((
        xadd(login), xadd(expired),
        # the totals: one sign-in, and the live count up one and down one
        tally(NOW, live=0, logins=1),
        Command(("ZADD", "sw:exp", "LT", server_now + 7 * DAY, tag("alice"))),
        Command(("ZADD", "sw:users", 0, "alice")),
        Command(("ZADD", "sw:users:recent", server_now, "alice")),
        Command(("ZREMRANGEBYRANK", "sw:users:recent", 0, -78)),
        Command(("XTRIM", "sw:events", "MINID", "~", f"{server_now - 2 * DAY}-0")),
    ))
    assert created.session.expires_ms == server_now + 7 * DAY


def test_create_denied_raises_limit_exceeded_and_appends_returned_events_on_a_cluster():
    c = core(inline=False, on_limit="deny", max_sessions=2)
    expired = entry("session_expired")
    exc, requests = drive_raises(sign_in(c), [[b"denied", NOW, [expired]], ["id"]],
                                 SessionLimitExceeded)
    assert (exc.user_id, exc.limit) == ("alice", 2)
    assert CreateArgs(*requests[0].args).on_limit == "deny"
    # no index entries for a refused login; the expiry it found lowers the live count
    assert requests[1:] == [Batch((xadd(expired), tally(NOW, live=-1)))]


def test_create_denied_inline_sends_nothing_after_the_script():
    c = core(on_limit="deny")
    _, requests = drive_raises(sign_in(c), [[b"denied", NOW, []]], SessionLimitExceeded)
    assert len(requests) == 1


@pytest.mark.parametrize(
    ("facts", "finding", "severity", "details"),
    [
        (dict(known_device=0, devices_before=2, country_known=1, countries_before=1),
         "new_device", "low", {"device": "Mac/Chrome", "browser": "Chrome 119",
                               "os": "macOS 10", "known_devices": 2}),
        (dict(known_device=1, devices_before=1, country_known=0, countries_before=2),
         # a known device in a new country: a trip, low on its own
         "new_country", "low", {"country": "DE", "ip": "203.0.113.7", "known_countries": 2}),
    ],
)
def test_create_appends_the_finding_the_reply_calls_for(facts, finding, severity, details):
    c = core()
    created, requests = drive(sign_in(c, country="DE"), [ok_reply(**facts), ["id"]])
    assert len(requests) == 2 and isinstance(requests[1], Batch)
    # exactly one finding (the other rule stays quiet), which its script joins to the user's
    # incident: nothing else is written back
    [event] = requests[1].items
    fields = xadd_fields(event)
    # an alert (low or more): the same script pushes it on the user's own alert list (capped,
    # expiring with the history) and counts it in the totals
    assert event.keys == ("sw:events", "sw:alerts{sw:events}", incident("alice"),
                          base("alice") + "al", "sw:stats")
    args = FindingArgs(*event.args)
    assert (args.user_alerts_kept, args.user_alerts_ttl_ms) == (100, 180 * DAY)
    # the incident's terms: the severity's rank, the window, the id of an incident it opens
    assert (args.rank, args.window_s) == (1, 86_400)
    assert len(args.new_id) == 8 and args.new_id.isalnum()
    assert {k: v for k, v in fields.items() if k != "d"} == {
        "type": finding, "user": "alice", "sid": created.session_id, "sev": severity,
        "at": str(NOW)}
    got = json.loads(fields["d"])
    assert {k: got[k] for k in details} == details and got["reason"]
    # the why goes apart: the script adds it only if the finding is delivered
    assert "why" not in got and json.loads("{" + args.why + "}")["why"]


def test_create_on_a_cluster_joins_the_incident_in_the_event_streams_slot():
    c = core(inline=False)
    created, requests = drive(sign_in(c, country="DE"), [
        ok_reply(known_device=0, devices_before=2, country_known=1, countries_before=1),
        ["ok"] * 9])
    event, push, trim, expire, counted = requests[1].items[-5:]
    # the script's keys are all in the event stream's slot (the hash tag 'sw:events')
    assert event.keys == ("sw:events", "sw:alerts{sw:events}", incident("alice"))
    # the user's own list is in the user's slot: pushed by the library in the same pipeline,
    # with the details as built (the why kept; the id and the incident are the script's)
    pushed = json.loads(push.args[2])
    assert push.args[:2] == ("LPUSH", base("alice") + "al") and pushed[:2] == ["", "new_device"]
    assert json.loads(pushed[-1])["why"] and "incident" not in json.loads(pushed[-1])
    assert (trim.args[0], expire.args[0], counted) == ("LTRIM", "PEXPIRE", tally(NOW, alerts=1))
    assert created.session_id


def test_create_known_device_and_country_sends_no_findings():
    _, requests = drive(sign_in(core(), country="DE"),
                        [ok_reply(known_device=1, devices_before=3, country_known=1,
                                  countries_before=1)])
    assert len(requests) == 1


def test_create_script_error_becomes_a_library_error():
    c = core()
    exc, requests = drive_raises(sign_in(c), [ScriptError("SWCOLLISION two user ids share")],
                                 SessionWardenError)
    assert type(exc) is SessionWardenError and "SWCOLLISION" in str(exc)
    assert len(requests) == 1


@pytest.mark.parametrize(("kw", "error"), [
    (dict(ip="not-an-ip"), ValueError), (dict(email="no at sign"), ValueError),
    (dict(device_id=5), TypeError), (dict(user_agent=b"bytes"), TypeError),
])
def test_create_refuses_bad_input_before_any_request(kw, error):
    _, requests = drive_raises(sign_in(core(), **kw), [], error)
    assert requests == []


# -- an operator core (no secret) -------------------------------------------------------------


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> Core:
    monkeypatch.delenv("SESSIONWARDEN_SECRET", raising=False)
    c = Core(Settings(), clock=Clock(), inline_events=True)
    assert not c.can_issue
    return c


def test_operator_core_refuses_what_needs_the_secret_before_any_request(operator):
    for op in (sign_in(operator), operator.create_alert_action("1-0"),
               operator.revoke_from_alert("a.b")):
        exc, requests = drive_raises(op, [], SecretRequired)
        assert requests == []
        assert "SESSIONWARDEN_SECRET" in str(exc)
    for tok in (token(), "junk", None):
        with pytest.raises(SecretRequired):
            operator.validate_probe(tok, user_agent=MAC_CHROME)
    assert operator._presenters == {}


def test_operator_core_revokes_lists_reads_and_sweeps(operator):
    sid = tag("alice") + "RRRRRRRRRRR"
    assert drive(operator.revoke_session("alice", sid), [[1, [], []]])[0] is True
    assert drive(operator.revoke_all_sessions("alice"), [[2, [], []]])[0] == 2
    views, requests = drive(operator.get_active_sessions("alice"), [[NOW, [], [], []]])
    assert views == [] and requests[0].script == "list"
    users, requests = drive(operator.users("al"), [[b"alice", b"alfred"]])
    assert users == ["alice", "alfred"]
    assert requests == [Command(("ZRANGEBYLEX", "sw:users", "[al", "[al\U0010ffff",
                                 "LIMIT", 0, 50))]
    recent, requests = drive(operator.recent_users(limit=2), [[[b"bob", float(NOW)]], [None]])
    assert [(u.user_id, u.last_login_at.timestamp(), u.locked_at)
            for u in recent] == [("bob", NOW_S, None)]
    assert requests == [Command(("ZREVRANGE", "sw:users:recent", 0, 1, "WITHSCORES")),
                        Command(("ZMSCORE", "sw:locked", "bob"))]
    events, requests = drive(operator.recent_events(5), [[
        (b"2-0", {b"type": b"login", b"user": b"bob", b"sid": b"", b"sev": b"info",
                  b"at": str(NOW).encode(), b"d": b"{}"})]])
    assert [(e.id, e.type, e.user_id) for e in events] == [("2-0", "login", "bob")]
    assert requests == [Command(("XREVRANGE", "sw:events", "+", "-", "COUNT", 5))]
    page, _ = drive(operator.events_after("1-0"), [None])
    assert page == EventPage([], "1-0")
    swept, requests = drive(operator.sweep_expired(), [[[], 0]])
    assert swept == 0
    assert requests == [Batch((Command(("ZRANGEBYSCORE", "sw:exp", "-inf", NOW, "WITHSCORES",
                                        "LIMIT", 0, 500)),
                               Command(("ZCOUNT", "sw:exp", "-inf", NOW))))]


# -- revoke_session, revoke_all_sessions -------------------------------------------------------


def revoke_eval(rand: str, *, actor: str = "app", reason: str = "",
                inline: bool = True) -> Eval:
    b = base("alice")
    keys = RevokeKeys(b + "s:" + rand, b + "u", b + "x:" + rand, b + "a",
                      *(("sw:events", "sw:audit", "sw:stats") if inline else ()))
    return Eval("revoke", tuple(k for k in keys if k is not None), tuple(RevokeArgs(
        rand=rand, now=str(NOW), tombstone_ms=7 * DAY, tombstone_reason=reason or "revoked",
        user_id="alice", actor=actor, reason=reason, stream_maxlen=100_000,
        audit_ttl_ms=180 * DAY)))


@pytest.mark.parametrize("session_id", ["", "short", tag("alice") + "!" * 11, 27, None,
                                        tag("alice") + "RRRRRRRRRRR" + "x"])
def test_revoke_refuses_a_malformed_session_id_before_any_request(session_id):
    _, requests = drive_raises(core().revoke_session("alice", session_id), [], ValueError)
    assert requests == []


def test_revoke_of_another_users_session_id_is_false_without_a_request():
    assert drive(core().revoke_session("alice", tag("bob") + "RRRRRRRRRRR")) == (False, [])


@pytest.mark.parametrize(("count", "result"), [(1, True), (-1, False), (0, False)])
def test_revoke_result_follows_the_script_count(count, result):
    rand = "RRRRRRRRRRR"
    revoked, requests = drive(core().revoke_session("alice", tag("alice") + rand),
                              [[count, [], []]])
    assert revoked is result
    assert requests == [revoke_eval(rand)]


def test_revoke_on_a_cluster_appends_what_the_script_returns():
    rand = "RRRRRRRRRRR"
    expired = entry("session_expired", sid=tag("alice") + rand)
    revoked, requests = drive(core(inline=False).revoke_session("alice", tag("alice") + rand),
                              [[-1, [expired], []], ["id"]])
    assert revoked is False
    assert requests == [revoke_eval(rand, inline=False),
                        Batch((xadd(expired), tally(NOW, live=-1)))]


def test_revoke_cleans_actor_and_reason_into_the_script_args():
    rand = "RRRRRRRRRRR"
    _, requests = drive(core().revoke_session(
        "alice", tag("alice") + rand, actor="ops\x1b[31m\n  bob", reason="stolen\x00 laptop\u202e"),
        [[1, [], []]])
    assert requests == [revoke_eval(rand, actor="ops bob", reason="stolen laptop")]
    _, requests = drive(core().revoke_session("alice", tag("alice") + rand, actor="a" * 100,
                                              reason="r" * 500), [[1, [], []]])
    args = RevokeArgs(*requests[0].args)
    assert (args.actor, args.reason, args.tombstone_reason) == ("a" * 64, "r" * 200, "r" * 200)
    _, requests = drive_raises(core().revoke_session("alice", tag("alice") + rand, actor=5), [],
                               TypeError)
    assert requests == []


@pytest.mark.parametrize(("keep", "keep_rand", "keep_hash"), [
    (token("alice", "KKKKKKKKKKK", "k" * 43), "KKKKKKKKKKK",
     hashlib.sha256(b"k" * 43).digest()),
    (token("bob", "KKKKKKKKKKK", "k" * 43), "", b""),  # another user's token keeps nothing
    ("junk", "", b""),
    (None, "", b""),
])
def test_revoke_all_keeps_only_a_token_of_this_user(keep, keep_rand, keep_hash):
    count, requests = drive(core().revoke_all_sessions("alice", except_token=keep,
                                                       reason="password\tchange"), [[3, [], []]])
    assert count == 3
    assert requests == [Eval("revoke_all", tuple(RevokeAllKeys(base("alice") + "u",
                                                              base("alice") + "a", "sw:events",
                                                              "sw:audit", "sw:stats")),
                             tuple(RevokeAllArgs(
                                 base=base("alice"), now=str(NOW), tombstone_ms=7 * DAY,
                                 tombstone_reason="password change", keep_rand=keep_rand,
                                 keep_hash=keep_hash, user_id="alice", actor="app",
                                 reason="password change", stream_maxlen=100_000,
                                 audit_ttl_ms=180 * DAY)))]


def test_revoke_all_on_a_cluster_appends_the_revocations():
    events = [entry("session_revoked"), entry("session_revoked")]
    count, requests = drive(core(inline=False).revoke_all_sessions("alice"),
                            [[2, events, []], ["a", "b"]])
    assert count == 2
    assert requests[0].keys == (base("alice") + "u", base("alice") + "a")
    assert requests[1] == Batch((*(xadd(e) for e in events), tally(NOW, live=-2)))


# -- get_active_sessions ----------------------------------------------------------------------


def test_get_active_sessions_decodes_the_list_reply():
    c = core()
    b_hash, c_hash = hashlib.sha256(b"b").digest(), hashlib.sha256(b"c").digest()
    recent = record(b_hash, created=NOW - DAY, active=NOW - 1000, deadline=NOW + 29 * DAY,
                    idle=HOUR, fingerprint="f" * 16, city="Berlin")
    older = record(c_hash, created=NOW - DAY, active=NOW - 5 * HOUR, deadline=NOW + HOUR,
                   idle=7 * DAY, fingerprint="e" * 16, country="", network="private")
    current = token("alice", "CCCCCCCCCCC", "c" * 43)
    reply = [NOW,
             [b"BBBBBBBBBBB", recent, b"XXXXXXXXXXX", b"garbage", b"CCCCCCCCCCC", older,
              b"LLLLLLLLLLL", recent[:32] + b"1\x1f2"],
             [b"f" * 16, b"Mac/Chrome\x1fChrome 119\x1fmacOS 10\x1fdesktop",
              b"e" * 16, b"not a description"],
             []]
    views, requests = drive(c.get_active_sessions("alice", current_token=current), [reply])
    assert requests == [Eval("list", tuple(ListKeys(base("alice") + "u", "sw:events",
                                                    "sw:stats")),
                             tuple(ListArgs(base=base("alice"), now=str(NOW), user_id="alice",
                                            stream_maxlen=100_000)))]
    assert [v.session_id for v in views] == [tag("alice") + "BBBBBBBBBBB",
                                            tag("alice") + "CCCCCCCCCCC"]
    first, second = views
    assert (first.device, first.browser, first.os, first.device_class) == (
        "Mac/Chrome", "Chrome 119", "macOS 10", "desktop")
    assert (first.city, first.country, first.network, first.place) == (
        "Berlin", "DE", "public", "Berlin")
    assert first.expires_at.timestamp() * 1000 == NOW - 1000 + HOUR  # the record's idle
    assert first.label == "Mac/Chrome — Berlin — Active just now"
    assert not first.current
    # a corrupt description leaves the session listed, described as unknown
    assert (second.device, second.browser, second.device_class) == ("Unknown/Unknown", "",
                                                                    "unknown")
    assert (second.country, second.network, second.place) == (None, "private",
                                                             "Private network")
    assert second.expires_at.timestamp() * 1000 == NOW + HOUR  # the record's deadline
    assert second.current and second.label.endswith("Active 5 hours ago")


def test_get_active_sessions_on_a_cluster_appends_the_expiries_it_found():
    expired = entry("session_expired")
    views, requests = drive(core(inline=False).get_active_sessions("alice"),
                            [[NOW, [], [], [expired]], ["id"]])
    assert views == []
    assert requests[0].keys == (base("alice") + "u",)
    assert requests[1] == Batch((xadd(expired), tally(NOW, live=-1)))


# -- sweep_expired ----------------------------------------------------------------------------


@pytest.mark.parametrize("resp3", [False, True])
def test_sweep_reads_time_then_due_users_then_sweeps_and_reindexes(resp3):
    c = Core(Settings(secret=SECRET, event_retention=timedelta(days=1)), clock=None,
             inline_events=False)
    a, b, d = tag("a"), tag("b"), tag("d")
    scores = {a: 1_799_999_990_000, b: 1_799_999_991_000, d: 1_799_999_992_000}
    due = ([[m.encode(), float(s)] for m, s in scores.items()] if resp3
           else [x for m, s in scores.items() for x in (m.encode(), str(s).encode())])
    now = 1_800_000_000_123
    a_events = [entry("session_expired", "a"), entry("session_expired", "a")]
    b_events = [entry("session_expired", "b")]
    swept, requests = drive(c.sweep_expired(limit=7), [
        (1_800_000_000, 123_456),  # TIME
        [due, 3],  # the due users, and how many are due in all
        [[2, 1_800_000_500_000, a_events], [1, -1, b_events],
         ScriptError("SWCORRUPT user d")],  # a per-user error stays in place
        ["ok"] * 6,
    ])
    assert swept == 3
    assert requests[0] == Command(("TIME",))
    assert requests[1] == Batch((Command(("ZRANGEBYSCORE", "sw:exp", "-inf", now, "WITHSCORES",
                                          "LIMIT", 0, 7)),
                                 Command(("ZCOUNT", "sw:exp", "-inf", now))))
    assert requests[2] == Batch(tuple(
        Eval("sweep", tuple(SweepKeys(f"sw:{{{t}}}:u")[:1]),
             tuple(SweepArgs(base=f"sw:{{{t}}}:", now="", stream_maxlen=100_000)))
        for t in (a, b, d)))
    b_score = str(float(scores[b])) if resp3 else str(scores[b])
    assert requests[3] == Batch((
        *(xadd(e) for e in a_events), tally(NOW, live=-2),  # the totals follow each user's
        Command(("ZADD", "sw:exp", 1_800_000_500_000, a)),
        xadd(b_events[0]), tally(NOW, live=-1),
        Eval("unindex", tuple(UnindexKeys("sw:exp")), tuple(UnindexArgs(member=b,
                                                                        score=b_score))),
        Command(("XTRIM", "sw:events", "MINID", "~", f"{now - DAY}-0")),
    ))  # nothing for d: its entry stays due and is swept again next time
    assert float(UnindexArgs(*requests[3].items[6].args).score) == scores[b]


def test_sweep_inline_passes_the_stream_and_nothing_due_sends_no_batch():
    c = core()
    assert drive(c.sweep_expired(), [[[], 0]])[0] == 0  # clock given: no TIME
    swept, requests = drive(c.sweep_expired(), [[[tag("a").encode(), b"5"], 1],
                                                [[0, 1_800_000_500_000, []]], ["ok"]])
    assert swept == 0
    assert requests[1].items[0].keys == (f"sw:{{{tag('a')}}}:u", "sw:events", "sw:stats")
    assert requests[1].items[0].args[1] == str(NOW)
    assert requests[2] == Batch((Command(("ZADD", "sw:exp", 1_800_000_500_000, tag("a"))),))


def test_sweep_where_every_user_failed_writes_nothing(caplog):
    with caplog.at_level(logging.WARNING, "sessionwarden"):
        swept, requests = drive(core().sweep_expired(),
                                [[[tag("a").encode(), b"5"], 1], [RuntimeError("boom")]])
    assert swept == 0 and len(requests) == 2
    assert "boom" in caplog.text


# -- events_after -----------------------------------------------------------------------------


def stream_entry(ms: int, type_: str = "login", **extra: bytes) -> tuple[bytes, dict]:
    fields = {b"type": type_.encode(), b"user": b"alice", b"sid": b"", b"sev": b"info",
              b"at": str(ms).encode(), b"d": b'{"k":1}', **extra}
    return f"{ms}-0".encode(), fields


def test_events_after_reads_resp2_and_resp3_replies_alike():
    entries = [stream_entry(NOW), stream_entry(NOW + 1, "session_revoked")]
    resp2 = [[b"sw:events", entries]]  # as redis-py hands XREAD back with protocol=2
    resp3 = {b"sw:events": [entries]}  # and with protocol=3
    flat = [[b"sw:events", [[i, [x for kv in f.items() for x in kv]] for i, f in entries]]]
    pages = []
    for reply in (resp2, resp3, flat):
        page, requests = drive(core().events_after("0-0", limit=10, block_ms=500), [reply])
        assert requests == [Command(("XREAD", "COUNT", 10, "BLOCK", 500, "STREAMS",
                                     "sw:events", "0-0"))]
        pages.append(page)
    assert pages[0] == pages[1] == pages[2]
    page = pages[0]
    assert page.cursor == f"{NOW + 1}-0"
    assert [(e.id, e.type, e.user_id, e.session_id, e.details) for e in page.events] == [
        (f"{NOW}-0", "login", "alice", None, {"k": 1}),
        (f"{NOW + 1}-0", "session_revoked", "alice", None, {"k": 1})]


@pytest.mark.parametrize("after", ["abc", "1-", "-1", "1-0-0", "", "$$", "1" * 42, 5, None])
def test_events_after_refuses_a_bad_cursor_before_any_request(after):
    _, requests = drive_raises(core().events_after(after), [], ValueError)
    assert requests == []


def test_events_after_moves_the_cursor_past_entries_it_cannot_decode():
    good = stream_entry(NOW)
    no_type = (f"{NOW + 1}-0".encode(), {b"user": b"alice", b"at": b"1"})
    bad_details = stream_entry(NOW + 2, d=b"[1]")
    page, _ = drive(core().events_after("$"), [[[b"sw:events", [good, no_type, bad_details]]]])
    assert [e.id for e in page.events] == [f"{NOW}-0"]
    assert page.cursor == f"{NOW + 2}-0"
    page, _ = drive(core().events_after("7-0"), [{b"sw:events": [[no_type]]}])
    assert page == EventPage([], f"{NOW + 1}-0")


# -- alert links ------------------------------------------------------------------------------


EVENT_ID = f"{NOW}-0"
ALICE_SID = tag("alice") + "RRRRRRRRRRR"


def xrange_reply(sid: str = ALICE_SID) -> list[object]:
    return [(EVENT_ID.encode(), {b"type": b"new_device", b"user": b"alice", b"sid": sid.encode(),
                                 b"sev": b"low", b"at": str(NOW).encode(), b"d": b"{}"})]


def payload(action: str) -> list[object]:
    body = action.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_alert_link_round_trip_revokes_the_flagged_session():
    clock = Clock()
    c = core(clock=clock)
    action, requests = drive(c.create_alert_action(EVENT_ID), [xrange_reply()])
    assert requests == [Command(("XRANGE", "sw:events", EVENT_ID, EVENT_ID))]
    event_id, user, sid, scope, expires, nonce = payload(action)
    assert (event_id, user, sid, scope, expires) == (EVENT_ID, "alice", ALICE_SID, "session",
                                                      NOW + 3 * DAY)
    clock.now += 3 * 86_400 - 0.001  # one millisecond of life left
    count, requests = drive(c.revoke_from_alert(action),
                            [True, [1, [], []], [b"id", b"a1"], [1, b"OK", 1]])
    assert count == 1
    now = NOW + 3 * DAY - 1
    assert requests[0] == Command(("SET", f"sw:aa:{nonce}", EVENT_ID, "NX", "PX", 1))
    revoke = requests[1]
    assert revoke.script == "revoke"
    args = RevokeArgs(*revoke.args)
    assert (args.rand, args.user_id, args.actor, args.reason, args.now) == (
        "RRRRRRRRRRR", "alice", "account-owner", f"account owner reported alert {EVENT_ID}",
        str(now))
    event, global_audit = requests[2].items
    user_audit, trim, expire = requests[3].items  # once the global id is known
    fields = xadd_fields(event)
    assert (fields["type"], fields["user"], fields["sid"], fields["at"]) == (
        "alert_action_used", "alice", ALICE_SID, str(now))
    details = {"actor": "account-owner", "event_id": EVENT_ID, "scope": "session", "revoked": 1}
    assert json.loads(fields["d"]) == details
    # the same use in the audit trail: global, then the user's own (capped, expiring)
    assert global_audit.args[:3] == ("XADD", "sw:audit", "*")
    audit = dict(zip(global_audit.args[3::2], global_audit.args[4::2], strict=True))
    assert (audit["kind"], audit["actor"], audit["user"], audit["sid"]) == (
        "alert_action_used", "account-owner", "alice", ALICE_SID)
    assert json.loads(audit["d"]) == details
    assert user_audit.args[:2] == ("LPUSH", base("alice") + "a")
    assert json.loads(user_audit.args[2])[:5] == ["a1", "alert_action_used", "account-owner",
                                                  "alice", ALICE_SID]
    assert trim == Command(("LTRIM", base("alice") + "a", 0, 199))
    assert expire == Command(("PEXPIRE", base("alice") + "a", 180 * DAY))


def test_alert_link_with_scope_all_revokes_every_session():
    c = core()
    action, _ = drive(c.create_alert_action(EVENT_ID, scope="all"), [xrange_reply()])
    count, requests = drive(c.revoke_from_alert(action),
                            [True, [4, [], []], [b"id", b"a1"], [1, b"OK", 1]])
    assert count == 4
    assert requests[1].script == "revoke_all"
    assert RevokeAllArgs(*requests[1].args).keep_rand == ""
    assert json.loads(xadd_fields(requests[2].items[0])["d"])["revoked"] == 4


def test_alert_link_expires():
    clock = Clock()
    c = core(clock=clock)
    action, _ = drive(c.create_alert_action(EVENT_ID), [xrange_reply()])
    clock.now += 3 * 86_400
    exc, requests = drive_raises(c.revoke_from_alert(action), [], InvalidAlertAction)
    assert requests == [] and "expired" in str(exc)


def test_alert_link_is_single_use():
    c = core()
    action, _ = drive(c.create_alert_action(EVENT_ID), [xrange_reply()])
    exc, requests = drive_raises(c.revoke_from_alert(action), [None], InvalidAlertAction)
    assert len(requests) == 1 and requests[0].args[0] == "SET"  # nothing revoked
    assert "already used" in str(exc)


def test_forged_alert_links_are_refused_before_any_request():
    c = core()
    action, _ = drive(c.create_alert_action(EVENT_ID), [xrange_reply()])
    body, _, signature = action.partition(".")
    other = Core(Settings(secret="y" * 32), clock=Clock())
    foreign, _ = drive(other.create_alert_action(EVENT_ID), [xrange_reply()])
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[1] = "mallory"
    tampered = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for forged in (f"{body}.{flipped}", f"{tampered}.{signature}", foreign, body, "." + signature,
                   "é." + signature, 5, None, "a" * 3000):
        _, requests = drive_raises(c.revoke_from_alert(forged), [], InvalidAlertAction)
        assert requests == []


def test_create_alert_action_checks_its_input():
    for op in (core().create_alert_action(EVENT_ID, scope="user"),
               core().create_alert_action("not-an-id")):
        _, requests = drive_raises(op, [], ValueError)
        assert requests == []
    _, requests = drive_raises(core().create_alert_action(EVENT_ID), [[]], ValueError)
    assert len(requests) == 1  # an unknown event id
