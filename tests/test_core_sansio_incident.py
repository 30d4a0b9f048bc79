"""The incident controls of the sans-I/O core, fed scripted replies: the not-before epoch in
validate's pipeline, the probing finding, lock / unlock / create-while-locked, the purge."""

from __future__ import annotations

import logging

import pytest
from scripted import NOW, Clock, base, core, drive, drive_raises, incident, tag, xadd
from test_core_sansio_validate import RAND, TOKEN, live_record, ok, validate

from sessionwarden import AccountLocked, StoreUnavailable
from sessionwarden.core import SLOW
from sessionwarden.core.controls import PurgeResult
from sessionwarden.models import Session
from sessionwarden.protocol import Batch, Command, Eval
from sessionwarden.scripts.calls import ValidateArgs

EPOCH_GET = Command(("GET", "sw:nb"))
NOT_BEFORE = ValidateArgs._fields.index("not_before")  # its place among the script's ARGV


def test_a_stale_epoch_is_read_in_the_same_pipeline_as_the_script_and_judges_the_reply():
    clock = Clock()
    c = core(clock=clock, epoch_known=False)
    rec = live_record(active=NOW)  # created NOW - 100 s
    session, requests = validate(c, TOKEN, [[None, ok(rec)]])
    assert isinstance(session, Session)
    [batch] = requests
    assert isinstance(batch, Batch) and batch.items[0] == EPOCH_GET
    assert isinstance(batch.items[1], Eval) and batch.items[1].script == "validate"
    assert batch.items[1].args[NOT_BEFORE] == 0  # not_before: none known yet
    # fresh for 0.5 s: the read alone
    assert validate(c, TOKEN, [rec])[1] == [Command(("GET", base("alice") + "s:" + RAND))]
    # another process, whose script was given the old epoch, but the epoch read in the same
    # pipeline is newer than the session: refused at once, although the script answered ok
    other = core(clock=clock, epoch_known=False)
    session, requests = validate(other, TOKEN, [[str(NOW - 50_000).encode(), ok(rec)]])
    assert session is None and isinstance(requests[0], Batch)
    # and its next script is given that epoch, and ends the session
    ended, requests = validate(other, TOKEN, [[b"ended", NOW, []]])
    assert ended is None and requests[0].args[NOT_BEFORE] == NOW - 50_000  # type: ignore[union-attr]


def test_the_read_path_carries_the_epoch_read_and_leaves_an_earlier_session_to_the_script():
    clock = Clock()
    c = core(clock=clock)
    rec = live_record()
    assert isinstance(validate(c, TOKEN, [ok(rec)])[0], Session)  # now remembered
    clock.now += 0.5
    probe = c.validate_probe(TOKEN)
    assert probe is not None and probe.read == Batch((
        EPOCH_GET, Command(("GET", base("alice") + "s:" + RAND))))
    assert isinstance(c.validate_read(probe, [None, rec]), Session)
    clock.now += 0.5
    probe = c.validate_probe(TOKEN)
    assert c.validate_read(probe, [str(NOW).encode(), rec]) is SLOW  # type: ignore[arg-type]


def test_an_epoch_that_is_not_a_number_fails_closed():
    c = core(epoch_known=False)
    exc, _ = drive_raises(c.validate_script(c.validate_probe(TOKEN)),  # type: ignore[arg-type]
                          [[b"garbage", ok()]], StoreUnavailable)
    assert "sw:nb" in str(exc)


def test_a_completed_probe_burst_is_one_medium_finding_and_the_answer_stays_none():
    c = core()
    probed = [b"none", NOW, [], 1, b"alice"]
    result, requests = validate(c, TOKEN, [probed, ["1-0"]], ip="203.0.113.9")
    assert result is None
    finding = requests[1].items[0]
    assert finding.script == "finding"
    assert (finding.args[1], finding.args[4]) == ("session_probe", "medium")
    assert finding.keys[2] == incident("alice")  # joined to the user's incident like any other
    quiet, requests = validate(c, TOKEN, [[b"none", NOW, [], 0, b""]])
    assert quiet is None and len(requests) == 1
    assert validate(c, TOKEN, [[b"none", NOW, []]]) == (None, [requests[0]])  # unknown id


