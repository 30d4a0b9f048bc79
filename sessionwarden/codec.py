"""Encoding between Redis replies and the records of `models` (no I/O).

Replies arrive as bytes (the managers use ``decode_responses=False`` because token hashes are
raw bytes). Every decoder raises `CorruptRecord` on a record it cannot read; callers skip such
records and log them, so one bad hash never hides a user's other sessions.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from .geo import place_label
from .models import AuditEntry, Device, Event, Session, SessionView, ago, from_ms
from .policy import ASSURANCE
from .sanitize import clean_text

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


# A session record (see ``scripts/_lib.lua``, which writes it): the 32-byte token hash, then
# these fields joined by the unit separator. No field may hold the separator or a control
# character (the script's write_session refuses one), so a record splits into exactly these.
# ``deadline`` and ``idle`` are the absolute deadline and idle window the session was created
# with: its liveness is judged by them alone, never by a reader's settings. The four times are
# milliseconds in base 36 (`b36`): 8 characters where decimal takes 13.
# The last six fields carry the session's policy and its last proof of identity, each empty
# for "as before policies existed", so a session without a policy pays ~6 bytes for them:
# ``touch`` the touch interval (ms, b36; '' = the caller's), ``authenticated`` the last proof
# (ms, b36; '' = created), ``assurance`` its strength (the rank in `policy.ASSURANCE` as one
# digit; '' = 0, password), ``extension`` and ``max_lifetime`` what a re-authentication may do
# to the deadline (ms, b36; '' = nothing), ``policy`` the policy's name ('' = none). A record
# of the 12 fields before them reads as if they were all empty.
SESSION_FIELDS = ("created", "active", "deadline", "idle", "ip", "country", "network", "city",
                  "fingerprint", "class_key", "reported", "user_id", "touch", "authenticated",
                  "assurance", "extension", "max_lifetime", "policy")
LEGACY_FIELDS = 12
_POLICY_PAD = [b""] * (len(SESSION_FIELDS) - LEGACY_FIELDS)
_SEP = b"\x1f"
_MIN_RECORD = 32 + LEGACY_FIELDS - 1


# What no stored field may hold: the separator \x1f (it would split the record, so that the
# text after it is read as the next fields), every other C0 control, DEL, the C1 controls, and
# lone surrogates (not valid Unicode: they cannot be encoded to be sent at all).
_NOT_IN_RECORD = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def record_text(argument: str, value: object) -> str:
    """``value`` if it may be written into a stored record field, else ``ValueError`` naming
    ``argument`` (the message starts with ``"<argument>:"``).

    The one boundary every text field of the session record passes on its way to Redis (the
    separator-joined fields: the user id, ip, country, network, city, fingerprint, device-class
    key; and the device description). It refuses, loudly, rather than strips: whatever put a
    control character there is a bug or an attack, and a silently changed value would be stored
    as if it were the one given. Cleaning display text is `sanitize.clean_text`'s job, before.
    """
    if not isinstance(value, str):
        raise ValueError(f"{argument}: expected str for a stored field, got "
                         f"{type(value).__name__}")
    if value.isascii() and value.isprintable():  # the common case: U+0020-U+007E only
        return value
    found = _NOT_IN_RECORD.search(value)
    if found is not None:
        ch = found.group()
        what = ("the record separator" if ch == "\x1f"
                else "a lone surrogate" if "\ud800" <= ch <= "\udfff"
                else "a control character")
        raise ValueError(f"{argument}: must not contain {what} (U+{ord(ch):04X}) "
                         f"at position {found.start()}")
    return value


def check_record_fields(**fields: object) -> None:
    """`record_text` for each named field: ``check_record_fields(ip=ip, city=city)``."""
    for argument, value in fields.items():
        record_text(argument, value)


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(n: int) -> str:
    """A non-negative integer in base 36, lower case (as ``b36`` in ``_lib.lua`` writes it)."""
    if n <= 0:
        return "0"
    out = []
    while n:
        n, d = divmod(n, 36)
        out.append(_B36[d])
    return "".join(reversed(out))


def from_b36(raw: bytes) -> int:
    """The integer of a base-36 record time; ``ValueError`` for anything but ``[0-9a-z]+``
    (``int(x, 36)`` alone would also take signs, spaces and underscores)."""
    if not raw or not raw.isalnum() or (not raw.islower() and not raw.isdigit()):
        raise ValueError("not a base-36 time")
    return int(raw, 36)


def split_session_record(raw: Any) -> tuple[bytes, list[bytes]]:
    """(token hash, fields in `SESSION_FIELDS` order) of a stored session record."""
    if not isinstance(raw, bytes) or len(raw) < _MIN_RECORD:
        raise CorruptRecord("session record: too short or not a string")
    fields = raw[32:].split(_SEP)
    if len(fields) == LEGACY_FIELDS:
        fields += _POLICY_PAD
    elif len(fields) != len(SESSION_FIELDS):
        raise CorruptRecord(f"session record: {len(fields)} fields, not {len(SESSION_FIELDS)}")
    return raw[:32], fields


def record_touch_ms(fields: list[bytes], default: int) -> int:
    """The touch interval of a split record: its own, else (a session without a policy)
    ``default``, the caller's."""
    return from_b36(fields[12]) if fields[12] else default


