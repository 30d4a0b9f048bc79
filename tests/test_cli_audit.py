"""``sessionwarden audit`` (sessionwarden/cli_audit.py) and the lookup of commands of other
distributions (``sessionwarden daemon``), before they are wired into cli.py."""

from __future__ import annotations

import argparse
import json
from io import StringIO

import pytest
from conftest import IP_US, MAC_CHROME, Backend

from sessionwarden import cli_audit


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_audit.add_audit_arguments(parser)
    return parser.parse_args(list(argv))


def test_audit_lists_revocations_with_actor_and_reason(backend: Backend) -> None:
    mgr = backend.manager()
    created = mgr.create_session("alice", user_agent=MAC_CHROME, ip=IP_US)
    mgr.revoke_session("alice", created.session_id, actor="oncall:kim", reason="lost\x1b[2J")
    out = StringIO()
    assert cli_audit.run_audit(mgr, parse("--user", "alice", "--since", "7d"), out) == 0
    text = out.getvalue()
    assert "session_revoked" in text and "actor=oncall:kim" in text and "\x1b" not in text
    out = StringIO()
    assert cli_audit.run_audit(mgr, parse("--json"), out) == 0
    [entry] = json.loads(out.getvalue())["entries"]
    assert entry["reason"].startswith("lost")


def test_since_is_checked() -> None:
    with pytest.raises(SystemExit):
        parse("--since", "yesterday")
    assert cli_audit.since("7d").days == 7


def test_daemon_command_is_found_through_the_entry_point() -> None:
    pytest.importorskip("sessionwarden_daemon")
    from sessionwarden_daemon.cli import daemon_main
    assert cli_audit.external_command("daemon") is daemon_main
    assert cli_audit.dispatch_external(["users"], StringIO()) is None


def test_a_missing_distribution_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_audit, "entry_points", lambda group: [])
    err = StringIO()
    assert cli_audit.dispatch_external(["daemon", "--config", "x"], err) == 2
    assert "pip install sessionwarden-daemon" in err.getvalue()
