"""Exceptions of the library: few, so callers can catch what they mean.

Every call that reaches Redis maps connection and timeout failures to `StoreUnavailable`, so an
application can fail closed (treat the request as unauthenticated) with one ``except``.
"""

from __future__ import annotations


class SessionWardenError(Exception):
    """Base class of every exception raised on purpose by this library."""


class StoreUnavailable(SessionWardenError):
    """Redis could not be reached or did not answer in time.

    Validation must fail closed on this: the caller cannot know whether the session is live.
    """


class SessionLimitExceeded(SessionWardenError):
    """``on_limit="deny"`` and the user already holds ``max_sessions`` live sessions."""

    def __init__(self, user_id: str, limit: int) -> None:
        super().__init__(
            f"user already has {limit} active sessions (the limit); sign out of one first"
        )
        self.user_id = user_id
        self.limit = limit


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
