"""The user directory (prefix search, most recent sign-ins) and what a user record holds
(devices, contact address): plain reads, no script."""

from __future__ import annotations

from typing import Any

from ..codec import devices_from_record, pairs, text, user_alerts_from
from ..models import Device, Event, Totals, UserPage, UserRow, UserSummary, from_ms
from ..protocol import Batch, Command, Op
from ..sanitize import clean_text
from .base import USER_ALERTS_KEPT, CoreBase, bounded_limit, log, score_pairs

MAX_PAGE = 500  # rows of one directory page
DAY_MS = 86_400_000
_TIE_SLACK = 64  # extra members read past a recency cursor to step over equal scores


class DirectoryOps(CoreBase):
    def users(self, prefix: str = "", *, limit: int = 50) -> Op[list[str]]:
        """User ids in lexical order, starting with ``prefix`` ("" = all)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix: expected str, got {type(prefix).__name__}")
        limit = bounded_limit(limit)
        if len(prefix.encode("utf-8", "surrogatepass")) > 256:
            raise ValueError("prefix: longer than a user id can be (256 bytes)")
        low = "[" + prefix if prefix else "-"
        high = "[" + prefix + "\U0010ffff" if prefix else "+"
        reply = yield Command(("ZRANGEBYLEX", self.keys.directory, low, high, "LIMIT", 0, limit))
        return [text(m) for m in reply]

    def recent_users(self, *, limit: int = 50) -> Op[list[UserSummary]]:
        """Users by most recent sign-in, newest first, each with its lock (a second round
        trip, to the locked-users index, when there are users)."""
        limit = bounded_limit(limit)
        reply = yield Command(("ZREVRANGE", self.keys.recent_users, 0, limit - 1, "WITHSCORES"))
        found = [(text(m), int(float(score))) for m, score in score_pairs(reply)]
        locks = (yield Command(("ZMSCORE", self.keys.locked, *(m for m, _ in found)))
                 ) if found else []
        return [UserSummary(m, from_ms(score),
                            from_ms(int(float(lock))) if lock is not None else None)
                for (m, score), lock in zip(found, locks, strict=True)]

    def known_devices(self, user_id: str) -> Op[list[Device]]:
        """The user's devices, most recently seen first (corrupt records skipped and logged)."""
        uk = self._user_keys(user_id)
        reply = yield Command(("HGETALL", uk.record))
        found, problems = devices_from_record(
            {text(k): v for k, v in reply.items()} if isinstance(reply, dict) else pairs(reply))
        for problem in problems:
            log.warning("user %s: skipped corrupt %s", uk.tag, problem)
        return sorted(found, key=lambda d: d.last_seen_at, reverse=True)

    def user_email(self, user_id: str) -> Op[str | None]:
        uk = self._user_keys(user_id)
        reply = yield Command(("HGET", uk.record, "em"))
        return text(reply) or None

    def users_page(self, prefix: str = "", *, after: str | None = None,
                   limit: int = 50) -> Op[UserPage]:
        """A page of the user directory for the console, and the cursor of the next one.

        Without a prefix: the most recently active users first (the recent-users index, so at
        most ``Settings.recent_users_kept`` users); with one: the users whose id starts with it,
        in byte order (the directory, every user). Never KEYS or SCAN: one range read of a
        sorted set, then one pipeline reading each listed user's record and alert count, two
        round trips whatever the size of the user base. ``after``: the cursor a previous page
        returned (for the same prefix); ``limit`` 1-500."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix: expected str, got {type(prefix).__name__}")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit: must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
        if len(prefix.encode("utf-8", "surrogatepass")) > 256:
            raise ValueError("prefix: longer than a user id can be (256 bytes)")
        if after is not None and (not isinstance(after, str) or after[:1] not in ("r", "l")):
            raise ValueError(f"after: not a cursor of users_page: {clean_text(str(after), 40)!r}")
        recency: dict[str, int] = {}
        if prefix:
            if after is not None and not after.startswith("l"):
                raise ValueError("after: a cursor of another listing")
            low = "(" + after[1:] if after else "[" + prefix
            reply = yield Command(("ZRANGEBYLEX", self.keys.directory, low,
                                   "[" + prefix + "\U0010ffff", "LIMIT", 0, limit + 1))
            members = [text(m) for m in reply]
            more = len(members) > limit
            members = members[:limit]
            cursor = "l" + members[-1] if more and members else None
        else:
            top, skip_from = "+inf", None
            if after is not None:
                score_text, sep, member = after[1:].partition(":")
                if not after.startswith("r") or not sep or not score_text.isdigit():
                    raise ValueError("after: a cursor of another listing")
                top, skip_from = score_text, (int(score_text), member)
            reply = yield Command(("ZREVRANGEBYSCORE", self.keys.recent_users, top, "-inf",
                                   "WITHSCORES", "LIMIT", 0,
                                   limit + 1 + (_TIE_SLACK if skip_from else 0)))
            found = [(text(m), int(float(score))) for m, score in score_pairs(reply)]
            if skip_from is not None:  # equal scores come in descending member order
                found = [(m, sc) for m, sc in found
                         if not (sc == skip_from[0] and m >= skip_from[1])]
            more = len(found) > limit
            found = found[:limit]
            members = [m for m, _ in found]
            recency = dict(found)
            cursor = f"r{found[-1][1]}:{found[-1][0]}" if more and found else None
        if not members:
            return UserPage([], None)
        since = max(self._now_ms() - DAY_MS, 0)
        commands: list[Command] = []
        for user_id in members:
            uk = self.keys.for_user(user_id)
            commands.append(Command(("HGETALL", uk.record)))
            commands.append(Command(("LRANGE", uk.alerts, 0, USER_ALERTS_KEPT - 1)))
        replies = yield Batch(tuple(commands))
        rows = []
        for i, user_id in enumerate(members):
            record, alerts = replies[2 * i], replies[2 * i + 1]
            recent = sum(1 for a in user_alerts_from(alerts) if a.at.timestamp() * 1000 >= since)
            rows.append(_user_row(user_id, record, recent, recency.get(user_id)))
        return UserPage(rows, cursor)

    def user_alerts(self, user_id: str, *, limit: int = 50) -> Op[list[Event]]:
        """The user's recent alerts (findings of severity low or more), newest first, from the
        user's own capped alert list (its last 100): no scan of the global stream. An alert
        recorded on a Cluster has no event id ('')."""
        limit = bounded_limit(limit)
        uk = self._user_keys(user_id)
        reply = yield Command(("LRANGE", uk.alerts, 0, limit - 1))
        return user_alerts_from(reply)

    def totals(self) -> Op[Totals]:
        """Users in the directory, live sessions, alerts in the last hour, and sign-ins and
        alerts per minute over the last hour, in one round trip (see `Totals`)."""
        commands = [Command(("ZCARD", self.keys.directory)), Command(("HGETALL", self.keys.stats))]
        if self._clock is None:
            commands.append(Command(("TIME",)))
        replies = yield Batch(tuple(commands))
        if self._clock is None:
            seconds, micros = replies[2]
            now = int(seconds) * 1000 + int(micros) // 1000
        else:
            now = self._now_ms()
        raw = replies[1]
        stats = {text(k): text(v) for k, v in raw.items()} if isinstance(raw, dict) else {
            k: text(v) for k, v in pairs(raw).items()}
        minute = now // 60_000
        logins, alerts = [0] * 60, [0] * 60
        for series, kind in ((logins, "l"), (alerts, "a")):
            for back in range(60):
                m = minute - back
                at, _, count = stats.get(f"{kind}{m % 120}", "").partition(":")
                if at == str(m) and count.isdigit():
                    series[59 - back] = int(count)
        try:
            live = max(int(stats.get("live", "0")), 0)
        except ValueError:
            live = 0
        return Totals(from_ms(now), int(replies[0]), live, sum(alerts), tuple(logins),
                      tuple(alerts))


def _user_row(user_id: str, record: Any, alerts: int, recent_ms: int | None) -> UserRow:
    fields = ({text(k): v for k, v in record.items()} if isinstance(record, dict)
              else pairs(record or []))
    sessions = devices = 0
    last = recent_ms or 0
    lock = text(fields.get("lk") or "")
    for name, value in fields.items():
        if name.startswith("s:"):
            sessions += 1
            try:
                last = max(last, int(text(value)))
            except ValueError:
                continue
        elif name.startswith("d:"):
            devices += 1
    return UserRow(user_id, sessions, devices, from_ms(last) if last else None, alerts,
                   from_ms(int(lock)) if lock.isdigit() else None)
