"""The CLI's incident commands: lock, unlock, revoke-everyone (the word typed back)."""

from __future__ import annotations

import io

import pytest
from conftest import IP_US, MAC_CHROME, settings
from test_cli import TTYInput, assert_error, run

from sessionwarden import AccountLocked, cli
from sessionwarden.keys import KeySchema


@pytest.fixture(autouse=True)
def login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.getpass, "getuser", lambda: "tester")


@pytest.fixture
def mgr(backend):
    return backend.manager(settings())


def sign_in(mgr, user: str = "alice"):
    return mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)


def test_lock_and_unlock(mgr) -> None:
    created = sign_in(mgr)
    sign_in(mgr, "bob")
    result = run(mgr, "lock", "alice", "--reason", "takeover")
    assert (result.code, result.out, result.err) == (0, "locked alice: 1 session(s) ended\n", "")
    assert mgr.validate_session(created.token) is None
    with pytest.raises(AccountLocked):
        sign_in(mgr)
    entry = mgr.audit_trail(user_id="alice")[0]
    assert (entry.kind, entry.actor, entry.reason) == ("account_locked", "cli:tester",
                                                       "takeover")
    again = run(mgr, "lock", "alice", "--reason", "still")
    assert again.code == 0 and "already locked" in again.out
    # the lock in the listings
    users = run(mgr, "users").out.splitlines()
    assert users[0].split() == ["USER", "LOCKED"]
    assert users[1].startswith("alice") and "LOCKED since" in users[1]
    assert users[2].rstrip() == "bob"
    assert run(mgr, "users", "--json").json["users"][0]["locked_at"] is not None
    recent = run(mgr, "users", "--recent").out.splitlines()
    assert recent[0].split()[-1] == "LOCKED" and any("LOCKED since" in r for r in recent)
    sessions = run(mgr, "sessions", "alice")
    assert sessions.out.startswith("account alice is LOCKED since ")
    assert run(mgr, "sessions", "alice", "--json").json["locked_at"] is not None

    unlocked = run(mgr, "unlock", "alice", "--reason", "verified")
    assert (unlocked.code, unlocked.out) == (0, "unlocked alice\n")
    sign_in(mgr)
    twice = run(mgr, "unlock", "alice", "--reason", "verified")
    assert (twice.code, twice.out, twice.err) == (1, "", "sessionwarden: alice is not locked\n")
    assert run(mgr, "users").out.splitlines()[0].split() == ["USER"]  # no lock: no column


def test_lock_needs_a_reason_and_a_valid_user(mgr) -> None:
    assert run(mgr, "lock", "alice").code == 2
    assert run(mgr, "unlock", "alice").code == 2
    assert_error(run(mgr, "lock", "bad\x1bid", "--reason", "r"), "user_id")
    assert mgr.locked_users() == []


def test_hostile_ids_and_reasons_never_reach_the_terminal(mgr) -> None:
    odd = "-dash[bold]DOMAIN\\user"  # valid, and starts with '-'
    result = run(mgr, "lock", "--reason", "\x1b[31mred\x07", "--", odd)
    assert (result.code, result.out) == (0, f"locked {odd}: 0 session(s) ended\n")
    entry = mgr.audit_trail(user_id=odd)[0]
    assert "\x1b" not in entry.reason and "\x07" not in entry.reason and "red" in entry.reason
    for hostile in ("evil\x1b]0;pwn\x07user", "bidi\u202euser"):
        assert_error(run(mgr, "lock", "--reason", "x", hostile), "user_id")
        assert "\x1b" not in run(mgr, "lock", "--reason", "x", hostile).err


@pytest.mark.parametrize("typed", ["", "no", "Everyone", "everyone please", "y"])
def test_revoke_everyone_wrong_word_does_nothing(mgr, backend, typed: str) -> None:
    created = sign_in(mgr)
    result = run(mgr, "revoke-everyone", "--reason", "breach", stdin=TTYInput(typed + "\n"))
    assert result.code == 1 and result.out == ""
    assert "Type 'everyone'" in result.err and "aborted, nothing revoked" in result.err
    assert backend.raw().exists(KeySchema("sw").not_before) == 0
    assert mgr.validate_session(created.token) is not None
    assert [e.kind for e in mgr.audit_trail()] == []


def test_revoke_everyone_with_the_word_typed_or_piped(mgr) -> None:
    created = sign_in(mgr)
    result = run(mgr, "revoke-everyone", "--reason", "db leak", stdin=TTYInput("everyone\n"))
    assert result.code == 0 and result.out.startswith("signed out everyone")
    assert mgr.validate_session(created.token) is None
    entry = mgr.audit_trail()[0]
    assert (entry.kind, entry.actor, entry.reason) == ("everyone_revoked", "cli:tester",
                                                       "db leak")
    # a script that means it pipes the word; there is no flag to skip it
    piped = run(mgr, "revoke-everyone", "--reason", "again", stdin=io.StringIO("everyone\n"))
    assert piped.code == 0
    assert run(mgr, "revoke-everyone", "--reason", "r", "--yes").code == 2
    assert run(mgr, "revoke-everyone", stdin=io.StringIO("everyone\n")).code == 2  # no reason
