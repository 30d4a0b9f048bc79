"""Validate's three steps (probe, read, script) fed scripted replies: no Redis at all."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

import pytest
from conftest import IPHONE_SAFARI, MAC_CHROME
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from scripted import (
    DAY,
    HOUR,
    NOW,
    Clock,
    base,
    core,
    drive,
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

from sessionwarden.core import SLOW, Core
from sessionwarden.models import Session
from sessionwarden.protocol import Batch, Command, Eval, ScriptError
from sessionwarden.scripts.calls import ValidateArgs, ValidateKeys
from sessionwarden.settings import DetectionSettings

RAND = "RRRRRRRRRRR"
TOKEN = token("alice", RAND)
SID = tag("alice") + RAND
HASH = secret_hash(TOKEN)
IP = "203.0.113.9"


def live_record(*, active: int = NOW - 10_000, idle: int = HOUR, deadline: int | None = None,
                token_hash: bytes = HASH, **kw: object) -> bytes:
    created = active - 100_000
    return record(token_hash, created=created, active=active,
                  deadline=created + 30 * DAY if deadline is None else deadline, idle=idle,
                  **kw)  # type: ignore[arg-type]


def ok(rec: bytes | None = None, status: bytes = b"ok", events: object = ()) -> list[object]:
    return [status, NOW, live_record(active=NOW) if rec is None else rec, list(events)]


def validate(c: Core, tok: object, replies: list[object], **kw: object):
    """What a manager's validate_session does: probe, then the read when the probe says so,
    then the script when the read cannot decide; ``(result, requests)``."""
    probe = c.validate_probe(tok, **kw)  # type: ignore[arg-type]
    if probe is None:
        return None, []
    requests: list[object] = []
    if probe.read is not None:
        requests.append(probe.read)
        found = c.validate_read(probe, replies.pop(0))
        if found is not SLOW:
            return found, requests
    result, more = drive(c.validate_script(probe), replies)
    return result, requests + more


# -- validate_probe ---------------------------------------------------------------------------


JUNK = [None, 0, 1.5, True, b"bytes", TOKEN.encode(), bytearray(TOKEN.encode()), [TOKEN],
        {"t": TOKEN}, object(), "", " ", "x" * 71, TOKEN[:-1], TOKEN + "x", " " + TOKEN[1:],
        TOKEN.replace(".", "!"), TOKEN[:-1] + "=", TOKEN[:-1] + "é", SID + "." + "S" * 42 + "\n",
        "\x00" * 71, "a" * 10_000]


@pytest.mark.parametrize("junk", JUNK, ids=lambda j: type(j).__name__)
def test_probe_answers_junk_tokens_without_looking_at_anything_else(junk):
    c = core()
    assert c.validate_probe(junk, ip="not an ip", user_agent=MAC_CHROME) is None
    assert c._presenters == {}  # the user agent was not parsed
    # positive control: a well-formed token does get its user agent parsed (and its ip checked)
    with pytest.raises(ValueError, match="ip"):
        c.validate_probe(TOKEN, ip="not an ip", user_agent=MAC_CHROME)
    assert c.validate_probe(TOKEN, user_agent=MAC_CHROME) is not None
    assert list(c._presenters) == [MAC_CHROME]


def test_probe_of_an_unseen_session_goes_to_the_script():
    c = core()
    probe = c.validate_probe(TOKEN, ip="2001:DB8:0:0:0:0:0:1", user_agent=MAC_CHROME)
    assert probe is not None and probe.read is None
    assert (probe.parsed.session_id, probe.parsed.tag, probe.parsed.rand) == (SID, tag("alice"),
                                                                          RAND)
    assert probe.parsed.secret_hash == hashlib.sha256(b"S" * 43).digest()
    assert probe.ip == "2001:db8::1"
    assert probe.info is not None and probe.info.label == "Mac/Chrome"
    assert probe.class_key is not None and len(probe.class_key) == 8
    assert probe.now_ms == NOW


def test_probe_reads_with_one_get_within_the_touch_interval_of_what_it_saw():
    clock = Clock()
    c = core(clock=clock)
    session, requests = validate(c, TOKEN, [ok()])
    assert isinstance(session, Session) and len(requests) == 1
    probe = c.validate_probe(TOKEN)
    assert probe is not None
    assert probe.read == Command(("GET", base("alice") + "s:" + RAND))
    clock.now += 59.999
    assert c.validate_probe(TOKEN).read is not None  # type: ignore[union-attr]
    clock.now += 0.001  # a touch is due: the script must run
    assert c.validate_probe(TOKEN).read is None  # type: ignore[union-attr]
    # another session of the same user was not seen
    assert c.validate_probe(token("alice", "OOOOOOOOOOO")).read is None  # type: ignore[union-attr]


# -- validate_read ----------------------------------------------------------------------------


def read(c: Core, raw: object, **kw: object) -> object:
    probe = c.validate_probe(TOKEN, **kw)  # type: ignore[arg-type]
    assert probe is not None
    return c.validate_read(probe, raw)


@pytest.mark.parametrize(("idle", "deadline", "expires"), [
    (HOUR, NOW + 30 * DAY, NOW - 10_000 + HOUR),  # the record's idle window, not the settings'
    (HOUR, NOW + 1000, NOW + 1000),  # the record's deadline comes first
])
def test_read_of_a_live_record_is_the_session_by_the_records_own_fields(idle, deadline, expires):
    c = core(idle_timeout=timedelta(days=7))
    rec = live_record(idle=idle, deadline=deadline, ip="2001:db8::5", country="",
                      network="private", city="Köln", fingerprint="f" * 16, user_id="alice")
    session = read(c, rec)
    assert session == Session(
        session_id=SID, user_id="alice", created_ms=NOW - 110_000, last_active_ms=NOW - 10_000,
        expires_ms=expires, absolute_expires_ms=deadline, ip="2001:db8::5", country=None,
        network="private", city="Köln", fingerprint="f" * 16,
        authenticated_ms=NOW - 110_000)  # a record without a proof of its own: its creation
    assert read(c, rec) == session  # decoded once, judged again


def test_read_with_a_wrong_secret_is_left_to_the_script_which_counts_it():
    """A wrong secret for a live session may be a token rotated out of it (the script looks
    at the tombstone and reports it) or probing (the script counts it); the read never
    answers it as valid."""
    c = core()
    assert read(c, live_record(token_hash=hashlib.sha256(b"other").digest())) is SLOW
    # the same bytes decoded for the right token first do not let a wrong one through
    assert isinstance(read(c, live_record()), Session)
    probe = c.validate_probe(token("alice", RAND, "W" * 43))
    assert c.validate_read(probe, live_record()) is SLOW  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [
    live_record(active=NOW - 60_000),  # a touch is due
    live_record(active=NOW - 10_000, idle=5_000),  # idle past the record's own window
    live_record(deadline=NOW),  # past the record's deadline
    live_record(fields=11),  # the layout before records carried their idle window
    live_record(ip=""), live_record(fingerprint=""),
    live_record()[:40] + b"x" + live_record()[41:],  # a digit of 'created' replaced
    live_record() + b"\x1fextra",
    None, b"", b"garbage", b"\x00" * 80, HASH, "a str, not bytes" * 5, 12, [b"list"],
], ids=["touch-due", "record-idle", "record-deadline", "11-fields", "no-ip", "no-device",
        "bad-digit", "13-fields", "missing", "empty", "garbage", "nuls", "hash-only", "str",
        "int", "list"])
def test_read_leaves_to_the_script_what_it_cannot_decide(raw):
    assert read(core(idle_timeout=timedelta(days=7)), raw) is SLOW


def test_read_with_a_new_kind_of_device_is_left_to_the_script():
    presented = core().validate_probe(TOKEN, user_agent=IPHONE_SAFARI).class_key  # type: ignore[union-attr]
    assert presented
    mac = core().validate_probe(TOKEN, user_agent=MAC_CHROME).class_key  # type: ignore[union-attr]
    rec = live_record(class_key=mac)  # type: ignore[arg-type]
    assert read(core(), rec, user_agent=IPHONE_SAFARI) is SLOW
    # controls: the session's own kind, a kind already reported, no user agent, the rule off
    assert isinstance(read(core(), rec, user_agent=MAC_CHROME), Session)
    reported = live_record(class_key=mac, reported=f"{presented},")  # type: ignore[arg-type]
    assert isinstance(read(core(), reported, user_agent=IPHONE_SAFARI), Session)
    assert isinstance(read(core(), rec), Session)
    off = core(detection=DetectionSettings(disabled=frozenset({"device_mismatch"})))
    assert isinstance(read(off, rec, user_agent=IPHONE_SAFARI), Session)


# -- validate_script --------------------------------------------------------------------------


def script_request(c: Core, probe_kw: dict | None = None, *, inline: bool = True,
                   rule: str = "alert", activity: str = "1") -> Eval:
    probe = c.validate_probe(TOKEN, **(probe_kw or {}))
    assert probe is not None
    b = base("alice")
    keys = ValidateKeys(b + "s:" + RAND, b + "u", b + "x:" + RAND, b + "pr:" + RAND,
                        *(("sw:events", "sw:stats") if inline else ()))
    return Eval("validate", tuple(k for k in keys if k), tuple(ValidateArgs(
        rand=RAND, token_hash=HASH, now=str(NOW), touch_ms=60_000,
        class_key=probe.class_key or "", legacy_class_key=probe.legacy_class_key or "",
        mismatch_rule=rule, tombstone_ms=7 * DAY,
        bind_details=json.dumps({"actor": "sessionwarden",
                                 "reason": "device_mismatch (bind_to_device)"},
                                separators=(",", ":"), sort_keys=True),
        stream_maxlen=100_000, not_before=0, probe_threshold=10, probe_window_ms=600_000,
        activity=activity)))


def test_script_ok_returns_the_session_of_the_returned_record():
    c = core(idle_timeout=timedelta(days=7))
    rec = live_record(active=NOW, idle=HOUR, user_id="alice")
    session, requests = validate(c, TOKEN, [ok(rec)], ip=IP, user_agent=MAC_CHROME)
    assert requests == [script_request(c, {"user_agent": MAC_CHROME})]
    assert isinstance(session, Session)
    assert (session.session_id, session.user_id, session.expires_ms) == (SID, "alice",
                                                                         NOW + HOUR)


def test_script_none_is_none_and_forgets_the_session():
    c = core()
    validate(c, TOKEN, [ok()])
    assert c.validate_probe(TOKEN).read is not None  # type: ignore[union-attr]
    result, requests = drive(c.validate_script(c.validate_probe(TOKEN)),  # type: ignore[arg-type]
                             [[b"none", NOW, []]])
    assert result is None and requests == [script_request(c)]
    assert c.validate_probe(TOKEN).read is None  # type: ignore[union-attr]


@pytest.mark.parametrize("inline", [True, False])
def test_script_expired_is_none_and_appends_returned_events_on_a_cluster(inline):
    c = core(inline=inline)
    expired = [entry("session_expired", sid=SID)] if not inline else []
    replies: list[object] = [[b"expired", NOW, expired]] + ([["id"]] if expired else [])
    result, requests = validate(c, TOKEN, replies)
    assert result is None
    assert requests[0] == script_request(c, inline=inline)
    assert requests[1:] == ([Batch((xadd(expired[0]), tally(NOW, live=-1)))] if not inline
                            else [])


@pytest.mark.parametrize(("same", "severity"), [(0, "high"), (1, "low")])
def test_script_revoked_reports_the_reuse_for_the_user_of_the_reply(same, severity):
    c = core()
    reply = [b"revoked", NOW, f"{NOW - 10 * 60_000}|password_change".encode(), b"alice-owner",
             same, [], []]
    result, requests = validate(c, TOKEN, [reply, b"id"], ip=IP, user_agent=MAC_CHROME)
    assert result is None and len(requests) == 2
    [finding] = requests[1].items  # the event, joined to the user's incident by its script
    fields = xadd_fields(finding)
    # an alert: the script also pushes it on the owner's alert list (the slot the session id
    # names) and counts it
    assert finding.keys == ("sw:events", "sw:alerts{sw:events}", incident("alice"),
                            base("alice") + "al", "sw:stats")
    assert {k: v for k, v in fields.items() if k != "d"} == {
        "type": "revoked_token_used", "user": "alice-owner", "sid": SID, "sev": severity,
        "at": str(NOW)}
    details = json.loads(fields["d"])
    assert {k: details[k] for k in ("revoked_reason", "ip", "device", "same_device",
                                    "minutes_since_revocation")} == {
        "revoked_reason": "password_change", "ip": IP, "device": "Mac/Chrome",
        "same_device": bool(same), "minutes_since_revocation": 10.0}
    off = core(detection=DetectionSettings(disabled=frozenset({"revoked_token_used"})))
    assert validate(off, TOKEN, [reply])[0] is None  # rule off: nothing appended


@pytest.mark.parametrize("tombstone", [b"garbage|evicted", b"", b"|x", b"12a|x"])
def test_script_revoked_with_a_corrupt_tombstone_is_none_and_logged(tombstone, caplog):
    reply = [b"revoked", NOW, tombstone, b"alice", 0, [], []]
    result, requests = validate(core(), TOKEN, [reply], ip=IP, user_agent=MAC_CHROME)
    assert result is None and len(requests) == 1  # nothing appended, nothing raised
    assert "corrupt tombstone" in caplog.text


def test_script_mismatch_reports_and_returns_the_session():
    c = core()
    rec = live_record(active=NOW)
    session, requests = validate(c, TOKEN, [ok(rec, b"mismatch"), ["id"]], ip=IP,
                                 user_agent=IPHONE_SAFARI)
    assert isinstance(session, Session) and session.session_id == SID
    assert requests[0] == script_request(c, {"user_agent": IPHONE_SAFARI})
    [event] = requests[1].items
    # the user's incident, list and the totals
    assert event.keys[2:] == (incident("alice"), base("alice") + "al", "sw:stats")
    fields = xadd_fields(event)
    assert (fields["type"], fields["user"], fields["sid"], fields["sev"]) == (
        "device_mismatch", "alice", SID, "high")
    details = json.loads(fields["d"])
    assert (details["device"], details["ip"], details["revoked"]) == ("iPhone/Safari", IP, False)


def test_script_mismatch_revoked_appends_revocation_and_finding_and_returns_none():
    c = core(inline=False, detection=DetectionSettings(bind_to_device=True))
    validate(c, TOKEN, [ok()])  # seen live: the probe now reads first
    revoked = entry("session_revoked", sid=SID)
    result, requests = drive(c.validate_script(c.validate_probe(TOKEN, user_agent=IPHONE_SAFARI)),
                             [ok(status=b"mismatch_revoked", events=[revoked]), ["a", "b"]])
    assert result is None
    assert requests[0] == script_request(c, {"user_agent": IPHONE_SAFARI}, inline=False,
                                         rule="bind")
    first, counted, second, *alert = requests[1].items
    assert first == xadd(revoked)
    assert counted == tally(NOW, live=-1)
    assert xadd_fields(second)["type"] == "device_mismatch"
    assert second.keys[2:] == (incident("alice"),)  # joined to the user's incident too
    # on a Cluster the user's alert list (another slot) and the totals follow in the pipeline
    assert [a.args[0] if isinstance(a, Command) else a.script for a in alert] == [
        "LPUSH", "LTRIM", "PEXPIRE", "tally"]
    assert json.loads(xadd_fields(second)["d"])["revoked"] is True
    assert c.validate_probe(TOKEN).read is None  # type: ignore[union-attr]


def test_script_error_is_none_and_logged(caplog):
    with caplog.at_level(logging.WARNING, "sessionwarden"):
        result, requests = validate(core(), TOKEN, [ScriptError("SWCORRUPT record")])
    assert result is None and len(requests) == 1
    assert "SWCORRUPT" in caplog.text and SID in caplog.text


# -- any sequence of replies ------------------------------------------------------------------


STEP = st.tuples(st.sampled_from(["ok", "none", "expired"]),
                 st.integers(min_value=0, max_value=120_000),  # how long since the last step
                 st.booleans())  # whether the script's reply carries events (a Cluster)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inline=st.booleans(), steps=st.lists(STEP, min_size=1, max_size=12))
def test_validate_never_raises_and_is_a_session_only_for_ok(inline, steps):
    clock = Clock()
    c = core(inline=inline, clock=clock)
    for status, elapsed, with_events in steps:
        clock.now += elapsed / 1000
        now = int(clock.now * 1000)
        events = [entry("session_expired", sid=SID, at=now)] if with_events else []
        if status == "ok":
            reply: list[object] = [b"ok", now, live_record(active=now, idle=HOUR), []]
        else:
            reply = [status.encode(), now, events]
        replies: list[object] = [reply]
        if status == "expired" and events:
            replies.append(["id"])
        probe = c.validate_probe(TOKEN, ip=IP, user_agent=MAC_CHROME)
        assert probe is not None
        if c._not_before_stale():  # the epoch is read again along with the first request
            replies[0] = [None, replies[0]]
        if probe.read is not None:
            replies.insert(0, None)  # the key is gone: the read leaves it to the script
            if isinstance(replies[1], list) and len(replies[1]) == 2:
                replies[0], replies[1] = [None, None], replies[1][1]
        result, _ = validate(c, TOKEN, replies, ip=IP, user_agent=MAC_CHROME)
        if status == "ok":
            assert isinstance(result, Session) and result.session_id == SID
            assert result.expires_ms == now + HOUR
        else:
            assert result is None


def test_read_under_bind_leaves_every_new_kind_of_device_to_the_script():
    """A kind reported under 'alert' (before bind_to_device was turned on) must not pass the
    read: the script revokes on any mismatch under 'bind'."""
    presented = core().validate_probe(TOKEN, user_agent=IPHONE_SAFARI).class_key  # type: ignore[union-attr]
    mac = core().validate_probe(TOKEN, user_agent=MAC_CHROME).class_key  # type: ignore[union-attr]
    # reported under 'alert' before the deployment turned bind_to_device on
    rec = live_record(class_key=mac, reported=f"{presented},")  # type: ignore[arg-type]
    bind = core(detection=DetectionSettings(bind_to_device=True))
    assert isinstance(read(bind, rec, user_agent=MAC_CHROME), Session)  # the session's own kind
    assert read(bind, rec, user_agent=IPHONE_SAFARI) is SLOW  # the script would revoke it
