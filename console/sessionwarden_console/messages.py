"""Typed messages workers post back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class Fetched(Message):
    """A worker's read succeeded: ``what`` names the data, ``payload`` holds it."""

    what: str
    payload: Any


@dataclass
class FetchFailed(Message):
    """A worker's read or write failed (Redis unreachable, refused, ...)."""

    what: str
    error: str
    unavailable: bool = True  # Redis unreachable (else: refused, e.g. a bad user id)


@dataclass
class Done(Message):
    """A mutating action finished: ``text`` says what happened."""

    text: str
    ok: bool = True
