"""Encoding between Redis replies and the records of `models` (no I/O).

Replies arrive as bytes (the managers use ``decode_responses=False`` because token hashes are
raw bytes). Every decoder raises `CorruptRecord` on a record it cannot read; callers skip such
records and log them, so one bad hash never hides a user's other sessions.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from .geo import place_label
from .models import Device, Event, Session, SessionView, ago, from_ms

log = logging.getLogger("sessionwarden")

class CorruptRecord(ValueError):
    """A Redis record that does not have the shape this version writes."""


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def pairs(flat: list[Any]) -> dict[str, Any]:
    """``[k1, v1, k2, v2]`` -> ``{k1: v1, ...}`` with text keys (values left as they are)."""
    return {text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def session_from_fields(
    session_id: str, user_id: str, fields: dict[str, Any], *, idle_ms: int
) -> Session:
    """A `Session` from a session hash (text keys). The expiry is recomputed from the fields."""
    try:
        created, active, deadline = int(fields["c"]), int(fields["a"]), int(fields["e"])
        if fields["ip"] is None or fields["d"] is None:
            raise KeyError("ip" if fields["ip"] is None else "d")
        ip, fingerprint = text(fields["ip"]), text(fields["d"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"session {session_id}: missing or malformed field {exc}") from None
    return Session(
        session_id=session_id,
        user_id=user_id,
        created_at=from_ms(created),
        last_active_at=from_ms(active),
        expires_at=from_ms(min(active + idle_ms, deadline)),
        absolute_expires_at=from_ms(deadline),
        ip=ip,
        country=text(fields.get("cc")) or None,
        network=text(fields.get("nw")) or "public",
        city=text(fields.get("ct")) or None,
        fingerprint=fingerprint,
    )


# A device record is "<first seen ms>|<last seen ms>|<description>", the description being
# these fields joined by the unit separator: compact, and never ambiguous because every field
# is cleaned text (no control characters).
DEVICE_FIELDS = ("l", "b", "o", "k", "ip", "cc")
_UNIT = "\x1f"


def encode_device(label: str, browser: str, os: str, device_class: str, ip: str,
                  country: str) -> str:
    return _UNIT.join((label, browser, os, device_class, ip, country))


def split_device_record(raw: Any) -> tuple[int, int, dict[str, str]]:
    """``"<first ms>|<last ms>|<description>"`` -> (first, last, fields by short name)."""
    try:
        first, last, body = text(raw).split("|", 2)
        values = body.split(_UNIT)
        if len(values) != len(DEVICE_FIELDS):
            raise ValueError(f"expected {len(DEVICE_FIELDS)} fields, got {len(values)}")
        return int(first), int(last), dict(zip(DEVICE_FIELDS, values, strict=True))
    except (ValueError, TypeError) as exc:
        raise CorruptRecord(f"device record: {exc}") from None


def device_from_record(fingerprint: str, raw: Any) -> Device:
    first, last, data = split_device_record(raw)
    return Device(
        fingerprint=fingerprint,
        label=str(data.get("l", "Unknown/Unknown")),
        browser=str(data.get("b", "")),
        os=str(data.get("o", "")),
        device_class=str(data.get("k", "unknown")),
        first_seen_at=from_ms(first),
        last_seen_at=from_ms(last),
        last_ip=str(data.get("ip", "")),
        last_country=data.get("cc") or None,
    )


def session_view(
    session: Session, device: dict[str, Any] | None, *, current: bool, now: datetime
) -> SessionView:
    device = device or {}
    label = str(device.get("l", "Unknown/Unknown"))
    place = place_label(session.city, session.country, session.network)
    return SessionView(
        session_id=session.session_id,
        user_id=session.user_id,
        device=label,
        browser=str(device.get("b", "")),
        os=str(device.get("o", "")),
        device_class=str(device.get("k", "unknown")),
        ip=session.ip,
        country=session.country,
        city=session.city,
        network=session.network,
        place=place,
        created_at=session.created_at,
        last_active_at=session.last_active_at,
        expires_at=session.expires_at,
        current=current,
        label=f"{label} — {place} — Active {ago(session.last_active_at, now)}",
        fingerprint=session.fingerprint,
    )


def event_fields(
    type_: str,
    user_id: str,
    session_id: str | None,
    severity: str,
    at_ms: int,
    details: dict[str, Any],
) -> list[str]:
    """Field/value list of a stream entry. ``details`` must be JSON-safe and free of secrets."""
    return [
        "type", type_,
        "user", user_id,
        "sid", session_id or "",
        "sev", severity,
        "at", str(at_ms),
        "d", json.dumps(details, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
    ]


def event_from_entry(entry_id: Any, flat: Any) -> Event:
    fields = pairs(flat) if isinstance(flat, list) else {text(k): v for k, v in flat.items()}
    try:
        details = json.loads(text(fields.get("d")) or "{}")
        if not isinstance(details, dict):
            raise ValueError("details are not an object")
        return Event(
            id=text(entry_id),
            type=text(fields["type"]),
            user_id=text(fields["user"]),
            session_id=text(fields.get("sid")) or None,
            severity=text(fields.get("sev")) or "info",
            at=from_ms(int(fields["at"])),
            details=details,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"event {text(entry_id)}: {exc}") from None


def events_from_entries(entries: list[Any]) -> list[Event]:
    """Decode stream entries, skipping (and logging) the ones that do not decode."""
    return decode_entries(entries)[0]


def decode_entries(entries: list[Any]) -> tuple[list[Event], str | None]:
    """Decoded events and the id of the last entry *read* (decoded or skipped), so a reader
    that follows the stream moves past entries it cannot decode."""
    events, last = [], None
    for entry_id, flat in entries or []:
        last = text(entry_id)
        try:
            events.append(event_from_entry(entry_id, flat))
        except CorruptRecord as exc:
            log.warning("skipped corrupt event: %r", str(exc))
    return events, last