def assurance_digit(rank: int) -> str:
    """The record's ``assurance`` field for a rank of `policy.ASSURANCE` ('' for 0)."""
    return str(rank) if rank else ""


def _assurance(raw: bytes) -> str:
    if not raw:
        return ASSURANCE[0]
    if len(raw) != 1 or not raw.isdigit() or int(raw) >= len(ASSURANCE):
        raise ValueError("not an assurance rank")
    return ASSURANCE[int(raw)]


def session_from_record(session_id: str, fields: list[bytes]) -> Session:
    """A `Session` from the fields of `split_session_record`; its expiry is the record's own:
    min(last activity + the record's idle window, the record's deadline)."""
    if not fields[4] or not fields[8]:
        raise CorruptRecord(f"session {session_id}: no {'ip' if not fields[4] else 'device'}")
    try:
        created, active, deadline, idle = (from_b36(fields[0]), from_b36(fields[1]),
                                           from_b36(fields[2]), from_b36(fields[3]))
        for policy_time in (fields[12], fields[15], fields[16]):  # '' = none; else a time
            if policy_time:
                from_b36(policy_time)
        return Session(session_id, fields[11].decode(), created, active,
                       min(active + idle, deadline), deadline, fields[4].decode(),
                       fields[5].decode() or None, fields[6].decode() or "public",
                       fields[7].decode() or None, fields[8].decode(),
                       from_b36(fields[13]) if fields[13] else created,
                       _assurance(fields[14]), fields[17].decode() or None)
    except (ValueError, OverflowError, OSError) as exc:  # bad digits or UTF-8, absurd times
        raise CorruptRecord(f"session {session_id}: {type(exc).__name__}") from None


def session_from_raw(session_id: str, raw: Any) -> Session:
    return session_from_record(session_id, split_session_record(raw)[1])


# A device is two fields of the user record (see docs/redis-schema.md): ``d:<fp>`` =
# "<first seen s>|<last seen s>|<last country>|<last ip>" and ``n:<fp>`` = its description,
# these fields joined by the unit separator: never ambiguous, because every field is cleaned
# text (no control characters).
DESCRIPTION_FIELDS = ("l", "b", "o", "k")
_UNIT = "\x1f"


def encode_description(label: str, browser: str, os: str, device_class: str) -> str:
    check_record_fields(label=label, browser=browser, os=os, device_class=device_class)
    return _UNIT.join((label, browser, os, device_class))


def split_description(raw: Any) -> dict[str, str]:
    """A device description -> its fields by short name (`DESCRIPTION_FIELDS`)."""
    values = text(raw).split(_UNIT)
    if len(values) != len(DESCRIPTION_FIELDS):
        raise CorruptRecord(f"device description: {len(values)} fields, "
                            f"not {len(DESCRIPTION_FIELDS)}")
    return dict(zip(DESCRIPTION_FIELDS, values, strict=True))


def devices_from_record(fields: dict[str, Any]) -> tuple[list[Device], list[str]]:
    """The devices of a user record (text keys), and a message per device it could not read."""
    found, problems = [], []
    for name, seen in fields.items():
        if not name.startswith("d:"):
            continue
        fp = name[2:]
        try:
            first, last, country, ip = text(seen).split("|", 3)
            data = split_description(fields.get("n:" + fp))
            found.append(Device(
                fingerprint=fp, label=data["l"], browser=data["b"], os=data["o"],
                device_class=data["k"], first_seen_at=from_ms(int(first) * 1000),
                last_seen_at=from_ms(int(last) * 1000), last_ip=ip, last_country=country or None,
            ))
        except (CorruptRecord, ValueError, OverflowError, OSError) as exc:
            problems.append(f"device {fp!r}: {exc}")
    return found, problems


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
        authenticated_at=session.authenticated_at,
        assurance=session.assurance,
        policy=session.policy,
    )


def event_fields(
    type_: str,
    user_id: str,
    session_id: str | None,
    severity: str,
    at_ms: int,
    details: dict[str, Any],
) -> list[str]:
    """Field/value list of a stream entry. ``details`` must be JSON-safe and free of secrets.
    Scripts build the entries of the events they report with the same fields (``emit`` in
    ``scripts/_lib.lua``)."""
    return [
        "type", type_,
        "user", user_id,
        "sid", session_id or "",
        "sev", severity,
        "at", str(at_ms),
        "d", details_json(details),
    ]


