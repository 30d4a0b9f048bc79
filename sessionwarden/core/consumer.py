"""Delivering alerts (the daemon's side): consumer-group reads of the alert stream, per
(alert, sink) delivery records, dead letters and retention that never trims an undelivered
alert.

The alert stream (`KeySchema.alerts`) receives every detection finding once a daemon has
created it with `ensure_alert_group` (see `finding.lua`); it is never capped by the writers,
only trimmed by `trim_alerts`, which stops at the oldest entry a consumer group still needs.
Each entry carries the event's fields and ``eid``, the event's id in the event stream (the id
an alert link names); an entry re-queued from a dead letter also carries ``only``, the one sink
it is for.

Delivery records: one small hash per alert in flight, ``<p>:dlv:<alert id>``: ``<sink>`` →
``ok`` (delivered) or ``dead`` (given up), ``a:<sink>`` → attempts so far. A replay (after a
crash, or an entry claimed from a dead consumer) skips every sink recorded ``ok``; the hash is
deleted with the acknowledgement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..codec import CorruptRecord, event_from_entry, pairs, text
from ..models import Event, from_ms
from ..protocol import Batch, Command, Op
from ..scripts.calls import (
    GroupEnsureArgs,
    GroupEnsureKeys,
    TrimAlertsArgs,
    TrimAlertsKeys,
    TrimAlertsReply,
    call,
)
from .audit import AuditOps
from .base import bounded_limit, is_stream_id, log

DEFAULT_GROUP = "alerts"
DAEMON_ACTOR = "sessionwarden-daemon"
DELIVERY_RECORD_MS = 14 * 86_400_000  # a delivery record outlives any sane retry schedule
_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class Alert:
    """One entry of the alert stream: ``id`` its id there (what is acknowledged), ``event`` the
    finding (``event.id`` is its id in the event stream), ``only`` the one sink a re-queued
    dead letter is for (``None``: every routed sink)."""

    id: str
    event: Event
    only: str | None = None


@dataclass(frozen=True, slots=True)
class AlertBatch:
    """Alerts read, the ids of entries that could not be used (deleted or corrupt: to be
    acknowledged), and the cursor to read this consumer's pending entries on from."""

    alerts: list[Alert]
    unusable: list[str]
    cursor: str


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    """The alert group's state: ``pending`` delivered to a consumer but not acknowledged,
    ``lag`` entries not yet delivered to any consumer (``None`` when Redis cannot tell),
    ``oldest_pending`` the lowest pending id, ``last_delivered`` the group's cursor."""

    exists: bool
    pending: int = 0
    lag: int | None = 0
    oldest_pending: str | None = None
    last_delivered: str | None = None
    consumers: int = 0
    length: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """What is recorded for one alert: sinks delivered (or given up) and attempts per sink."""

    done: dict[str, str] = field(default_factory=dict)  # sink -> 'ok' | 'dead'
    attempts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery given up after its attempts: which alert, which sink, why."""

    id: str
    alert_id: str
    sink: str
    attempts: int
    error: str
    at: datetime
    event: Event | None


def _name(value: object, argument: str) -> str:
    if (not isinstance(value, str) or not 1 <= len(value) <= _NAME_MAX
            or not all(ch.isalnum() or ch in "-_.:@" for ch in value)):
        raise ValueError(f"{argument}: 1-{_NAME_MAX} characters A-Z a-z 0-9 - _ . : @")
    return value


def _ids(ids: Iterable[str], argument: str = "ids") -> list[str]:
    found = list(ids)
    for entry_id in found:
        if not isinstance(entry_id, str) or not is_stream_id(entry_id) or "-" not in entry_id:
            raise ValueError(f"{argument}: not a stream id: {entry_id!r}"[:120])
    return found


def _entries(reply: Any) -> list[Any]:
    """The entries of a one-stream XREADGROUP reply (RESP2 list or RESP3 dict)."""
    streams = (list(reply.items()) if isinstance(reply, dict) else reply) or []
    for _, entries in streams:
        return entries or []
    return []


def _alert(entry_id: Any, flat: Any) -> Alert:
    fields = pairs(flat) if isinstance(flat, list) else {text(k): v for k, v in flat.items()}
    event = event_from_entry(fields.get("eid") or entry_id, fields)
    return Alert(text(entry_id), event, text(fields.get("only")) or None)


def _alerts_of(entries: Sequence[Any]) -> tuple[list[Alert], list[str]]:
    alerts, unusable = [], []
    for entry_id, flat in entries:
        if not flat:  # pending but deleted from the stream
            unusable.append(text(entry_id))
            continue
        try:
            alerts.append(_alert(entry_id, flat))
        except CorruptRecord as exc:
            log.warning("unusable alert entry %s: %r", text(entry_id), str(exc))
            unusable.append(text(entry_id))
    return alerts, unusable


class ConsumerOps(AuditOps):
    # -- the group -------------------------------------------------------------------------

    def ensure_alert_group(self, group: str = DEFAULT_GROUP) -> Op[bool]:
        """Create the alert stream and its consumer group unless they exist (``True`` when
        created). From then on every finding is also written to the alert stream."""
        reply = yield call("group_ensure", GroupEnsureKeys(self.keys.alerts),
                           GroupEnsureArgs(_name(group, "group")))
        return bool(int(reply))

    def read_alerts(self, consumer: str, *, group: str = DEFAULT_GROUP, count: int = 100,
                    block_ms: int | None = None, pending_after: str | None = None,
                    ) -> Op[AlertBatch]:
        """Alerts for ``consumer``, oldest first: with ``pending_after`` (a stream id, ``"0"``
        from the start) this consumer's own pending entries after that id (what it read but
        did not acknowledge before a crash); else new entries, waiting up to ``block_ms``
        (keep it below the socket timeout) when there are none."""
        count = bounded_limit(count, "count")
        args: tuple[Any, ...] = ("XREADGROUP", "GROUP", _name(group, "group"),
                                 _name(consumer, "consumer"), "COUNT", count)
        if pending_after is not None:
            if not isinstance(pending_after, str) or not is_stream_id(pending_after):
                raise ValueError("pending_after: not a stream id")
            start = pending_after
        else:
            start = ">"
            if block_ms is not None:
                if not isinstance(block_ms, int) or not 0 < block_ms <= 60_000:
                    raise ValueError("block_ms: must be from 1 to 60000")
                args += ("BLOCK", block_ms)
        reply = yield Command((*args, "STREAMS", self.keys.alerts, start))
        entries = _entries(reply)
        alerts, unusable = _alerts_of(entries)
        cursor = text(entries[-1][0]) if entries else (pending_after or "0")
        return AlertBatch(alerts, unusable, cursor)

    def claim_stale_alerts(self, consumer: str, *, group: str = DEFAULT_GROUP,
                           min_idle_ms: int = 60_000, count: int = 100,
                           start: str = "0-0") -> Op[tuple[AlertBatch, str]]:
        """Take over entries pending for longer than ``min_idle_ms`` with any consumer (one that
        died), as XAUTOCLAIM; returns them and the cursor to continue from (``"0-0"``: done)."""
        count = bounded_limit(count, "count")
        if not isinstance(min_idle_ms, int) or min_idle_ms < 0:
            raise ValueError("min_idle_ms: must be an integer >= 0")
        if not isinstance(start, str) or not is_stream_id(start):
            raise ValueError("start: not a stream id")
        reply = yield Command(("XAUTOCLAIM", self.keys.alerts, _name(group, "group"),
                               _name(consumer, "consumer"), min_idle_ms, start,
                               "COUNT", count))
        cursor, entries = text(reply[0]), reply[1] or []
        alerts, unusable = _alerts_of(entries)
        deleted = [text(i) for i in (reply[2] if len(reply) > 2 else [])]
        return AlertBatch(alerts, unusable + deleted, cursor), cursor

    def ack_alerts(self, ids: Iterable[str], *, group: str = DEFAULT_GROUP) -> Op[int]:
        """Acknowledge entries (every sink delivered or given up) and drop their delivery
        records, in one round trip; returns how many were pending."""
        found = _ids(ids)
        if not found:
            return 0
        replies = yield Batch((
            Command(("XACK", self.keys.alerts, _name(group, "group"), *found)),
            Command(("DEL", *(self.keys.delivery(i) for i in found))),
        ))
        return int(replies[0])

    def alert_status(self, *, group: str = DEFAULT_GROUP) -> Op[ConsumerStatus]:
        """Pending count, lag, oldest pending entry and length of the alert group's stream."""
        group = _name(group, "group")
        exists = yield Command(("EXISTS", self.keys.alerts))
        if not int(exists):
            return ConsumerStatus(exists=False)
        infos, length = yield Batch((Command(("XINFO", "GROUPS", self.keys.alerts)),
                                     Command(("XLEN", self.keys.alerts))))
        for info in infos or []:
            data = ({text(k): v for k, v in info.items()} if isinstance(info, dict)
                    else pairs(info))
            if text(data.get("name")) != group:
                continue
            summary = yield Command(("XPENDING", self.keys.alerts, group))
            if isinstance(summary, dict):
                oldest = summary.get("min")
            else:
                oldest = summary[1] if summary else None
            lag = data.get("lag")
            return ConsumerStatus(
                exists=True, pending=int(data.get("pending") or 0),
                lag=None if lag is None else int(lag),
                oldest_pending=text(oldest) if oldest else None,
                last_delivered=text(data.get("last-delivered-id")) or None,
                consumers=int(data.get("consumers") or 0), length=int(length))
        return ConsumerStatus(exists=False, length=int(length))

    # -- delivery records ------------------------------------------------------------------

    def delivery_states(self, alert_ids: Sequence[str]) -> Op[dict[str, DeliveryState]]:
        """What is recorded for each alert (one round trip for all)."""
        found = _ids(alert_ids, "alert_ids")
        if not found:
            return {}
        replies = yield Batch(tuple(Command(("HGETALL", self.keys.delivery(i)))
                                    for i in found))
        states = {}
        for alert_id, reply in zip(found, replies, strict=True):
            flat = ({text(k): text(v) for k, v in reply.items()} if isinstance(reply, dict)
                    else {k: text(v) for k, v in pairs(reply or []).items()})
            done = {k: v for k, v in flat.items() if not k.startswith("a:")}
            attempts = {k[2:]: int(v) for k, v in flat.items() if k.startswith("a:")}
            states[alert_id] = DeliveryState(done, attempts)
        return states

    def record_deliveries(self, done: Iterable[tuple[str, str]]) -> Op[None]:
        """Record ``(alert id, sink)`` pairs as delivered, in one round trip: a replay never
        sends them again."""
        commands: list[Command] = []
        for alert_id, sink in done:
            key = self.keys.delivery(_ids([alert_id], "alert_id")[0])
            commands += [Command(("HSET", key, _name(sink, "sink"), "ok")),
                         Command(("PEXPIRE", key, DELIVERY_RECORD_MS))]
        if commands:
            yield Batch(tuple(commands))

    def record_attempt(self, alert_id: str, sink: str) -> Op[int]:
        """Count one failed attempt of ``sink`` for the alert; returns attempts so far."""
        key = self.keys.delivery(_ids([alert_id], "alert_id")[0])
        replies = yield Batch((Command(("HINCRBY", key, "a:" + _name(sink, "sink"), 1)),
                               Command(("PEXPIRE", key, DELIVERY_RECORD_MS))))
        return int(replies[0])

    # -- dead letters ----------------------------------------------------------------------

    def dead_letter(self, alert: Alert, sink: str, *, attempts: int, error: str) -> Op[str]:
        """Give up delivering ``alert`` to ``sink``: a dead-letter entry (re-queue it with
        `requeue_dead_letters`), the sink recorded as given up, and an audit entry. Returns
        the dead letter's id."""
        sink = _name(sink, "sink")
        error = (self._reason(error) or "")[:200]
        event = alert.event
        fields = ["alert", alert.id, "sink", sink, "attempts", str(int(attempts)),
                  "error", error, "at", str(self._now_ms()),
                  "event", json.dumps(event.to_dict(), ensure_ascii=False)]
        replies = yield Batch((
            Command(("XADD", self.keys.dead_letters, "*", *fields)),
            Command(("HSET", self.keys.delivery(alert.id), sink, "dead")),
            Command(("PEXPIRE", self.keys.delivery(alert.id), DELIVERY_RECORD_MS)),
        ))
        dead_id = text(replies[0])
        yield from self.record_audit(
            "dead_letter", actor=DAEMON_ACTOR, user_id=event.user_id or None,
            session_id=event.session_id, reason=error or None,
            details={"event_id": event.id, "alert_id": alert.id, "sink": sink,
                     "attempts": int(attempts), "type": event.type, "dead_letter": dead_id})
        return dead_id

    def dead_letters(self, *, limit: int = 100) -> Op[list[DeadLetter]]:
        """Dead letters, oldest first."""
        limit = bounded_limit(limit)
        reply = yield Command(("XRANGE", self.keys.dead_letters, "-", "+", "COUNT", limit))
        found = []
        for entry_id, flat in reply or []:
            data = pairs(flat) if isinstance(flat, list) else {text(k): v for k, v in
                                                                flat.items()}
            try:
                raw = json.loads(text(data.get("event")) or "null")
                event = None
                if isinstance(raw, dict):
                    event = Event(id=raw["id"], type=raw["type"], user_id=raw["user_id"],
                                  session_id=raw.get("session_id"), severity=raw["severity"],
                                  at=datetime.fromisoformat(raw["at"]),
                                  details=raw.get("details") or {})
                found.append(DeadLetter(
                    id=text(entry_id), alert_id=text(data["alert"]), sink=text(data["sink"]),
                    attempts=int(data.get("attempts") or 0), error=text(data.get("error")),
                    at=from_ms(int(data["at"])), event=event))
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("skipped corrupt dead letter %s: %r", text(entry_id), str(exc))
        return found

    def requeue_dead_letters(self, ids: Iterable[str] | None = None, *,
                             actor: str = DAEMON_ACTOR) -> Op[int]:
        """Put dead letters back on the alert stream, each for its one sink (``ids=None``:
        all of them, up to 10,000), and remove them from the dead letters; audited. Returns
        how many were re-queued."""
        wanted = None if ids is None else set(_ids(ids))
        letters = yield from self.dead_letters(limit=10_000)
        chosen = [d for d in letters if d.event is not None
                  and (wanted is None or d.id in wanted)]
        if not chosen:
            return 0
        commands: list[Command] = []
        for letter in chosen:
            event = letter.event
            assert event is not None
            commands += [
                Command(("XADD", self.keys.alerts, "*", "eid", event.id, "type", event.type,
                         "user", event.user_id, "sid", event.session_id or "",
                         "sev", event.severity, "at", str(int(event.at.timestamp() * 1000)),
                         "d", json.dumps(event.details, separators=(",", ":"),
                                         ensure_ascii=False, sort_keys=True),
                         "only", letter.sink)),
                Command(("XDEL", self.keys.dead_letters, letter.id)),
            ]
        yield Batch(tuple(commands))
        yield from self.record_audit(
            "dead_letter_requeued", actor=actor,
            details={"dead_letters": [d.id for d in chosen][:50], "count": len(chosen)})
        return len(chosen)

    # -- retention -------------------------------------------------------------------------

    def trim_alerts(self, cutoff_ms: int) -> Op[TrimAlertsReply]:
        """Trim alert entries older than ``cutoff_ms`` (epoch ms), but never one a consumer
        group has not acknowledged or not yet read (`trim_alerts.lua`)."""
        if not isinstance(cutoff_ms, int) or cutoff_ms < 0:
            raise ValueError("cutoff_ms: must be an integer >= 0")
        reply = yield call("trim_alerts", TrimAlertsKeys(self.keys.alerts),
                           TrimAlertsArgs(f"{cutoff_ms}-0"))
        return TrimAlertsReply.of(reply)

    def trim_history(self, *, events_before_ms: int | None = None,
                     audit_before_ms: int | None = None) -> Op[tuple[int, int]]:
        """Age retention of the event stream and of the global audit trail (each on its own
        clock: the audit trail is kept far longer). Returns entries trimmed from each."""
        commands = []
        for key, before in ((self.keys.events, events_before_ms),
                            (self.keys.audit, audit_before_ms)):
            if before is not None:
                if not isinstance(before, int) or before < 0:
                    raise ValueError("retention cutoffs: integers >= 0")
                commands.append(Command(("XTRIM", key, "MINID", "~", f"{before}-0")))
        if not commands:
            return (0, 0)
        replies = list((yield Batch(tuple(commands))))
        counts = [int(replies.pop(0)) if b is not None else 0
                  for b in (events_before_ms, audit_before_ms)]
        return counts[0], counts[1]

    # -- alert links for alerts already read -----------------------------------------------

    def alert_action_for(self, event: Event, *, scope: str = "session") -> Op[str]:
        """A "not you? revoke" token (as `create_alert_action`) for an event already read from
        the alert stream: no lookup, so it works even after the capped event stream dropped
        the entry. Needs the deployment's secret (`SecretRequired` otherwise)."""
        return self._alert_token(event, scope)  # type: ignore[attr-defined]
        yield  # pragma: no cover - makes this an operation like the others
