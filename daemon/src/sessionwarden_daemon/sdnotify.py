"""The systemd notify protocol, without a dependency: one datagram per state change to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` is the abstract namespace)."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send e.g. ``"READY=1"``, ``"WATCHDOG=1"``, ``"STOPPING=1"``; ``False`` when not run by
    systemd (no socket) or the send failed (never raises)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings systemd expects (half of ``WatchdogSec``), or
    ``None`` when the watchdog is off for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2
