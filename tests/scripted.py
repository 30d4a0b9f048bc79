"""Drive the sans-I/O core with scripted replies: no Redis, no fakeredis, no mocks.

`drive` runs one `Core` operation (a generator of `protocol` requests), records every request
it yields and answers each with the next scripted reply: a value is sent in, an exception
instance is thrown in (as the managers throw `protocol.ScriptError`), a function is called with
the request and its return value sent in (for a reply that depends on what was asked, such as
a random session id). Every scripted reply must be used, and no request may go unanswered, so
a test that scripts N replies also asserts the operation made exactly N round trips.

`record` builds a session record in the documented layout (``codec.SESSION_FIELDS``), so the
tests do not borrow the library's own encoder; `tag`, `base` and `token` follow the key schema
of docs/redis-schema.md the same way.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

from sessionwarden import Settings
from sessionwarden.core import Core
from sessionwarden.protocol import Batch, Command, Eval

NOW_S = 1_800_000_000.0
NOW = 1_800_000_000_000  # ms
SECRET = "x" * 32
DAY = 86_400_000
HOUR = 3_600_000


class Clock:
    def __init__(self, now: float = NOW_S) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def core(inline: bool = True, clock: object = None, *, epoch_known: bool = True,
         **settings: object) -> Core:
    """A core on a clock that moves only when told. ``epoch_known``: it has just read
    revoke_everyone's not-before epoch (none set), so validate sends no epoch read until the
    clock moves past the refresh interval (tests of that read pass ``False``)."""
    c = Core(Settings(secret=SECRET, **settings), clock=clock or Clock(),  # type: ignore[arg-type]
             inline_events=inline)
    if epoch_known:
        c._learn_not_before(None)
    return c


def tag(user_id: str) -> str:
    """The hash tag of a user, as docs/redis-schema.md defines it (computed here, not borrowed)."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()[:12]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def base(user_id: str) -> str:
    return f"sw:{{{tag(user_id)}}}:"


def incident(user_id: str) -> str:
    """The user's incident key: in the event stream's slot (docs/redis-schema.md)."""
    return f"sw:ic{{sw:events}}:{tag(user_id)}"


def token(user_id: str = "alice", rand: str = "RRRRRRRRRRR", secret: str = "S" * 43) -> str:
    return f"{tag(user_id)}{rand}.{secret}"


def entry(type_: str = "login", user: str = "alice", sid: str = "", at: int = NOW) -> list[bytes]:
    """The flat fields of a stream entry as a script returns them (Cluster mode)."""
    return [b"type", type_.encode(), b"user", user.encode(), b"sid", sid.encode(), b"sev",
            b"info", b"at", str(at).encode(), b"d", b"{}"]


def xadd(fields: list[bytes], maxlen: int = 100_000) -> Command:
    return Command(("XADD", "sw:events", "MAXLEN", "~", maxlen, "*", *fields))


class Unanswered(AssertionError):
    """The operation yielded a request the test scripted no reply for."""


def drive(op: Any, replies: Iterable[Any] = ()) -> tuple[Any, list[Any]]:
    """Run ``op`` to the end; ``(its result, the requests it yielded, in order)``.

    An exception the operation raises propagates (`drive_raises` also hands back the requests
    made before it)."""
    requests: list[Any] = []
    return _run(op, list(replies), requests), requests


def drive_raises(op: Any, replies: Iterable[Any], expected: type[BaseException]
                 ) -> tuple[BaseException, list[Any]]:
    """Run ``op``, which must raise ``expected``; ``(the exception, the requests yielded)``."""
    requests: list[Any] = []
    try:
        _run(op, list(replies), requests)
    except expected as exc:
        return exc, requests
    raise AssertionError(f"{expected.__name__} not raised; requests: {requests!r}")


def _run(op: Any, replies: list[Any], requests: list[Any]) -> Any:
    try:
        request = next(op)
        while True:
            if not isinstance(request, Eval | Command | Batch):
                raise AssertionError(f"not a protocol request: {request!r}")
            requests.append(request)
            if not replies:
                raise Unanswered(f"no scripted reply for request #{len(requests)}: {request!r}")
            reply = replies.pop(0)
            if isinstance(reply, BaseException):
                request = op.throw(reply)
            else:
                request = op.send(reply(request) if callable(reply) else reply)
    except StopIteration as done:
        if replies:
            raise AssertionError(f"{len(replies)} scripted replies unused: {replies!r}") from None
        return done.value


def secret_hash(token: str) -> bytes:
    """SHA-256 of a token's secret part: what Redis stores."""
    return hashlib.sha256(token.split(".", 1)[1].encode("ascii")).digest()


def base36(n: int) -> str:
    """A record time as the documented layout writes it (lower-case base 36)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = digits[d] + out
        if not n:
            return out


def record(token_hash: bytes, *, created: int, active: int, deadline: int, idle: int,
           ip: str = "203.0.113.7", country: str = "DE", network: str = "", city: str = "",
           fingerprint: str = "00112233aabbccdd", class_key: str = "", reported: str = "",
           user_id: str = "alice", fields: int = 12, touch: int | None = None,
           authenticated: int | None = None, assurance: str = "", extension: int | None = None,
           max_lifetime: int | None = None, policy: str = "") -> bytes:
    """A session record as docs/redis-schema.md and _lib.lua describe it: the 32-byte token
    hash, then the fields joined by \\x1f. ``fields=11`` leaves out the idle window (the
    layout before records carried it); ``fields=12`` (the default) is a record without the
    policy fields (as before policies), ``fields=18`` has them (``touch`` ... ``policy``;
    ``None`` / '' = the empty field)."""
    assert len(token_hash) == 32
    # the four times as the layout stores them: base-36 milliseconds
    values = [base36(created), base36(active), base36(deadline), base36(idle), ip, country,
              network, city, fingerprint, class_key, reported, user_id]
    if fields == 11:
        del values[3]
    if fields == 18:
        values += ["" if v is None else base36(v) for v in (touch, authenticated)]
        values += [assurance]
        values += ["" if v is None else base36(v) for v in (extension, max_lifetime)]
        values += [policy]
    return token_hash + "\x1f".join(values).encode("utf-8")


def tally(at_ms: int, *, live: int = 0, logins: int = 0, alerts: int = 0) -> Eval:
    """The request that adds to the console's totals (tally.lua), as the core sends it."""
    return Eval("tally", ("sw:stats",), (str(at_ms), live, logins, alerts))


def xadd_fields(request: Any) -> dict[str, Any]:
    """The entry fields of an ``XADD key MAXLEN ~ n * field value ...`` command, or of a
    ``finding`` script call (a detection finding: its arguments after the cap are the same
    fields, in ``codec.event_fields`` order)."""
    if isinstance(request, Eval) and request.script == "finding":
        names = ("type", "user", "sid", "sev", "at", "d")
        return dict(zip(names, request.args[1:7], strict=True))
    assert isinstance(request, Command), request
    args = request.args
    assert args[0] == "XADD" and args[2:4] == ("MAXLEN", "~") and args[5] == "*", args
    flat = args[6:]
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


