"""The public faces: `SessionManager` (blocking) and `AsyncSessionManager` (asyncio).

Both run the same `Core` operations; they differ only in how a request reaches Redis. Methods
of `AsyncSessionManager` return coroutines (``await mgr.create_session(...)``).

Failure policy: any connection error or timeout becomes `StoreUnavailable` (fail closed). The
client is built with short socket timeouts and retries only *connecting*, never a command that
may have run: a retried create could make two sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .core import SLOW, Core
from .errors import SessionWardenError, StoreUnavailable
from .models import (
    AuditEntry,
    CreatedSession,
    Device,
    Event,
    EventPage,
    Session,
    SessionView,
    Totals,
    UserPage,
    UserSummary,
)
from .protocol import Batch, Command, Eval, Op, Request, ScriptError
from .scripts import SCRIPTS
from .settings import Settings

R = TypeVar("R")
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, OSError)


def _client_options(settings: Settings) -> dict[str, Any]:
    return {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2,
                       supported_errors=(redis.ConnectionError,)),
        "retry_on_timeout": False,
        "decode_responses": False,
        "health_check_interval": 30,
    }


def _check_client(client: Any) -> None:
    kwargs = client.get_connection_kwargs() if hasattr(client, "get_connection_kwargs") else {}
    if kwargs.get("decode_responses"):
        raise ValueError("client: must be created with decode_responses=False "
                         "(token hashes are stored as raw bytes)")


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"Redis unavailable: {type(exc).__name__}: {exc}")


class _Facade(Generic[R]):
    """The API, written once. ``_run`` executes an operation: directly (sync) or as a
    coroutine (async)."""

    def __init__(self, client: Any, settings: Settings | None = None, *,
                 clock: Callable[[], float] | None = None) -> None:
        """``client``: a redis-py client (``decode_responses=False``). ``clock``: seconds since
        the epoch, for tests and simulations only; by default scripts use the Redis server's
        clock so every app server agrees on "now"."""
        _check_client(client)
        self.client = client
        self.settings = settings or Settings()
        inline = self.settings.scripts_write_events
        if inline is None:
            inline = not isinstance(client, redis.cluster.RedisCluster | aioredis.RedisCluster)
        self.core = Core(self.settings, clock=clock, inline_events=inline)

    def _run(self, op: Op[Any]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def create_session(self, user_id: str, *, user_agent: str | None, ip: str,
                       country: str | None = None, city: str | None = None,
                       device_id: str | None = None, email: str | None = None) -> CreatedSession:
        """Start a session. Raises ``ValueError`` for a bad ``user_id``/``ip``/``email``
        (nothing written) and `SessionLimitExceeded` with ``on_limit="deny"``. Text arguments
        (user agent, city, device id) are cleaned and bounded; an invalid country hint is
        ignored in favour of the offline lookup."""
        return self._run(self.core.create_session(
            user_id, user_agent=user_agent, ip=ip, country=country, city=city,
            device_id=device_id, email=email))

    def revoke_session(self, user_id: str, session_id: str, *, actor: str | None = None,
                       reason: str | None = None) -> bool:
        """End one session; ``False`` when it was not live. ``ValueError`` for a malformed id."""
        return self._run(self.core.revoke_session(user_id, session_id, actor=actor,
                                                  reason=reason))

    def revoke_all_sessions(self, user_id: str, *, except_token: str | None = None,
                            actor: str | None = None, reason: str | None = None) -> int:
        """End every session of the user except the one of ``except_token`` (when that token is
        valid for this user); returns how many ended."""
        return self._run(self.core.revoke_all_sessions(
            user_id, except_token=except_token, actor=actor, reason=reason))

    def get_active_sessions(self, user_id: str, *,
                            current_token: str | None = None) -> list[SessionView]:
        """Live sessions, most recently active first, in one round trip."""
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
        """Users by most recent sign-in, newest first, at most ``limit`` (1-10000) and at most
        ``Settings.recent_users_kept`` (the index keeps only that many)."""
        return self._run(self.core.recent_users(limit=limit))

    def known_devices(self, user_id: str) -> list[Device]:
        """The user's devices, most recently seen first; corrupt records skipped and logged.
        A bad ``user_id`` raises ``ValueError`` as in `create_session`."""
        return self._run(self.core.known_devices(user_id))

    def user_email(self, user_id: str) -> str | None:
        """The contact address recorded at sign-in (``email=``), or ``None``."""
        return self._run(self.core.user_email(user_id))

    def sweep_expired(self, *, limit: int = 500) -> int:
        """Sweep up to ``limit`` (1-10000) due users of the expiry index (the daemon's job):
        reports each expired session once and returns how many expired."""
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

    # -- console support --

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


def _script_error(exc: redis.ResponseError) -> ScriptError | None:
    message = str(exc)
    return ScriptError(message) if message.startswith("SW") else None


class SessionManager(_Facade[Any]):
    """Blocking manager over ``redis.Redis`` (thread-safe: redis-py pools connections)."""

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None, *,
                 clock: Callable[[], float] | None = None) -> SessionManager:
        settings = settings or Settings()
        return cls(redis.Redis.from_url(url, **_client_options(settings)), settings, clock=clock)

    def close(self) -> None:
        self.client.close()

    def validate_session(self, token: object, *, ip: str | None = None,
                         user_agent: str | None = None) -> Session | None:
        """The live session of ``token`` (touching it at most once per touch interval), or
        ``None`` for any token that is not valid, of any type or shape. ``ValueError`` for a
        malformed ``ip``; a user agent is cleaned and bounded. One round trip."""
        probe = self.core.validate_probe(token, ip=ip, user_agent=user_agent)
        if probe is None:
            return None
        if probe.read is not None:
            try:
                raw = self._execute(probe.read)
            except StoreUnavailable:
                raise
            except SessionWardenError:  # WRONGTYPE: a foreign key there; the script judges it
                raw = None
            found = self.core.validate_read(probe, raw)
            if found is not SLOW:
                return found  # type: ignore[return-value]
        return self._run(self.core.validate_script(probe))

    def _run(self, op: Op[Any]) -> Any:
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
            return done.value

    def _execute(self, request: Request) -> Any:
        try:
            if isinstance(request, Command):
                return self.client.execute_command(*request.args)
            if isinstance(request, Eval):
                return self._eval(request)
            pipe = self.client.pipeline(transaction=False)
            for item in request.items:
                _queue(pipe, item)
            replies = _checked(request, pipe.execute(raise_on_error=False))
            return [self._eval(item, missing=True) if _noscript(reply) else reply
                    for item, reply in zip(request.items, replies, strict=True)]
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        except redis.RedisError as exc:
            raise SessionWardenError(f"Redis refused a command: {exc}") from exc

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


class AsyncSessionManager(_Facade[Any]):
    """asyncio manager over ``redis.asyncio.Redis``; every method returns a coroutine."""

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None, *,
                 clock: Callable[[], float] | None = None) -> AsyncSessionManager:
        settings = settings or Settings()
        return cls(aioredis.Redis.from_url(url, **_client_options(settings)), settings,
                   clock=clock)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def validate_session(self, token: object, *, ip: str | None = None,
                               user_agent: str | None = None) -> Session | None:
        """As `SessionManager.validate_session`."""
        probe = self.core.validate_probe(token, ip=ip, user_agent=user_agent)
        if probe is None:
            return None
        if probe.read is not None:
            try:
                raw = await self._execute(probe.read)
            except StoreUnavailable:
                raise
            except SessionWardenError:  # WRONGTYPE: a foreign key there; the script judges it
                raw = None
            found = self.core.validate_read(probe, raw)
            if found is not SLOW:
                return found  # type: ignore[return-value]
        return await self._run(self.core.validate_script(probe))

    async def _run(self, op: Op[Any]) -> Any:  # type: ignore[override]
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
            return done.value

    async def _execute(self, request: Request) -> Any:
        try:
            if isinstance(request, Command):
                return await self.client.execute_command(*request.args)
            if isinstance(request, Eval):
                return await self._eval(request)
            pipe = self.client.pipeline(transaction=False)
            for item in request.items:
                _queue(pipe, item)
            replies = _checked(request, await pipe.execute(raise_on_error=False))
            return [await self._eval(item, missing=True) if _noscript(reply) else reply
                    for item, reply in zip(request.items, replies, strict=True)]
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        except redis.RedisError as exc:
            raise SessionWardenError(f"Redis refused a command: {exc}") from exc

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


def _checked(batch: Batch, replies: list[Any]) -> list[Any]:
    """Raise the first error of a plain command; script errors stay in place for the op."""
    for item, reply in zip(batch.items, replies, strict=True):
        if isinstance(reply, Exception) and isinstance(item, Command):
            raise reply
    return replies
