"""The I/O vocabulary between the sans-I/O core and the sync/async managers.

A core operation is a generator: it yields requests, receives each reply, and returns the
operation's result. The sync manager answers with ``redis.Redis``, the async one with
``redis.asyncio.Redis``; both run the very same generator, so the logic exists once.
A request's reply is the raw Redis reply (bytes); a `Batch` replies with a list, in order.
Script errors are thrown into the generator as `ScriptError`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, NamedTuple, TypeVar

from .errors import SessionWardenError

T = TypeVar("T")


# Named tuples, not dataclasses: validate builds one per request, and a named tuple is
# built in a fraction of a frozen dataclass's time.
class Eval(NamedTuple):
    """Run the named script of `sessionwarden.scripts` (EVALSHA; EVAL of the source on NOSCRIPT)."""

    script: str
    keys: tuple[str, ...]
    args: tuple[Any, ...]


class Command(NamedTuple):
    """One plain Redis command, e.g. ``("ZADD", key, score, member)``."""

    args: tuple[Any, ...]


class Batch(NamedTuple):
    """Several requests sent as one pipeline (one round trip, not a transaction)."""

    items: tuple[Eval | Command, ...]


Request = Eval | Command | Batch
Op = Generator[Request, Any, T]


class ScriptError(SessionWardenError):
    """A script refused the operation (its error reply, e.g. ``SWCOLLISION ...``)."""
