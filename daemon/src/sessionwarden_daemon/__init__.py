"""SessionWarden's daemon: expiry sweeps, stream retention, heartbeats and alert delivery
that never loses or repeats an alert. Uses only the public API of `sessionwarden`."""

from __future__ import annotations

__version__ = "0.1.0"
