"""A lease in Redis: at most one holder at a time (two daemons: exactly one sweeps). The
holder renews it well inside its lifetime; one that stops renewing (dead, or cut off from
Redis) loses it when it expires and another takes over."""

from __future__ import annotations

from ..protocol import Op
from ..scripts.calls import LeaseArgs, LeaseKeys, call
from .base import CoreBase


def _checked(name: object, owner: object) -> tuple[str, str]:
    for argument, value in (("name", name), ("owner", owner)):
        if (not isinstance(value, str) or not 1 <= len(value) <= 128
                or not all(ch.isalnum() or ch in "-_.:@" for ch in value)):
            raise ValueError(f"{argument}: 1-128 characters A-Z a-z 0-9 - _ . : @")
    return name, owner  # type: ignore[return-value]


class LeaseOps(CoreBase):
    def acquire_lease(self, name: str, owner: str, *, ttl_ms: int) -> Op[bool]:
        """Take the lease ``name`` for ``owner`` for ``ttl_ms`` if it is free, or renew it if
        ``owner`` holds it; ``False`` when someone else holds it."""
        name, owner = _checked(name, owner)
        if not isinstance(ttl_ms, int) or not 100 <= ttl_ms <= 3_600_000:
            raise ValueError("ttl_ms: must be an integer from 100 to 3600000")
        reply = yield call("lease", LeaseKeys(self.keys.lease(name)),
                           LeaseArgs(owner, ttl_ms, "acquire"))
        return bool(int(reply))

    def release_lease(self, name: str, owner: str) -> Op[bool]:
        """Give the lease up, only if ``owner`` holds it."""
        name, owner = _checked(name, owner)
        reply = yield call("lease", LeaseKeys(self.keys.lease(name)),
                           LeaseArgs(owner, 0, "release"))
        return bool(int(reply))
