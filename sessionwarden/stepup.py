"""Step-up ("sudo mode"): may a sensitive action proceed on this session's last proof of
identity, or must the app prompt for a fresh one? Pure: no I/O, no clock but the one given.

The pattern is GitHub's sudo mode: a session that proved who it is recently enough, and
strongly enough, may change a password or delete a repository; otherwise the app asks for the
password (or the second factor), calls ``reauthenticate(token, assurance=...)`` and, as ASVS
asks on re-authentication, ``rotate_session(token)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .models import Session
from .policy import ASSURANCE, assurance_rank

#: Why a decision is what it is: ``fresh`` (may proceed), ``stale`` (the proof is older than
#: ``within``), ``weak`` (recent enough, but weaker than required).
FreshReason = Literal["fresh", "stale", "weak"]

MAX_WITHIN = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class FreshDecision:
    """`require_fresh`'s answer. ``ok``: the action may proceed (also ``bool(decision)``);
    otherwise prompt for a proof of at least ``required`` and call ``reauthenticate``.
    ``reason``: see `FreshReason` (``stale`` wins over ``weak`` when both hold: a new proof of
    the required strength cures both). ``age``: time since the last proof (never negative);
    ``assurance``: the strength of that proof."""

    ok: bool
    reason: FreshReason
    age: timedelta
    assurance: str
    required: str
    within: timedelta

    def __bool__(self) -> bool:
        return self.ok


def require_fresh(session: Session, *, within: timedelta = timedelta(minutes=10),
                  assurance: str = "mfa", now: datetime | float | None = None) -> FreshDecision:
    """Whether ``session`` proved who it is within ``within`` (a positive timedelta of at most
    400 days) with at least ``assurance`` (one of `ASSURANCE`). ``now``: a datetime or epoch
    seconds, for tests; by default this process's clock. ``TypeError`` / ``ValueError`` naming
    the argument for anything else; never I/O."""
    if not isinstance(session, Session):
        raise TypeError(f"session: expected a Session, got {type(session).__name__}")
    if not isinstance(within, timedelta):
        raise TypeError(f"within: expected a timedelta, got {type(within).__name__}")
    if not timedelta(0) < within <= MAX_WITHIN:
        raise ValueError(f"within: must be positive and at most 400 days, got {within}")
    required = assurance_rank(assurance)
    if now is None:
        now_ms = int(time.time() * 1000)
    elif isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now: must be timezone-aware")
        now_ms = int(now.timestamp() * 1000)
    elif isinstance(now, int | float) and not isinstance(now, bool):
        now_ms = int(now * 1000)
    else:
        raise TypeError(f"now: expected a datetime or epoch seconds, got {type(now).__name__}")
    age = timedelta(milliseconds=max(0, now_ms - session.authenticated_ms))
    held = assurance_rank(session.assurance, "session.assurance")
    reason: FreshReason = ("stale" if age >= within else "weak" if held < required
                           else "fresh")
    return FreshDecision(ok=reason == "fresh", reason=reason, age=age,
                         assurance=session.assurance, required=ASSURANCE[required],
                         within=within)