def test_create_for_a_locked_account_raises_and_writes_nothing_more():
    c = core(inline=False)
    exc, requests = drive_raises(c.create_session("alice", user_agent=None, ip="8.8.8.8"),
                                 [[b"locked", NOW, []]], AccountLocked)
    assert exc.user_id == "alice" and len(requests) == 1  # no index entries, no findings


def test_lock_on_a_cluster_appends_events_audit_and_the_listing_entries():
    c = core(inline=False)
    fields = [b"type", b"account_locked", b"user", b"alice", b"sid", b"", b"sev", b"info",
              b"at", str(NOW).encode(), b"d", b"{}"]
    audit = [b"kind", b"account_locked", b"actor", b"admin"]
    ended, requests = drive(c.lock_user("alice", actor="admin", reason="r"),
                            [[2, 0, NOW, [fields], [audit]], [1, 1, 1, 1]])
    assert ended == 2
    lock, after = requests
    assert lock.script == "lock" and lock.keys == (base("alice") + "u", base("alice") + "a")
    assert after.items[0] == xadd(fields)
    assert after.items[-2:] == (Command(("ZADD", "sw:users", 0, "alice")),
                                Command(("ZADD", "sw:locked", NOW, "alice")))


def test_purge_walks_the_expiry_index_with_a_stored_cursor():
    c = core()
    epoch = str(NOW).encode()
    result, requests = drive(c.purge_everyone(limit=2), [
        [epoch, [None, None]],
        [b"7", [tag("alice").encode(), b"1", tag("bob").encode(), b"2"]],
        [[2, []], [0, []]],
        [1],
    ])
    assert result == PurgeResult(2, 2, False)
    assert requests[1] == Command(("ZSCAN", "sw:exp", "0", "COUNT", 2))
    assert [e.keys[0] for e in requests[2].items] == [base("alice") + "u", base("bob") + "u"]
    assert requests[3].items[-1] == Command(("HSET", "sw:nb:purge", "epoch", str(NOW),
                                             "cursor", "7"))
    # resumed from the cursor, until the walk comes round: done
    result, requests = drive(c.purge_everyone(limit=2), [
        [epoch, [epoch, b"7"]], [b"0", []], [1]])
    assert result == PurgeResult(0, 0, True)
    assert requests[1].args[2] == "7"
    assert requests[2].items[-1].args[-1] == "done"
    assert drive(c.purge_everyone(), [[epoch, [epoch, b"done"]]])[0] == (0, 0, True)
    assert drive(c.purge_everyone(), [[None, [None, None]]])[0] == (0, 0, True)


@pytest.mark.parametrize("kwargs", [dict(actor=""), dict(actor=None), dict(actor="  ")])
def test_incident_operations_require_an_actor(kwargs):
    c = core()
    for op in (lambda: c.lock_user("alice", **kwargs), lambda: c.unlock_user("alice", **kwargs),
               lambda: c.revoke_everyone(**kwargs)):
        with pytest.raises(ValueError, match="actor"):
            next(op())


def test_purge_skips_a_user_whose_script_failed_and_goes_on(caplog):
    """One user's clean-up failing (a corrupt record) is logged; the batch goes on and the
    cursor still moves, so the walk never sticks on that user."""
    c = core()
    epoch = str(NOW).encode()
    with caplog.at_level(logging.WARNING, "sessionwarden"):
        result, requests = drive(c.purge_everyone(limit=2), [
            [epoch, [None, None]],
            [b"7", [tag("alice").encode(), b"1", tag("bob").encode(), b"2"]],
            [RuntimeError("SWCORRUPT boom"), [3, []]],
            [1],
        ])
    assert result == PurgeResult(3, 2, False)
    assert "clean-up of user" in caplog.text and "boom" in caplog.text
    assert requests[3].items[-1] == Command(("HSET", "sw:nb:purge", "epoch", str(NOW),
                                             "cursor", "7"))
