"""``--notify``: a desktop notification (plyer) for high and critical alerts, best effort:
no plyer, no desktop, any failure — nothing happens. On Linux plyer uses dbus-python when it is
installed, else runs ``notify-send`` (libnotify) when it is on ``PATH``, else does nothing; the
history shown at start-up is never notified, only alerts that arrive while the console runs.
Each notification is sent from its own short-lived thread, so a slow desktop never holds the
UI."""

from __future__ import annotations

import threading


def desktop_notify(title: str, message: str) -> None:
    def send() -> None:
        try:
            from plyer import notification  # optional, best effort

            notification.notify(title=title, message=message, app_name="SessionWarden",
                                timeout=10)
        except Exception:  # best effort by design
            return

    threading.Thread(target=send, daemon=True).start()
