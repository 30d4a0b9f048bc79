"""Exceptions of the library: few, so callers can catch what they mean.

Every call that reaches Redis turns *store trouble* into `StoreUnavailable` (or one of its
subclasses), so an application can fail closed (treat the request as unauthenticated) with one
``except StoreUnavailable``. Store trouble is anything that keeps Redis from doing what was
asked: it cannot be reached, does not answer in time, loses the connection before the reply,
answers with something that is not Redis protocol, or refuses the command (out of memory, a
read-only replica, a replica without its master, loading, busy, authentication).

A lost reply is store trouble too: the caller cannot know whether the command ran, and the
library never sends it again.
"""

from __future__ import annotations


class SessionWardenError(Exception):
    """Base class of every exception raised on purpose by this library."""


class StoreUnavailable(SessionWardenError):
    """Redis could not be reached, did not answer in time, lost the reply, or refused.

    Validation must fail closed on this: the caller cannot know whether the session is live.
    After a write (create, revoke) it means the write may or may not have happened.
    """


class StoreRefused(StoreUnavailable):
    """Redis answered with an error reply other than one of the library's own script errors:
    ``OOM`` (maxmemory with a no-eviction policy), ``READONLY`` (a replica), ``MASTERDOWN``,
    ``LOADING``, ``BUSY`` (a long script), ``NOPERM`` (ACL), ``WRONGTYPE`` (a foreign key where
    the library keeps its own) and the like.

    ``code`` is the error's first word (e.g. ``"OOM"``), ``str(exc)`` carries Redis's message.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class StoreAuthFailed(StoreRefused):
    """Redis refused the credentials (``WRONGPASS``) or wants some (``NOAUTH``). Raised at the
    first attempt: trying again cannot make a password right."""


class PoolExhausted(StoreUnavailable):
    """Every connection of the pool stayed busy for ``RedisSettings.pool_timeout``: this
    process is overloaded (or its pool too small), Redis itself may be fine. Nothing was sent.
    """


class ManagerClosed(SessionWardenError):
    """The manager was closed (``close()`` / ``aclose()``); it never reconnects. Build a new one.
    """


class SessionLimitExceeded(SessionWardenError):
    """``on_limit="deny"`` and the user already holds ``max_sessions`` live sessions."""

    def __init__(self, user_id: str, limit: int) -> None:
        super().__init__(
            f"user already has {limit} active sessions (the limit); sign out of one first"
        )
        self.user_id = user_id
        self.limit = limit


class AccountLocked(SessionWardenError):
    """The account is locked (`lock_user`, an incident control): no session is created for it
    until `unlock_user`. Nothing was written. Tell the user to contact support, not that the
    password was wrong."""

    def __init__(self, user_id: str) -> None:
        super().__init__("this account is locked: no new session until it is unlocked")
        self.user_id = user_id


class InvalidAlertAction(SessionWardenError):
    """An alert action token is malformed, forged, expired or already used."""


class SecretRequired(SessionWardenError):
    """The operation needs the deployment's secret (it computes device fingerprints or signs
    alert links), and this manager was built without one: an operator manager (CLI, console)
    may list, revoke and read, never issue or validate sessions."""

    def __init__(self, operation: str, env: str) -> None:
        super().__init__(f"{operation} need the deployment secret: set Settings(secret=...) or "
                         f"{env} to the secret the web app uses")
        self.operation = operation
