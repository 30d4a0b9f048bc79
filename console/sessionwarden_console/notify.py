"""``--notify``: a desktop notification (plyer) for high and critical alerts, best effort:
no plyer, no desktop, any failure — nothing happens."""

from __future__ import annotations

import threading


def desktop_notify(title: str, message: str) -> None:
    def send() -> None:
        try:
            from plyer import notification  # optional

            notification.notify(title=title, message=message, app_name="SessionWarden",
                                timeout=10)
        except Exception:  # best effort by design
            return

    threading.Thread(target=send, daemon=True).start()
