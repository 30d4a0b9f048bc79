"""The public faces: `SessionManager` (blocking) and `AsyncSessionManager` (asyncio).

Both run the same `Core` operations; they differ only in how a request reaches Redis. Each
face declares its own methods with their own types (``SessionManager.validate_session`` returns
``Session | None``, ``AsyncSessionManager.validate_session`` is a coroutine of it); every
method is one line handing a `Core` operation to the face's driver, and
``tests/test_typing.py`` keeps the two lists of signatures identical.

Failure policy (see ``README.md``, "Failures and connections"):

- store trouble of any kind becomes `StoreUnavailable` or a subclass (`StoreRefused`,
  `StoreAuthFailed`, `PoolExhausted`), so callers fail closed with one ``except``;
- a command is sent once. Only *connecting* is retried (``RedisSettings.connect_attempts``);
  a reply lost after sending is `StoreUnavailable`, because the command may have run;
- a closed manager stays closed: every later call raises `ManagerClosed`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar, cast

import redis
import redis.asyncio as aioredis

from .client_hints import HeadersLike
from .connection import PoolTimeout, RedisSettings, async_client, sync_client
from .core import SLOW, Core
from .core.consumer import (
    DAEMON_ACTOR,
    DEFAULT_GROUP,
    Alert,
    AlertBatch,
    ConsumerStatus,
    DeadLetter,
    DeliveryState,
)
from .core.controls import PurgeResult
from .core.heartbeat import Heartbeat
from .core.sweep import SweepResult
from .errors import (
    ManagerClosed,
    PoolExhausted,
    SessionWardenError,
    StoreAuthFailed,
    StoreRefused,
    StoreUnavailable,
)
from .models import (
    AuditEntry,
    CreatedSession,
    Device,
    Event,
    EventPage,
    LockedUser,
    Session,
    SessionView,
    Totals,
    UserPage,
    UserSummary,
)
from .policy import SessionPolicy
from .protocol import Batch, Command, Eval, Op, Request, ScriptError
from .scripts import SCRIPTS
from .scripts.calls import TrimAlertsReply
from .settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

#: How long ``close()`` waits for calls in flight when the manager does not know its socket
#: timeout (a client brought by the caller).
_DEFAULT_DRAIN = 2.0
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (redis.exceptions.OutOfMemoryError, "OOM"),
    (redis.exceptions.ReadOnlyError, "READONLY"),
    (redis.exceptions.MasterDownError, "MASTERDOWN"),
    (redis.BusyLoadingError, "LOADING"),
    (redis.exceptions.NoPermissionError, "NOPERM"),
)


def _check_client(client: Any) -> None:
    kwargs = client.get_connection_kwargs() if hasattr(client, "get_connection_kwargs") else {}
    if kwargs.get("decode_responses"):
        raise ValueError("client: must be created with decode_responses=False "
                         "(token hashes are stored as raw bytes)")


def _code(exc: redis.RedisError) -> str:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    status = getattr(exc, "status_code", None)
    if status:
        return str(status)
    first = str(exc).split(" ", 1)[0]
    return first if first.isalpha() and first.isupper() else "ERR"


def _store_error(exc: BaseException) -> SessionWardenError:
    """The library's exception for what redis-py (or the socket) raised."""
    if isinstance(exc, PoolTimeout):
        return PoolExhausted(str(exc))
    if isinstance(exc, redis.AuthenticationError | redis.exceptions.AuthorizationError):
        code = "NOAUTH" if "required" in str(exc).lower() else "WRONGPASS"
        return StoreAuthFailed(f"Redis refused the credentials: {code} {exc}", code)
    if isinstance(exc, redis.BusyLoadingError):
        return StoreRefused(f"Redis refused a command: LOADING {exc}", "LOADING")
    if isinstance(exc, redis.ResponseError):
        code = _code(exc)
        text = str(exc)
        message = text if text.startswith(code) else f"{code} {text}"
        return StoreRefused(f"Redis refused a command: {message}", code)
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return StoreUnavailable(f"the server does not speak the Redis protocol: {exc}")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        return StoreUnavailable(f"Redis unavailable: {type(exc).__name__}: {exc}")
    return SessionWardenError(f"redis-py refused the request: {type(exc).__name__}: {exc}")


def _script_error(exc: redis.ResponseError) -> ScriptError | None:
    message = str(exc)
    return ScriptError(message) if message.startswith("SW") else None


def _foreign_key(exc: StoreRefused) -> bool:
    """validate's plain read met a key of another type: the script judges it."""
    return exc.code == "WRONGTYPE"


