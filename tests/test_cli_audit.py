"""``sessionwarden audit`` and the commands other distributions add (``sessionwarden daemon``),
through the CLI's own entry point."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from conftest import IP_US, MAC_CHROME, Backend

from sessionwarden import cli, commands


def run(mgr, *argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = cli.main(list(argv), manager=mgr, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_audit_lists_revocations_with_actor_and_reason(backend: Backend) -> None:
    mgr = backend.manager()
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    mgr.revoke_session("alice", created.session_id, actor="oncall:kim", reason="lost\x1b[2J")
    code, out, err = run(mgr, "audit", "--user", "alice", "--since", "7d")
    assert (code, err) == (0, "")
    assert "session_revoked" in out and "actor=oncall:kim" in out and "\x1b" not in out
    assert out.endswith("1 entry\n")
    code, out, _ = run(mgr, "audit", "--json")
    [entry] = json.loads(out)["entries"]
    assert entry["reason"].startswith("lost") and entry["session_id"] == created.session_id


def test_audit_arguments_are_checked(backend: Backend) -> None:
    mgr = backend.manager()
    for bad in (["--since", "yesterday"], ["--since", "0s"], ["--limit", "0"]):
        code, out, err = run(mgr, "audit", *bad)
        assert (code, out) == (2, "") and "error" in err and bad[0] in err, bad
    code, _, err = run(mgr, "audit", "--user", "")
    assert code == 2 and "user_id" in err


def test_daemon_command_is_found_through_the_entry_point() -> None:
    pytest.importorskip("sessionwarden_daemon")
    from sessionwarden_daemon.cli import daemon_main
    assert commands.external_command("daemon") is daemon_main
    assert commands.dispatch_external(["users"], StringIO()) is None
    assert commands.dispatch_external(["--redis-url", "x", "users"], StringIO()) is None


def test_a_missing_distribution_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "entry_points", lambda group: [])
    for name, package in (("daemon", "sessionwarden-daemon"),
                          ("console", "sessionwarden-console"),
                          ("demo", "'sessionwarden-console[demo]'")):
        err = StringIO()
        assert cli.main([name, "--config", "x"], stdout=StringIO(), stderr=err) == 2
        assert f"pip install {package}" in err.getvalue()
        assert len(err.getvalue().splitlines()) == 1
