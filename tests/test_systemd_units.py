"""The systemd units pass `systemd-analyze verify`, and the daemon's unit keeps an exposure
score of at most 2.0 (`systemd-analyze security --offline=yes`), wherever the tool exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
TOOL = shutil.which("systemd-analyze")
needs_tool = pytest.mark.skipif(TOOL is None, reason="systemd-analyze is not installed")


@needs_tool
@pytest.mark.parametrize("unit", ["sessionwarden-daemon.service",
                                  "sessionwarden-notify.service"])
def test_units_verify(unit: str) -> None:
    done = subprocess.run([TOOL, "verify", str(UNITS / unit)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "sessionwarden" not in done.stderr, done.stderr


@needs_tool
def test_daemon_unit_exposure_is_at_most_2() -> None:
    done = subprocess.run([TOOL, "security", "--offline=yes",
                           str(UNITS / "sessionwarden-daemon.service")],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0


def test_daemon_unit_has_what_the_issue_requires() -> None:
    text = (UNITS / "sessionwarden-daemon.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "DynamicUser=yes",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "SystemCallFilter=@system-service", "ProtectSystem=strict",
                 "EnvironmentFile=-/etc/sessionwarden/daemon.env"):
        assert line in text, line