class _Base:
    """What both faces share: construction, the closed state, error translation."""

    def __init__(self, client: Any, settings: Settings | None = None, *,
                 clock: Callable[[], float] | None = None, operator: bool = False) -> None:
        """``client``: a redis-py client (``decode_responses=False``; ``ValueError``
        otherwise), used as it is: its own retry policy and pool are the caller's. Prefer
        `from_url` / `from_settings`, which build one that never resends a command.
        ``clock``: seconds since the epoch, for tests and simulations only; by default scripts
        use the Redis server's clock so every app server agrees on "now". ``operator``: this
        process only looks and revokes (CLI, console), so ``production`` without a secret is
        allowed; otherwise it is a ``ValueError`` here, before anything runs."""
        _check_client(client)
        self.settings = settings or Settings()
        if not operator:
            self.settings.require_secret()
        self.client = client
        #: The connection options the client was built with (``None`` for a client brought by
        #: the caller).
        self.redis_settings: RedisSettings | None = None
        inline = self.settings.scripts_write_events
        if inline is None:
            inline = not isinstance(client, redis.cluster.RedisCluster | aioredis.RedisCluster)
        self.core = Core(self.settings, clock=clock, inline_events=inline)
        self._closed = False      # no new call may start
        self._torn_down = False   # the client is closed: nothing may be sent
        # One entry per call in flight: list.append and list.pop are atomic under the GIL, so
        # the hottest path (validate) counts its calls without taking a lock.
        self._calls: list[None] = []
        self._guard = threading.Lock()

    @staticmethod
    def _client_factory(url: str, settings: RedisSettings) -> Any:
        """The face's redis-py client for a URL and `RedisSettings` (each face sets its own)."""
        raise NotImplementedError

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None, *,
                 redis: RedisSettings | None = None,
                 clock: Callable[[], float] | None = None, operator: bool = False) -> Self:
        """A manager on the Redis at ``url`` (``redis://``, ``rediss://``, ``unix://``), with
        the timeouts, pool and TLS files of ``redis`` (``redis.url`` is ignored here: the
        ``url`` argument wins). Without ``redis``, the `RedisSettings` defaults. ``ValueError``
        for a malformed URL (including a database that is not a number, ``redis://host/abc``)
        or TLS files with a URL that is not ``rediss://``; no connection is made until the
        first call."""
        options = _options(url, redis)
        mgr = cls(cls._client_factory(url, options), settings or Settings(), clock=clock,
                  operator=operator)
        mgr.redis_settings = options
        return mgr

    @classmethod
    def from_settings(cls, settings: Settings | None, redis: RedisSettings, *,
                      clock: Callable[[], float] | None = None,
                      operator: bool = False) -> Self:
        """As `from_url`, on ``redis.url``."""
        if not isinstance(redis, RedisSettings):
            raise TypeError("redis: expected a RedisSettings")
        return cls.from_url(redis.url, settings, redis=redis, clock=clock, operator=operator)

    @property
    def closed(self) -> bool:
        """``True`` once ``close()`` / ``aclose()`` has begun."""
        return self._closed

    def _enter(self) -> None:
        # Counted first, then the flag read: a close that set the flag after this call was
        # counted waits for it; one that set it before is seen here.
        self._calls.append(None)
        if self._closed:
            self._calls.pop()
            raise ManagerClosed("this SessionManager was closed; build a new one")

    def _leave(self) -> None:
        self._calls.pop()

    def _begin_close(self) -> bool:
        with self._guard:
            if self._closed:
                return False
            self._closed = True
            return True

    def _drain_seconds(self) -> float:
        rs = self.redis_settings
        return rs.socket_timeout + 0.5 if rs is not None else _DEFAULT_DRAIN

    def _translate(self, exc: BaseException) -> SessionWardenError:
        if self._torn_down:
            return ManagerClosed("the manager was closed while this call was in flight; it "
                                 "may or may not have run")
        return _store_error(exc)



def _options(url: str, redis_settings: RedisSettings | None) -> RedisSettings:
    if redis_settings is not None:
        if not isinstance(redis_settings, RedisSettings):
            raise TypeError("redis: expected a RedisSettings")
        return redis_settings
    return RedisSettings(url=url)


