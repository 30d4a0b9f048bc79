"""Bounded memos shared by a manager's threads (validate's caches and routing hint)."""

from __future__ import annotations

import contextlib
from typing import Any


def bounded_put(memo: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """``memo[key] = value``, first dropping the longest-held entries while the memo is full.

    A manager is shared by threads, and another thread may take the same entry first (a
    ``KeyError``) or change the memo under the iterator: the loop then looks again, so racing
    evictions never leak (at most one entry over the bound per thread in the middle of a put).
    """
    if key not in memo:
        while len(memo) >= limit:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del memo[next(iter(memo))]
    memo[key] = value
