"""SessionWarden: expiring, revocable, observable sessions on Redis.

>>> from sessionwarden import SessionManager, Settings
>>> mgr = SessionManager.from_url("redis://localhost:6379/0", settings=Settings())
"""

from __future__ import annotations

from .connection import RedisSettings
from .errors import (
    AccountLocked,
    InvalidAlertAction,
    ManagerClosed,
    PoolExhausted,
    SecretRequired,
    SessionLimitExceeded,
    SessionWardenError,
    StoreAuthFailed,
    StoreRefused,
    StoreUnavailable,
)
from .manager import AsyncSessionManager, SessionManager
from .models import (
    AuditEntry,
    CreatedSession,
    Device,
    Event,
    LockedUser,
    Session,
    SessionView,
    UserSummary,
)
from .policy import ASSURANCE, PRESETS, SessionPolicy
from .settings import DetectionSettings, Settings
from .stepup import FreshDecision, require_fresh

__all__ = [
    "ASSURANCE",
    "PRESETS",
    "AccountLocked",
    "AsyncSessionManager",
    "AuditEntry",
    "CreatedSession",
    "DetectionSettings",
    "Device",
    "Event",
    "FreshDecision",
    "InvalidAlertAction",
    "LockedUser",
    "ManagerClosed",
    "PoolExhausted",
    "RedisSettings",
    "SecretRequired",
    "Session",
    "SessionLimitExceeded",
    "SessionManager",
    "SessionPolicy",
    "SessionView",
    "SessionWardenError",
    "Settings",
    "StoreAuthFailed",
    "StoreRefused",
    "StoreUnavailable",
    "UserSummary",
    "require_fresh",
]
