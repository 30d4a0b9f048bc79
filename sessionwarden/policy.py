"""How long one session may live: `SessionPolicy`, its named presets, and the ordered
vocabulary of how strongly the user proved who they are (`ASSURANCE`).

A policy is chosen per session at sign-in (``create_session(..., policy=...)``: "remember me"
or not, administrators shorter than customers) and written into the session record, so every
process — another app server with other `Settings`, the CLI, the console, the daemon — judges
that session by it alone (see "Liveness belongs to the session" in docs/decisions.md). Without
a policy a session lives by the creating process's `Settings`, exactly as before policies
existed.

The presets are named after NIST SP 800-63B's authenticator assurance levels; their limits
and sources are in `PRESETS` and in docs/decisions.md ("Session policy, step-up and rotation").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

#: How strongly a proof of identity was made, weakest first. ``password``: one factor (a
#: password, or any single authenticator); ``mfa``: two factors (NIST AAL2); ``phishing_resistant``:
#: a phishing-resistant authenticator such as a WebAuthn / FIDO2 key or passkey (what NIST
#: requires at AAL3 and ASVS 5.0 asks for high-value actions). An unknown name is a
#: ``ValueError`` wherever one is accepted, never a silent "weakest".
ASSURANCE: tuple[str, ...] = ("password", "mfa", "phishing_resistant")

#: The hard bound of every duration of a policy: 400 days, the longest lifetime browsers give a
#: cookie (RFC 6265bis caps Max-Age/Expires there), so no session can outlive its cookie.
MAX_LIFETIME = timedelta(days=400)

_NAME_RE = re.compile(r"^[a-z0-9_-]{1,16}$")


def assurance_rank(name: object, argument: str = "assurance") -> int:
    """The position of ``name`` in `ASSURANCE` (0 = ``password``); ``ValueError`` naming
    ``argument`` for anything else (any other text, any other type)."""
    if isinstance(name, str):
        for rank, known in enumerate(ASSURANCE):
            if name == known:
                return rank
    raise ValueError(f"{argument}: must be one of {', '.join(ASSURANCE)}; got {name!r}")


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


def _duration(name: str, value: object) -> timedelta:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name}: expected a timedelta, got {type(value).__name__}")
    if _ms(value) < 1:
        raise ValueError(f"{name}: must be at least 1 ms, got {value}")
    if value > MAX_LIFETIME:
        raise ValueError(f"{name}: must be at most {MAX_LIFETIME.days} days (the longest a "
                         f"browser keeps a cookie), got {value}")
    return value


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How one session lives and dies; immutable, validated at construction (``ValueError`` /
    ``TypeError`` naming the field).

    - ``idle_timeout``: the session dies after this long without user activity (a validate that
      counts as activity, or a re-authentication).
    - ``absolute_lifetime``: and never lives longer than this after sign-in (or, with
      ``reauth_extension``, after its latest re-authentication, within ``max_lifetime``).
    - ``touch_interval``: activity is written at most this often (shorter than
      ``idle_timeout``); kept in the record, so every process touches this session alike.
    - ``reauth_extension``: ``None`` (the default): a re-authentication records the proof and
      resets the idle timer but leaves the deadline. A duration: a re-authentication also moves
      the deadline to at least *now + reauth_extension* (NIST: "reauthentication ... restarts"
      the overall timeout), never past *sign-in + max_lifetime*.
    - ``max_lifetime``: the bound of those extensions, counted from sign-in; required with
      ``reauth_extension`` (and meaningless without it), at least ``absolute_lifetime``.
    - ``name``: shown in listings and returned as `Session.policy` (1-16 of ``a-z 0-9 _ -``).

    Every duration is at most `MAX_LIFETIME` (400 days).
    """

    idle_timeout: timedelta
    absolute_lifetime: timedelta
    touch_interval: timedelta = timedelta(seconds=60)
    reauth_extension: timedelta | None = None
    max_lifetime: timedelta | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        idle = _duration("idle_timeout", self.idle_timeout)
        absolute = _duration("absolute_lifetime", self.absolute_lifetime)
        touch = _duration("touch_interval", self.touch_interval)
        if idle > absolute:
            raise ValueError(f"idle_timeout: must not exceed absolute_lifetime ({idle} > "
                             f"{absolute})")
        if touch >= idle:
            raise ValueError(f"touch_interval: must be shorter than idle_timeout ({touch} >= "
                             f"{idle})")
        if (self.reauth_extension is None) != (self.max_lifetime is None):
            missing = "max_lifetime" if self.max_lifetime is None else "reauth_extension"
            raise ValueError(f"{missing}: reauth_extension and max_lifetime go together (the "
                             "extension a re-authentication grants, and its bound)")
        if self.reauth_extension is not None and self.max_lifetime is not None:
            extension = _duration("reauth_extension", self.reauth_extension)
            bound = _duration("max_lifetime", self.max_lifetime)
            if bound < absolute:
                raise ValueError(f"max_lifetime: must be at least absolute_lifetime ({bound} < "
                                 f"{absolute})")
            if extension > bound:
                raise ValueError(f"reauth_extension: must not exceed max_lifetime ({extension}"
                                 f" > {bound})")
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"name: 1-16 characters from a-z 0-9 _ -, got {self.name!r}")

    @property
    def idle_ms(self) -> int:
        return _ms(self.idle_timeout)

    @property
    def absolute_ms(self) -> int:
        return _ms(self.absolute_lifetime)

    @property
    def touch_ms(self) -> int:
        return _ms(self.touch_interval)

    @property
    def reauth_extension_ms(self) -> int:
        """0 when re-authentication does not extend the deadline."""
        return _ms(self.reauth_extension) if self.reauth_extension is not None else 0

    @property
    def max_lifetime_ms(self) -> int:
        """0 when re-authentication does not extend the deadline."""
        return _ms(self.max_lifetime) if self.max_lifetime is not None else 0

    @classmethod
    def preset(cls, name: str) -> SessionPolicy:
        """The preset called ``name`` (`PRESETS`); ``ValueError`` listing them otherwise."""
        found = PRESETS.get(name) if isinstance(name, str) else None
        if found is None:
            raise ValueError(f"policy: unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        return found


#: Presets after NIST SP 800-63B's reauthentication limits per AAL and OWASP ASVS 4.0.3 V3.3.2
#: (sources and the choices that are ours, such as the bounds of extensions, in
#: docs/decisions.md):
#:
#: - ``aal1``: re-authenticate at least every 30 days whatever the activity (800-63B rev. 3
#:   §4.1.3, rev. 4 §2.1.3; ASVS 4.0.3 V3.3.2 level 1). No inactivity limit at AAL1, so the
#:   idle window equals the lifetime. A re-authentication restarts the 30 days, within 90.
#: - ``aal2``: 12 h overall, 30 min of inactivity (rev. 3 §4.2.3; ASVS 4.0.3 V3.3.2 level 2;
#:   FedRAMP IA-11 moderate). Rev. 4 §2.2.3 allows 24 h / 1 h: the preset is within both.
#:   A re-authentication restarts the 12 h, within 7 days.
#: - ``aal3``: 12 h overall, 15 min of inactivity (rev. 3 §4.3.3, rev. 4 §2.3.3; ASVS 4.0.3
#:   V3.3.2 level 3). A re-authentication restarts the 12 h, within 7 days.
PRESETS: MappingProxyType[str, SessionPolicy] = MappingProxyType({
    "aal1": SessionPolicy(idle_timeout=timedelta(days=30), absolute_lifetime=timedelta(days=30),
                          reauth_extension=timedelta(days=30), max_lifetime=timedelta(days=90),
                          name="aal1"),
    "aal2": SessionPolicy(idle_timeout=timedelta(minutes=30),
                          absolute_lifetime=timedelta(hours=12),
                          reauth_extension=timedelta(hours=12), max_lifetime=timedelta(days=7),
                          name="aal2"),
    "aal3": SessionPolicy(idle_timeout=timedelta(minutes=15),
                          absolute_lifetime=timedelta(hours=12),
                          reauth_extension=timedelta(hours=12), max_lifetime=timedelta(days=7),
                          name="aal3"),
})