class SessionManager(_Base):
    """Blocking manager over ``redis.Redis`` (thread-safe: redis-py pools connections).

    ``SessionManager(client, settings)`` uses a client the caller built (its retry policy and
    pool are the caller's); `from_url` / `from_settings` build one from `RedisSettings`.
    """

    _client_factory = staticmethod(sync_client)

    def close(self) -> None:
        """Close the manager: new calls raise `ManagerClosed` at once; calls in flight get up
        to the socket timeout to finish, then the connections are closed (a call still running
        then raises `ManagerClosed`). Idempotent; a closed manager never reconnects."""
        if not self._begin_close():
            return
        deadline = time.monotonic() + self._drain_seconds()
        while self._calls and time.monotonic() < deadline:
            time.sleep(0.002)
        self._torn_down = True
        try:
            self.client.close()
        except Exception as exc:  # closing must not fail the caller's shutdown
            log.warning("closing the Redis client failed: %r", exc)

    def __enter__(self) -> SessionManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_session(self, user_id: str, *, user_agent: str | None, ip: str,
                       country: str | None = None, city: str | None = None,
                       device_id: str | None = None, email: str | None = None,
                       client_hints: HeadersLike | None = None,
                       policy: SessionPolicy | str | None = None,
                       assurance: str = "password") -> CreatedSession:
        """Start a session. Raises ``ValueError`` for a bad ``user_id``/``ip``/``email``
        (nothing written) and `SessionLimitExceeded` with ``on_limit="deny"``. Text arguments
        (user agent, city, device id) are cleaned and bounded; an invalid country hint is
        ignored in favour of the offline lookup. ``client_hints``: the request's headers (any
        mapping of header name to raw value, or an object with ``get``, such as Flask's), of
        which the ``Sec-CH-UA*`` client hints refine the device's model, OS version and phone /
        tablet decision (Chrome's reduced user agent names no model); unusable values are
        ignored, an object without ``get`` is a ``TypeError``. Pass the same to
        `validate_session`. `AccountLocked` while the account is locked (`lock_user`;
        nothing written). `StoreUnavailable` when the reply was lost: the session may exist;
        it is never created twice.

        ``policy``: how this session lives (a `SessionPolicy` or a preset name: ``"aal1"``,
        ``"aal2"``, ``"aal3"``), written into its record so every process judges it alike;
        ``None``: the idle timeout, lifetime and touch interval of this manager's `Settings`.
        ``assurance``: how the user proved who they are at this sign-in (``"password"``,
        ``"mfa"``, ``"phishing_resistant"``), for `require_fresh`; ``ValueError`` otherwise."""
        return self._run(self.core.create_session(
            user_id, user_agent=user_agent, ip=ip, country=country, city=city,
            device_id=device_id, email=email, client_hints=client_hints, policy=policy,
            assurance=assurance))

    def validate_session(self, token: object, *, ip: str | None = None,
                         user_agent: str | None = None,
                         client_hints: HeadersLike | None = None, country: str | None = None,
                         city: str | None = None, touch: bool = True) -> Session | None:
        """The live session of ``token`` (touching it at most once per touch interval), or
        ``None`` for any token that is not valid, of any type or shape. ``ValueError`` for a
        malformed ``ip``; a user agent is cleaned and bounded; ``client_hints`` as for
        `create_session` (pass the same headers to both, so the kind of device is judged
        alike; parsed once per distinct value, not per request). One round trip. Store trouble
        of any kind raises `StoreUnavailable` (or a subclass) and nothing else: fail closed.

        ``country`` / ``city``: the same optional hints as `create_session` (a trusted CDN's
        header), used only for the place check: a live token presented from another country
        than its session's is reported once per session and place (familiar places and
        declared known networks excluded; see docs/detection.md). ``user_agent=""`` (the
        request had none) on a session created with one is reported once, as weak evidence;
        ``None`` means "not given" and checks nothing.

        ``touch=False``: this request is not user activity (background polling, a health
        check: NIST SP 800-63B resets the inactivity timer on user activity only), so the idle
        timer, the last activity and the record's expiry are left as they are."""
        self._enter()
        try:
            probe = self.core.validate_probe(token, ip=ip, user_agent=user_agent,
                                             client_hints=client_hints, country=country,
                                             city=city, touch=touch)
            if probe is None:
                return None
            if probe.read is not None:
                try:
                    raw = self._execute(probe.read)
                except StoreRefused as exc:
                    if not _foreign_key(exc):
                        raise
                    raw = None
                found = self.core.validate_read(probe, raw)
                if found is not SLOW:
                    return found  # type: ignore[return-value]  # (no cast: the hot path)
            return self._drive(self.core.validate_script(probe))
        finally:
            self._leave()

    def reauthenticate(self, token: object, *, assurance: str = "password") -> Session | None:
        """Record that the user of ``token`` just proved who they are again, with strength
        ``assurance`` (``"password"``, ``"mfa"``, ``"phishing_resistant"``; ``ValueError``
        otherwise, nothing sent): the session's ``authenticated_at`` becomes now and its
        ``assurance`` this one (the latest proof, even when weaker), the idle timer restarts,
        and when the session's policy has a ``reauth_extension`` its deadline moves to at least
        now + that extension, never past sign-in + ``max_lifetime``. One script, one round
        trip, a ``reauthenticated`` event. Returns the session as it now is, or ``None`` (and
        nothing recorded) for any token that is not valid. Follow it with `rotate_session`
        (ASVS: a new token on re-authentication)."""
        return self._run(self.core.reauthenticate(token, assurance=assurance))

    def rotate_session(self, token: object) -> CreatedSession | None:
        """A new token for the live session of ``token``: same session id, devices, history,
        policy and expiry; the old token is dead at once and, presented again, raises a
        ``revoked_token_used`` finding (reason ``rotated``; ``low`` from the same kind of
        device, which is most often a request that was in flight). Use it on a privilege change
        and after `reauthenticate`. One script, one round trip, a ``session_rotated`` event;
        no session is added, so the session limit evicts nothing. ``None`` (nothing changed)
        for any token that is not valid. `StoreUnavailable` when the reply was lost: the old
        token may already be dead; sign the user in again."""
        return self._run(self.core.rotate_session(token))

    def revoke_session(self, user_id: str, session_id: str, *, actor: str | None = None,
                       reason: str | None = None) -> bool:
        """End one session; ``False`` when it was not live. ``ValueError`` for a malformed id.
        `StoreUnavailable` when the reply was lost (it may have ended)."""
        return self._run(self.core.revoke_session(user_id, session_id, actor=actor,
                                                  reason=reason))

    def revoke_all_sessions(self, user_id: str, *, except_token: str | None = None,
                            actor: str | None = None, reason: str | None = None) -> int:
        """End every session of the user except the one of ``except_token`` (when that token is
        valid for this user); returns how many ended. ``ValueError`` for a bad ``user_id``."""
        return self._run(self.core.revoke_all_sessions(
            user_id, except_token=except_token, actor=actor, reason=reason))

    def get_active_sessions(self, user_id: str, *,
                            current_token: str | None = None) -> list[SessionView]:
        """Live sessions, most recently active first, in one round trip. ``ValueError`` for a
        bad ``user_id``; a ``current_token`` that is not valid marks none as current."""
        return self._run(self.core.get_active_sessions(user_id, current_token=current_token))

    def recent_events(self, limit: int = 100) -> list[Event]:
        """The newest ``limit`` events, newest first. ``limit`` must be an int from 1 to 10000
        (``ValueError`` otherwise); entries that do not decode are skipped and logged."""
        return self._run(self.core.recent_events(limit))

    def events_after(self, after: str = "0-0", *, limit: int = 100,
                     block_ms: int | None = None) -> EventPage:
        """Events after stream id ``after`` (oldest first) and the cursor to continue from,
        which moves past entries that do not decode. ``after`` must be a stream id or ``"$"``,
        ``block_ms`` from 1 to 60000 (keep it under the socket timeout); ``ValueError``
        otherwise."""
        return self._run(self.core.events_after(after, limit=limit, block_ms=block_ms))

    def users(self, prefix: str = "", *, limit: int = 50) -> list[str]:
        """User ids starting with ``prefix`` (any text; "" = all) in byte order, at most
        ``limit`` (1-10000). A prefix longer than a user id can be raises ``ValueError``."""
        return self._run(self.core.users(prefix, limit=limit))

    def recent_users(self, *, limit: int = 50) -> list[UserSummary]:
        """Users by most recent sign-in, newest first, at most ``limit`` (1-10000, else
        ``ValueError``) and at most ``Settings.recent_users_kept`` (the index keeps only that
        many)."""
        return self._run(self.core.recent_users(limit=limit))

    def known_devices(self, user_id: str) -> list[Device]:
        """The user's devices, most recently seen first; corrupt records skipped and logged.
        A bad ``user_id`` raises ``ValueError`` as in `create_session`."""
        return self._run(self.core.known_devices(user_id))

    def user_email(self, user_id: str) -> str | None:
        """The contact address recorded at sign-in (``email=``), or ``None``. A bad
        ``user_id`` raises ``ValueError``."""
        return self._run(self.core.user_email(user_id))

    def sweep_expired(self, *, limit: int = 500) -> int:
        """Sweep up to ``limit`` (1-10000, else ``ValueError``) due users of the expiry index
        (the daemon's job): reports each expired session once and returns how many expired."""
        return self._run(self.core.sweep_expired(limit=limit))

    def record_audit(self, kind: str, *, actor: str, user_id: str | None = None,
                     session_id: str | None = None, reason: str | None = None,
                     details: dict[str, Any] | None = None) -> str:
        """Append an entry to the audit trail (global, and the user's own when ``user_id`` is
        given); returns its global id. ``ValueError`` naming the argument for a bad kind
        (1-40 of ``[a-z0-9_]``), a blank actor, a malformed user or session id, or details
        that are not a JSON-safe dict of at most 4 KB; nothing is written then."""
        return self._run(self.core.record_audit(kind, actor=actor, user_id=user_id,
                                                session_id=session_id, reason=reason,
                                                details=details))

    def audit_trail(self, *, user_id: str | None = None,
                    since: datetime | timedelta | None = None,
                    limit: int = 100) -> list[AuditEntry]:
        """Audit entries newest first: the user's own trail (its last ~200) or the global one,
        from ``since`` (a datetime, or a timedelta back from now), at most ``limit``
        (1-10000). Revocations appear here with their actor and reason."""
        return self._run(self.core.audit_trail(user_id=user_id, since=since, limit=limit))

    def create_alert_action(self, event_id: str, *, scope: str = "session") -> str:
        """A signed, single-use, expiring "this wasn't me" token for an event (for an email
        link). ``ValueError`` for a malformed or unknown event id or a scope other than
        ``"session"`` / ``"all"``."""
        return self._run(self.core.create_alert_action(event_id, scope=scope))

    def revoke_from_alert(self, action_token: str) -> int:
        """Use a "this wasn't me" token: revokes what it names (actor ``account-owner``) and
        returns how many sessions ended. Any malformed, forged, expired or reused token, of any
        type or size, raises `InvalidAlertAction` and changes nothing."""
        return self._run(self.core.revoke_from_alert(action_token))

    # -- the console's operations --

    def users_page(self, prefix: str = "", *, after: str | None = None,
                   limit: int = 50) -> UserPage:
        """A page of the user directory (`UserPage`: rows with sessions, devices, last active
        and alerts in 24 h, and the next page's cursor). No prefix: most recently active first
        (the recent-users index); a prefix: byte order over every user. Two round trips."""
        return self._run(self.core.users_page(prefix, after=after, limit=limit))

    def user_alerts(self, user_id: str, *, limit: int = 50) -> list[Event]:
        """The user's recent alerts (findings of severity low or more), newest first."""
        return self._run(self.core.user_alerts(user_id, limit=limit))

    def totals(self) -> Totals:
        """Users, live sessions, alerts in the last hour and per-minute sign-ins and alerts
        over the last hour (`Totals`), in one round trip."""
        return self._run(self.core.totals())

    # -- incident controls (sessionwarden.core.controls) --

    def lock_user(self, user_id: str, *, actor: str, reason: str | None = None) -> int:
        """Lock an account (an incident control: a takeover in progress, an account under
        investigation): every session ends at once, each tombstoned, reported and audited like
        a revocation, and `create_session` raises `AccountLocked` until `unlock_user`; validate
        also ends any session it still finds for a locked account. Returns how many sessions
        ended. ``actor`` is required (who locked it); both are cleaned and bounded like a
        revocation's. One script on the user's slot; the lock shows in `users_page`,
        `recent_users`, `locked_users` and `lock_state`."""
        return self._run(self.core.lock_user(user_id, actor=actor, reason=reason))

    def unlock_user(self, user_id: str, *, actor: str, reason: str | None = None) -> bool:
        """Lift `lock_user`: sign-ins are accepted again (ended sessions stay ended). Audited;
        ``False`` and nothing written when the account was not locked."""
        return self._run(self.core.unlock_user(user_id, actor=actor, reason=reason))

    def lock_state(self, user_id: str) -> datetime | None:
        """When the account was locked, or ``None`` when it is not locked."""
        return self._run(self.core.lock_state(user_id))

    def locked_users(self, *, limit: int = 100) -> list[LockedUser]:
        """Locked accounts, most recently locked first (``limit`` 1-10000)."""
        return self._run(self.core.locked_users(limit=limit))

    def revoke_everyone(self, *, actor: str, reason: str | None = None) -> datetime:
        """Sign out every session of every user (breach response): moves the global
        not-before epoch to now and returns it. Every process's validate refuses each session
        created at or before it within 0.5 s (this process at once), with no scan on the
        request path and no extra round trip (the epoch is re-read inside validate's own
        pipeline); `purge_everyone` (the daemon's sweep) then ends the sessions in the
        background. Audited, and an ``everyone_revoked`` event."""
        return self._run(self.core.revoke_everyone(actor=actor, reason=reason))

    def purge_everyone(self, *, limit: int = 500) -> PurgeResult:
        """One batch of the background clean-up after `revoke_everyone`: up to ``limit``
        users (1-10000) have their sessions from before the epoch ended and unindexed;
        ``PurgeResult(ended, users, done)``. Resumable from any process; call until ``done``."""
        return self._run(self.core.purge_everyone(limit=limit))

    # -- the daemon's operations --
    # Consumer-group delivery of alerts, delivery records, dead letters, retention, the sweep
    # result, heartbeats and leases (sessionwarden.core.consumer / heartbeat / lease / sweep).

    def sweep_due(self, *, limit: int = 500) -> SweepResult:
        """As `sweep_expired`, returning ``SweepResult(expired, users_swept, still_due)``."""
        return self._run(self.core.sweep_due(limit=limit))

    def ensure_alert_group(self, group: str = DEFAULT_GROUP) -> bool:
        """Create the alert stream and its consumer group unless they exist; from then on every
        finding is also written there, and kept until the group has acknowledged it."""
        return self._run(self.core.ensure_alert_group(group))

    def read_alerts(self, consumer: str, *, group: str = DEFAULT_GROUP, count: int = 100,
                    block_ms: int | None = None,
                    pending_after: str | None = None) -> AlertBatch:
        """This consumer's pending alerts after ``pending_after`` (``"0"``: all), or new ones
        (waiting up to ``block_ms``, below the socket timeout)."""
        return self._run(self.core.read_alerts(consumer, group=group, count=count,
                                               block_ms=block_ms, pending_after=pending_after))

    def claim_stale_alerts(self, consumer: str, *, group: str = DEFAULT_GROUP,
                           min_idle_ms: int = 60_000, count: int = 100,
                           start: str = "0-0") -> tuple[AlertBatch, str]:
        """Take over alerts pending longer than ``min_idle_ms`` with a consumer that died."""
        return self._run(self.core.claim_stale_alerts(consumer, group=group,
                                                      min_idle_ms=min_idle_ms, count=count,
                                                      start=start))

    def ack_alerts(self, ids: Iterable[str], *, group: str = DEFAULT_GROUP) -> int:
        """Acknowledge alerts and drop their delivery records (one round trip)."""
        return self._run(self.core.ack_alerts(ids, group=group))

    def alert_status(self, *, group: str = DEFAULT_GROUP) -> ConsumerStatus:
        """Pending count, lag and oldest pending entry of the alert group."""
        return self._run(self.core.alert_status(group=group))

    def delivery_states(self, alert_ids: Sequence[str]) -> dict[str, DeliveryState]:
        """Sinks delivered (or given up) and attempts, per alert."""
        return self._run(self.core.delivery_states(alert_ids))

    def record_deliveries(self, done: Iterable[tuple[str, str]]) -> None:
        """Record ``(alert id, sink)`` pairs as delivered: a replay never sends them again."""
        return self._run(self.core.record_deliveries(done))

    def record_attempt(self, alert_id: str, sink: str) -> int:
        """Count a failed attempt; returns attempts so far."""
        return self._run(self.core.record_attempt(alert_id, sink))

    def dead_letter(self, alert: Alert, sink: str, *, attempts: int, error: str) -> str:
        """Give up on one (alert, sink): a dead letter and an audit entry."""
        return self._run(self.core.dead_letter(alert, sink, attempts=attempts, error=error))

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """Dead letters, oldest first."""
        return self._run(self.core.dead_letters(limit=limit))

    def requeue_dead_letters(self, ids: Iterable[str] | None = None, *,
                             actor: str = DAEMON_ACTOR) -> int:
        """Re-queue dead letters (``None``: all) for their sink; returns how many."""
        return self._run(self.core.requeue_dead_letters(ids, actor=actor))

    def trim_alerts(self, cutoff_ms: int) -> TrimAlertsReply:
        """Trim alerts older than ``cutoff_ms``, never one not yet acknowledged."""
        return self._run(self.core.trim_alerts(cutoff_ms))

    def trim_history(self, *, events_before_ms: int | None = None,
                     audit_before_ms: int | None = None) -> tuple[int, int]:
        """Age retention of the event stream and of the audit trail."""
        return self._run(self.core.trim_history(events_before_ms=events_before_ms,
                                                audit_before_ms=audit_before_ms))

    def alert_action_for(self, event: Event, *, scope: str = "session") -> str:
        """A "not you? revoke" token for an event already read (no lookup)."""
        return self._run(self.core.alert_action_for(event, scope=scope))

    def write_heartbeat(self, instance: str, state: dict[str, Any], *, ttl_ms: int) -> None:
        """Write a daemon's heartbeat for ``ttl_ms``."""
        return self._run(self.core.write_heartbeat(instance, state, ttl_ms=ttl_ms))

    def clear_heartbeat(self, instance: str) -> None:
        """Remove a daemon's heartbeat (clean stop)."""
        return self._run(self.core.clear_heartbeat(instance))

    def heartbeats(self) -> list[Heartbeat]:
        """Heartbeats of the live daemons, most recent first."""
        return self._run(self.core.heartbeats())

    def acquire_lease(self, name: str, owner: str, *, ttl_ms: int) -> bool:
        """Take or renew lease ``name`` for ``owner``; ``False`` when another holds it."""
        return self._run(self.core.acquire_lease(name, owner, ttl_ms=ttl_ms))

    def release_lease(self, name: str, owner: str) -> bool:
        """Give lease ``name`` up, only if ``owner`` holds it."""
        return self._run(self.core.release_lease(name, owner))

    # -- the driver ---------------------------------------------------------------------------

    def _run(self, op: Op[T]) -> T:
        self._enter()
        try:
            return self._drive(op)
        finally:
            self._leave()

    def _drive(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                try:
                    reply = self._execute(request)
                except ScriptError as exc:
                    request = op.throw(exc)
                else:
                    request = op.send(reply)
        except StopIteration as done:
            return cast(T, done.value)

    def _execute(self, request: Request) -> Any:
        """Send one request, once. Every failure leaves as a `SessionWardenError`."""
        if self._torn_down:
            raise ManagerClosed("the manager was closed while this call was in flight")
        try:
            if isinstance(request, Command):
                return self.client.execute_command(*request.args)
            if isinstance(request, Eval):
                return self._eval(request)
            pipe = self.client.pipeline(transaction=False)
            for item in request.items:
                _queue(pipe, item)
            replies = _checked(request, pipe.execute(raise_on_error=False))
            return [self._eval(item, missing=True) if isinstance(item, Eval) and _noscript(reply)
                    else reply
                    for item, reply in zip(request.items, replies, strict=True)]
        except SessionWardenError:
            raise
        except (redis.RedisError, OSError) as exc:
            raise self._translate(exc) from exc
        except Exception as exc:
            if self._closed:  # the client was being closed under this call
                raise ManagerClosed("the manager was closed while this call was in flight; "
                                    "it may or may not have run") from exc
            raise

    def _eval(self, request: Eval, *, missing: bool = False) -> Any:
        """EVALSHA; on NOSCRIPT (or ``missing``: a pipeline already got NOSCRIPT) one EVAL of
        the source, which also caches the script: one extra round trip, not two."""
        script = SCRIPTS[request.script]
        args = (len(request.keys), *request.keys, *request.args)
        try:
            if not missing:
                try:
                    return self.client.evalsha(script.sha, *args)
                except redis.exceptions.NoScriptError:
                    pass
            return self.client.eval(script.source, *args)
        except redis.ResponseError as exc:
            raise _script_error(exc) or exc from exc


class AsyncSessionManager(_Base):
    """asyncio manager over ``redis.asyncio.Redis``: the methods of `SessionManager`, as
    coroutines (``await mgr.create_session(...)``), with the same arguments, results and
    errors. Use it from one event loop."""

    _client_factory = staticmethod(async_client)

    async def aclose(self) -> None:
        """As `SessionManager.close`: calls in flight get up to the socket timeout to finish;
        then every call raises `ManagerClosed`. Idempotent."""
        if not self._begin_close():
            return
        deadline = time.monotonic() + self._drain_seconds()
        while self._calls and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        self._torn_down = True
        try:
            await self.client.aclose()
        except Exception as exc:  # closing must not fail the caller's shutdown
            log.warning("closing the Redis client failed: %r", exc)

    async def __aenter__(self) -> AsyncSessionManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def create_session(self, user_id: str, *, user_agent: str | None, ip: str,
                             country: str | None = None, city: str | None = None,
                             device_id: str | None = None,
                             email: str | None = None,
                             client_hints: HeadersLike | None = None,
                             policy: SessionPolicy | str | None = None,
                             assurance: str = "password") -> CreatedSession:
        return await self._run(self.core.create_session(
            user_id, user_agent=user_agent, ip=ip, country=country, city=city,
            device_id=device_id, email=email, client_hints=client_hints, policy=policy,
            assurance=assurance))

    async def validate_session(self, token: object, *, ip: str | None = None,
                               user_agent: str | None = None,
                               client_hints: HeadersLike | None = None,
                               country: str | None = None,
                               city: str | None = None,
                               touch: bool = True) -> Session | None:
        self._enter()
        try:
            probe = self.core.validate_probe(token, ip=ip, user_agent=user_agent,
                                             client_hints=client_hints, country=country,
                                             city=city, touch=touch)
            if probe is None:
                return None
            if probe.read is not None:
                try:
                    raw = await self._execute(probe.read)
                except StoreRefused as exc:
                    if not _foreign_key(exc):
                        raise
                    raw = None
                found = self.core.validate_read(probe, raw)
                if found is not SLOW:
                    return found  # type: ignore[return-value]  # (no cast: the hot path)
            return await self._drive(self.core.validate_script(probe))
        finally:
            self._leave()

    async def reauthenticate(self, token: object, *,
                             assurance: str = "password") -> Session | None:
        return await self._run(self.core.reauthenticate(token, assurance=assurance))

    async def rotate_session(self, token: object) -> CreatedSession | None:
        return await self._run(self.core.rotate_session(token))

    async def revoke_session(self, user_id: str, session_id: str, *, actor: str | None = None,
                             reason: str | None = None) -> bool:
        return await self._run(self.core.revoke_session(user_id, session_id, actor=actor,
                                                        reason=reason))

    async def revoke_all_sessions(self, user_id: str, *, except_token: str | None = None,
                                  actor: str | None = None, reason: str | None = None) -> int:
        return await self._run(self.core.revoke_all_sessions(
            user_id, except_token=except_token, actor=actor, reason=reason))

    async def get_active_sessions(self, user_id: str, *,
                                  current_token: str | None = None) -> list[SessionView]:
        return await self._run(self.core.get_active_sessions(user_id,
                                                             current_token=current_token))

    async def recent_events(self, limit: int = 100) -> list[Event]:
        return await self._run(self.core.recent_events(limit))

    async def events_after(self, after: str = "0-0", *, limit: int = 100,
                           block_ms: int | None = None) -> EventPage:
        return await self._run(self.core.events_after(after, limit=limit, block_ms=block_ms))

    async def users(self, prefix: str = "", *, limit: int = 50) -> list[str]:
        return await self._run(self.core.users(prefix, limit=limit))

    async def recent_users(self, *, limit: int = 50) -> list[UserSummary]:
        return await self._run(self.core.recent_users(limit=limit))

    async def known_devices(self, user_id: str) -> list[Device]:
        return await self._run(self.core.known_devices(user_id))

    async def user_email(self, user_id: str) -> str | None:
        return await self._run(self.core.user_email(user_id))

    async def sweep_expired(self, *, limit: int = 500) -> int:
        return await self._run(self.core.sweep_expired(limit=limit))

    async def record_audit(self, kind: str, *, actor: str, user_id: str | None = None,
                           session_id: str | None = None, reason: str | None = None,
                           details: dict[str, Any] | None = None) -> str:
        return await self._run(self.core.record_audit(kind, actor=actor, user_id=user_id,
                                                      session_id=session_id, reason=reason,
                                                      details=details))

    async def audit_trail(self, *, user_id: str | None = None,
                          since: datetime | timedelta | None = None,
                          limit: int = 100) -> list[AuditEntry]:
        return await self._run(self.core.audit_trail(user_id=user_id, since=since, limit=limit))

    async def create_alert_action(self, event_id: str, *, scope: str = "session") -> str:
        return await self._run(self.core.create_alert_action(event_id, scope=scope))

    async def revoke_from_alert(self, action_token: str) -> int:
        return await self._run(self.core.revoke_from_alert(action_token))

    # -- the console's operations --

    async def users_page(self, prefix: str = "", *, after: str | None = None,
                         limit: int = 50) -> UserPage:
        return await self._run(self.core.users_page(prefix, after=after, limit=limit))

    async def user_alerts(self, user_id: str, *, limit: int = 50) -> list[Event]:
        return await self._run(self.core.user_alerts(user_id, limit=limit))

    async def totals(self) -> Totals:
        return await self._run(self.core.totals())

    # -- incident controls --

    async def lock_user(self, user_id: str, *, actor: str, reason: str | None = None) -> int:
        return await self._run(self.core.lock_user(user_id, actor=actor, reason=reason))

    async def unlock_user(self, user_id: str, *, actor: str,
                          reason: str | None = None) -> bool:
        return await self._run(self.core.unlock_user(user_id, actor=actor, reason=reason))

    async def lock_state(self, user_id: str) -> datetime | None:
        return await self._run(self.core.lock_state(user_id))

    async def locked_users(self, *, limit: int = 100) -> list[LockedUser]:
        return await self._run(self.core.locked_users(limit=limit))

    async def revoke_everyone(self, *, actor: str, reason: str | None = None) -> datetime:
        return await self._run(self.core.revoke_everyone(actor=actor, reason=reason))

    async def purge_everyone(self, *, limit: int = 500) -> PurgeResult:
        return await self._run(self.core.purge_everyone(limit=limit))

    # -- the daemon's operations --

    async def sweep_due(self, *, limit: int = 500) -> SweepResult:
        return await self._run(self.core.sweep_due(limit=limit))

    async def ensure_alert_group(self, group: str = DEFAULT_GROUP) -> bool:
        return await self._run(self.core.ensure_alert_group(group))

    async def read_alerts(self, consumer: str, *, group: str = DEFAULT_GROUP, count: int = 100,
                          block_ms: int | None = None,
                          pending_after: str | None = None) -> AlertBatch:
        return await self._run(self.core.read_alerts(
            consumer, group=group, count=count, block_ms=block_ms, pending_after=pending_after))

    async def claim_stale_alerts(self, consumer: str, *, group: str = DEFAULT_GROUP,
                                 min_idle_ms: int = 60_000, count: int = 100,
                                 start: str = "0-0") -> tuple[AlertBatch, str]:
        return await self._run(self.core.claim_stale_alerts(consumer, group=group,
                                                            min_idle_ms=min_idle_ms, count=count,
                                                            start=start))

    async def ack_alerts(self, ids: Iterable[str], *, group: str = DEFAULT_GROUP) -> int:
        return await self._run(self.core.ack_alerts(ids, group=group))

    async def alert_status(self, *, group: str = DEFAULT_GROUP) -> ConsumerStatus:
        return await self._run(self.core.alert_status(group=group))

    async def delivery_states(self, alert_ids: Sequence[str]) -> dict[str, DeliveryState]:
        return await self._run(self.core.delivery_states(alert_ids))

    async def record_deliveries(self, done: Iterable[tuple[str, str]]) -> None:
        return await self._run(self.core.record_deliveries(done))

    async def record_attempt(self, alert_id: str, sink: str) -> int:
        return await self._run(self.core.record_attempt(alert_id, sink))

    async def dead_letter(self, alert: Alert, sink: str, *, attempts: int, error: str) -> str:
        return await self._run(self.core.dead_letter(alert, sink, attempts=attempts, error=error))

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        return await self._run(self.core.dead_letters(limit=limit))

    async def requeue_dead_letters(self, ids: Iterable[str] | None = None, *,
                                   actor: str = DAEMON_ACTOR) -> int:
        return await self._run(self.core.requeue_dead_letters(ids, actor=actor))

    async def trim_alerts(self, cutoff_ms: int) -> TrimAlertsReply:
        return await self._run(self.core.trim_alerts(cutoff_ms))

    async def trim_history(self, *, events_before_ms: int | None = None,
                           audit_before_ms: int | None = None) -> tuple[int, int]:
        return await self._run(self.core.trim_history(events_before_ms=events_before_ms,
                                                      audit_before_ms=audit_before_ms))

    async def alert_action_for(self, event: Event, *, scope: str = "session") -> str:
        return await self._run(self.core.alert_action_for(event, scope=scope))

    async def write_heartbeat(self, instance: str, state: dict[str, Any], *, ttl_ms: int) -> None:
        return await self._run(self.core.write_heartbeat(instance, state, ttl_ms=ttl_ms))

    async def clear_heartbeat(self, instance: str) -> None:
        return await self._run(self.core.clear_heartbeat(instance))

    async def heartbeats(self) -> list[Heartbeat]:
        return await self._run(self.core.heartbeats())

    async def acquire_lease(self, name: str, owner: str, *, ttl_ms: int) -> bool:
        return await self._run(self.core.acquire_lease(name, owner, ttl_ms=ttl_ms))

    async def release_lease(self, name: str, owner: str) -> bool:
        return await self._run(self.core.release_lease(name, owner))

    # -- the driver ---------------------------------------------------------------------------

    async def _run(self, op: Op[T]) -> T:
        self._enter()
        try:
            return await self._drive(op)
        finally:
            self._leave()

    async def _drive(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                try:
                    reply = await self._execute(request)
                except ScriptError as exc:
                    request = op.throw(exc)
                else:
                    request = op.send(reply)
        except StopIteration as done:
            return cast(T, done.value)

    async def _execute(self, request: Request) -> Any:
        if self._torn_down:
            raise ManagerClosed("the manager was closed while this call was in flight")
        try:
            if isinstance(request, Command):
                return await self.client.execute_command(*request.args)
            if isinstance(request, Eval):
                return await self._eval(request)
            pipe = self.client.pipeline(transaction=False)
            for item in request.items:
                _queue(pipe, item)
            replies = _checked(request, await pipe.execute(raise_on_error=False))
            return [await self._eval(item, missing=True)
                    if isinstance(item, Eval) and _noscript(reply) else reply
                    for item, reply in zip(request.items, replies, strict=True)]
        except SessionWardenError:
            raise
        except (redis.RedisError, OSError) as exc:
            raise self._translate(exc) from exc
        except Exception as exc:
            if self._closed:
                raise ManagerClosed("the manager was closed while this call was in flight; "
                                    "it may or may not have run") from exc
            raise

    async def _eval(self, request: Eval, *, missing: bool = False) -> Any:
        script = SCRIPTS[request.script]
        args = (len(request.keys), *request.keys, *request.args)
        try:
            if not missing:
                try:
                    return await self.client.evalsha(script.sha, *args)
                except redis.exceptions.NoScriptError:
                    pass
            return await self.client.eval(script.source, *args)
        except redis.ResponseError as exc:
            raise _script_error(exc) or exc from exc


def _share_docs() -> None:
    """The async face documents itself by the sync one: same arguments, results, errors."""
    for name, member in vars(AsyncSessionManager).items():
        target = getattr(member, "__func__", member)
        source = getattr(SessionManager, name, None)
        if callable(target) and not name.startswith("_") and target.__doc__ is None and source:
            target.__doc__ = source.__doc__


_share_docs()


def _queue(pipe: Any, item: Eval | Command) -> None:
    if isinstance(item, Command):
        pipe.execute_command(*item.args)
    else:
        # execute_command, not pipe.evalsha: redis-py's cluster pipelines refuse the evalsha
        # method but route a plain EVALSHA to the node owning its keys.
        script = SCRIPTS[item.script]
        pipe.execute_command("EVALSHA", script.sha, len(item.keys), *item.keys, *item.args)


def _noscript(reply: Any) -> bool:
    return isinstance(reply, redis.exceptions.NoScriptError)


#: Error replies that say the server cannot serve at all (not that one key is odd): raised
#: even from a script inside a pipeline, where other script errors stay in place for the op.
_SERVER_STATE = frozenset({"OOM", "READONLY", "MASTERDOWN", "LOADING", "BUSY", "NOAUTH",
                           "WRONGPASS", "NOPERM", "MISCONF", "NOREPLICAS", "CLUSTERDOWN",
                           "TRYAGAIN"})


def _checked(batch: Batch, replies: list[Any]) -> list[Any]:
    """Raise the first error of a plain command, or any reply saying the server cannot serve;
    other script errors stay in place for the op."""
    for item, reply in zip(batch.items, replies, strict=True):
        if isinstance(reply, Exception) and (
                isinstance(item, Command) or isinstance(reply, redis.ConnectionError)
                or (isinstance(reply, redis.ResponseError) and not _noscript(reply)
                    and _code(reply) in _SERVER_STATE)):
            raise reply
    return replies
