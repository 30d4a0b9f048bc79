"""Reading the event stream: newest first, or after a cursor (optionally blocking)."""

from __future__ import annotations

from typing import Any

from ..codec import decode_entries, events_from_entries
from ..models import Event, EventPage
from ..protocol import Command, Op
from ..sanitize import clean_text
from .base import CoreBase, bounded_limit, is_stream_id


def _nested(entries: Any) -> bool:
    """redis-py RESP3 XREAD replies nest entries one level deeper than RESP2 ones."""
    return bool(entries) and isinstance(entries[0], list) and bool(entries[0]) and isinstance(
        entries[0][0], list | tuple)


class EventOps(CoreBase):
    def recent_events(self, limit: int = 100) -> Op[list[Event]]:
        """The newest events first."""
        limit = bounded_limit(limit)
        reply = yield Command(("XREVRANGE", self.keys.events, "+", "-", "COUNT", limit))
        return events_from_entries(reply)

    def events_after(self, after: str = "0-0", *, limit: int = 100,
                     block_ms: int | None = None) -> Op[EventPage]:
        """Events newer than stream id ``after``, oldest first, with the cursor to pass next;
        ``block_ms`` waits for some (keep it below the socket timeout)."""
        limit = bounded_limit(limit)
        if not isinstance(after, str) or not (after == "$" or is_stream_id(after)):
            raise ValueError(f"after: not a stream id: {clean_text(str(after), 40)!r}")
        args: tuple[Any, ...] = ("XREAD", "COUNT", limit)
        if block_ms is not None:
            if not isinstance(block_ms, int) or not 0 < block_ms <= 60_000:
                raise ValueError("block_ms: must be from 1 to 60000")
            args += ("BLOCK", block_ms)
        reply = yield Command((*args, "STREAMS", self.keys.events, after))
        streams = (reply.items() if isinstance(reply, dict) else reply) or []
        for _name, entries in streams:
            events, last = decode_entries(entries[0] if _nested(entries) else entries)
            return EventPage(events, last or after)
        return EventPage([], after)