# Details are cleaned, not cut: the bound only keeps one absurd value from bloating the stream.
MAX_DETAIL_TEXT = 4096


def details_json(details: dict[str, Any]) -> str:
    """An event's details as stored (compact JSON), every string in them (keys and values, at
    any depth of dicts and lists) cleaned by `sanitize.clean_text`: no control character, no
    escape sequence, no format character, white space collapsed, at most `MAX_DETAIL_TEXT`
    characters. So whatever a caller puts in, an event shown in a console or an email is plain
    text; no caller has to remember to clean. Tuples become lists (as JSON has them anyway)."""
    return json.dumps(_clean_details(details), separators=(",", ":"), ensure_ascii=False,
                      sort_keys=True)


def _clean_string(value: str) -> str:
    # Most details are printable ASCII already (library texts, addresses, labels): kept as
    # they are without the regex work; anything else is cleaned.
    if (value.isascii() and value.isprintable() and len(value) <= MAX_DETAIL_TEXT
            and "  " not in value and value[:1] != " " and value[-1:] != " "):
        return value
    return clean_text(value, MAX_DETAIL_TEXT) or ""


def _clean_details(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_string(value)
    if isinstance(value, dict):
        return {_clean_string(k) if isinstance(k, str) else k: _clean_details(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_details(v) for v in value]
    return value


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


def audit_fields(kind: str, actor: str, user_id: str | None, session_id: str | None,
                 reason: str | None, at_ms: int, details: dict[str, Any]) -> list[str]:
    """Field/value list of an audit entry (the scripts' ``audit`` in ``_lib.lua`` writes the
    same fields)."""
    return ["kind", kind, "actor", actor, "user", user_id or "", "sid", session_id or "",
            "reason", reason or "", "at", str(at_ms), "d", details_json(details)]


def user_trail_entry(*values: Any) -> str:
    """An entry of a user's own alert or audit list: a JSON array of its id in the global
    stream ('' when not known where it is written) and its fields' values, in order (the
    scripts write the same with cjson)."""
    return json.dumps([text(v) for v in values], separators=(",", ":"), ensure_ascii=False)


def _trail_values(raw: Any, count: int) -> list[str]:
    values = json.loads(text(raw))
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"expected a list of {count} values")
    return [v if isinstance(v, str) else str(v) for v in values]


def _details(raw: str) -> dict[str, Any]:
    details = json.loads(raw or "{}")
    if not isinstance(details, dict):
        raise ValueError("details are not an object")
    return details


def user_alerts_from(entries: list[Any]) -> list[Event]:
    """Decode a user's alert list (newest first), skipping and logging what does not decode.
    An entry written on a Cluster has no event id ('')."""
    found = []
    for raw in entries or []:
        try:
            eid, type_, user, sid, sev, at, d = _trail_values(raw, 7)
            found.append(Event(id=eid, type=type_, user_id=user, session_id=sid or None,
                               severity=sev or "info", at=from_ms(int(at)), details=_details(d)))
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            log.warning("skipped corrupt user alert: %r", str(exc))
    return found


def audit_entries_from(entries: list[Any]) -> list[AuditEntry]:
    """Decode global audit stream entries, skipping (and logging) what does not decode."""
    found = []
    for entry_id, flat in entries or []:
        fields = pairs(flat) if isinstance(flat, list) else {text(k): v for k, v in flat.items()}
        try:
            found.append(AuditEntry(
                id=text(entry_id), kind=text(fields["kind"]), actor=text(fields["actor"]),
                user_id=text(fields.get("user")) or None,
                session_id=text(fields.get("sid")) or None,
                reason=text(fields.get("reason")) or None, at=from_ms(int(fields["at"])),
                details=_details(text(fields.get("d")))))
        except (KeyError, ValueError, TypeError, OverflowError, OSError) as exc:
            log.warning("skipped corrupt audit entry %s: %r", text(entry_id), str(exc))
    return found


def user_audit_from(entries: list[Any]) -> list[AuditEntry]:
    """Decode a user's own audit list (newest first), skipping and logging what does not
    decode. An entry's id is its id in the global trail ('' when written on a Cluster)."""
    found = []
    for raw in entries or []:
        try:
            gid, kind, actor, user, sid, reason, at, d = _trail_values(raw, 8)
            found.append(AuditEntry(id=gid, kind=kind, actor=actor, user_id=user or None,
                                    session_id=sid or None, reason=reason or None,
                                    at=from_ms(int(at)), details=_details(d)))
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            log.warning("skipped corrupt user audit entry: %r", str(exc))
    return found
