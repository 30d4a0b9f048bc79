"""Settings, validated once at construction so a bad deployment fails at start-up, not mid-request.

Every duration is a `timedelta`; every error names the field it is about.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

SEVERITIES = ("info", "low", "medium", "high", "critical")

#: Detection rules and their default severities (see docs/detection.md for why).
RULE_SEVERITIES: Mapping[str, str] = MappingProxyType(
    {
        "new_device": "low",
        "new_country": "medium",
        "impossible_travel": "high",
        "shared_account": "medium",
        "revoked_token_used": "high",
        "device_mismatch": "high",
        "login_burst": "medium",
        "session_probe": "medium",
    }
)

#: Weights of the signals a sign-in (or a validation) is assessed on: the assessment's score is
#: the sum of the weights of the signals present (docs/detection.md, "Assessment").
SIGNAL_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "new_device": 2.5,  # first sign-in from this kind of device
        "new_country": 2.0,  # first sign-in from this country
        "unfamiliar_country": 0.5,  # seen before, not yet familiar
        "impossible_travel": 1.0,  # from the previous sign-in faster than a plane
        "device_elsewhere": 2.5,  # the same kind of device (or session) in use elsewhere
        "unfamiliar_network": 0.5,  # a network the account's known devices have not used
        "hosting_network": 0.5,  # a hosting or VPN network (ASN database)
        "login_burst": 3.5,
        "shared_account": 3.5,
        "no_user_agent": 1.0,  # a live token presented without a User-Agent
    }
)

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
SECRET_ENV = "SESSIONWARDEN_SECRET"  # noqa: S105 - the name of a variable
MIN_SECRET_BYTES = 32


def _positive(name: str, value: timedelta) -> None:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name}: expected a timedelta, got {type(value).__name__}")
    if value <= timedelta(0):
        raise ValueError(f"{name}: must be positive, got {value}")


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """Thresholds of the suspicious-login rules; each rule can be disabled by name."""

    severities: Mapping[str, str] = field(default_factory=lambda: dict(RULE_SEVERITIES))
    disabled: frozenset[str] = frozenset()
    impossible_travel_kmh: float = 1500.0
    session_travel_kmh: float = 900.0
    impossible_travel_min_km: float = 500.0
    shared_countries: int = 3
    shared_devices: int = 4
    shared_window: timedelta = timedelta(minutes=30)
    shared_countries_window: timedelta = timedelta(hours=6)
    burst_logins: int = 10
    burst_window: timedelta = timedelta(minutes=10)
    bind_to_device: bool = False
    probe_wrong_secrets: int = 10
    probe_window: timedelta = timedelta(minutes=10)
    weights: Mapping[str, float] = field(default_factory=lambda: dict(SIGNAL_WEIGHTS))
    low_at: float = 1.0
    medium_at: float = 3.5
    high_at: float = 5.5
    critical_at: float = 9.0
    familiar_logins: int = 2
    learning_period: timedelta = timedelta(days=14)
    known_networks: tuple[str, ...] = ()
    hosting_asns: frozenset[int] = frozenset()
    hosting_words: tuple[str, ...] = ("hosting", "vpn", "cloud", "datacenter", "data center",
                                      "server", "vps", "colo")
    elsewhere_window: timedelta = timedelta(hours=2)
    incident_window: timedelta = timedelta(hours=24)
    shared_known_for: timedelta = timedelta(days=30)
    #: the rules whose severity the operator set to another value than the default in
    #: ``severities`` (a sign-in rule then takes it instead of the assessed one)
    pinned: frozenset[str] = field(init=False, default=frozenset())
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pinned", frozenset(
            rule for rule, severity in dict(self.severities).items()
            if RULE_SEVERITIES.get(rule, severity) != severity))
        merged = dict(RULE_SEVERITIES)
        for rule, severity in dict(self.severities).items():
            if rule not in RULE_SEVERITIES:
                raise ValueError(f"detection.severities: unknown rule {rule!r}")
            if severity not in SEVERITIES:
                raise ValueError(
                    f"detection.severities[{rule!r}]: {severity!r} is not one of {SEVERITIES}"
                )
            merged[rule] = severity
        object.__setattr__(self, "severities", MappingProxyType(merged))
        unknown = set(self.disabled) - set(RULE_SEVERITIES)
        if unknown:
            raise ValueError(f"detection.disabled: unknown rule(s) {sorted(unknown)}")
        object.__setattr__(self, "disabled", frozenset(self.disabled))
        if not self.impossible_travel_kmh > 0:
            raise ValueError("detection.impossible_travel_kmh: must be positive")
        if not self.session_travel_kmh > 0:
            raise ValueError("detection.session_travel_kmh: must be positive")
        if self.impossible_travel_min_km < 0:
            raise ValueError("detection.impossible_travel_min_km: must not be negative")
        for name in ("shared_countries", "shared_devices", "burst_logins",
                     "probe_wrong_secrets"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 2:
                raise ValueError(f"detection.{name}: must be an integer >= 2")
        _positive("detection.shared_window", self.shared_window)
        _positive("detection.burst_window", self.burst_window)
        _positive("detection.probe_window", self.probe_window)
        weights = dict(SIGNAL_WEIGHTS)
        for signal, weight in dict(self.weights).items():
            if signal not in SIGNAL_WEIGHTS:
                raise ValueError(f"detection.weights: unknown signal {signal!r}")
            if (not isinstance(weight, int | float) or isinstance(weight, bool)
                    or not 0 <= weight <= 100):
                raise ValueError(f"detection.weights[{signal!r}]: must be a number from 0 "
                                 f"to 100, got {weight!r}")
            weights[signal] = float(weight)
        object.__setattr__(self, "weights", MappingProxyType(weights))
        cuts = [self.low_at, self.medium_at, self.high_at, self.critical_at]
        if not all(isinstance(c, int | float) and c > 0 for c in cuts) or cuts != sorted(cuts):
            raise ValueError("detection.low_at/medium_at/high_at/critical_at: positive "
                             f"numbers in increasing order, got {cuts}")
        if not isinstance(self.familiar_logins, int) or self.familiar_logins < 1:
            raise ValueError("detection.familiar_logins: must be an integer >= 1")
        for name in ("learning_period", "elsewhere_window", "incident_window",
                     "shared_countries_window",
                     "shared_known_for"):
            _positive(f"detection.{name}", getattr(self, name))
        networks = []
        for cidr in self.known_networks:
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except (TypeError, ValueError):
                raise ValueError(f"detection.known_networks: {cidr!r} is not a CIDR "
                                 "(e.g. 198.51.100.0/24)") from None
        object.__setattr__(self, "known_networks", tuple(self.known_networks))
        object.__setattr__(self, "networks", tuple(networks))
        if not all(isinstance(a, int) and not isinstance(a, bool) and a > 0
                   for a in self.hosting_asns):
            raise ValueError("detection.hosting_asns: positive integers (AS numbers)")
        object.__setattr__(self, "hosting_asns", frozenset(self.hosting_asns))
        words = tuple(w.lower() for w in self.hosting_words if isinstance(w, str) and w)
        if len(words) != len(self.hosting_words):
            raise ValueError("detection.hosting_words: non-empty strings")
        object.__setattr__(self, "hosting_words", words)

    def severity_of(self, score: float) -> str:
        """The severity of an assessment's score ('info' below ``low_at``)."""
        for severity, cut in (("critical", self.critical_at), ("high", self.high_at),
                              ("medium", self.medium_at), ("low", self.low_at)):
            if score >= cut:
                return severity
        return "info"

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled


@dataclass(frozen=True, slots=True)
class Settings:
    """How sessions live and die. Defaults suit a typical SaaS web app.

    The event stream is capped at ``event_stream_maxlen`` entries (approximately, as Redis
    trims whole nodes); with ``event_retention`` set, entries older than that are also trimmed
    (``XTRIM MINID``) by the writers that run most: sign-ins and the expiry sweep.

    ``scripts_write_events``: the scripts append their events to the stream (and sign-in its
    global index entries) themselves, atomically with the change they report. ``None`` (the
    default) means yes unless the client is a ``RedisCluster``, where those keys live in other
    slots and the library appends them right after each script instead. Set ``False`` behind
    a proxy that shards a standalone-looking connection (twemproxy, Envoy).

    ``recent_users_kept`` bounds the "most recently active users" index: each sign-in trims it
    to that many users, so it costs the same at 10,000 users as at 10 million (the directory
    of all users, for prefix search, keeps everyone).

    ``secret`` keys device fingerprints and alert-action links. It falls back to the
    ``SESSIONWARDEN_SECRET`` environment variable. Without one (and ``production=False``) the
    settings serve an *operator* process (CLI, console): listing, revoking, sweeping and
    reading events work, while creating or validating sessions and signing or redeeming alert
    links raise `SecretRequired`; no random stand-in is ever generated, since its fingerprints
    and links would match nobody's. With ``production=True`` a manager refuses to start without
    a secret (`require_secret`), unless it is built with ``operator=True`` (a process that only
    looks and revokes: the CLI, the console).

    ``idle_timeout`` and ``absolute_lifetime`` apply to sessions *created* with these settings:
    each session record carries its own idle window and deadline, and every process judges a
    session by its record alone. Changing them changes new sessions only; end existing ones
    with `revoke_all_sessions` where the old window must not run out.
    """

    max_sessions: int = 5
    idle_timeout: timedelta = timedelta(days=7)
    absolute_lifetime: timedelta = timedelta(days=30)
    touch_interval: timedelta = timedelta(seconds=60)
    on_limit: str = "evict_oldest"
    key_prefix: str = "sw"
    event_stream_maxlen: int = 100_000
    event_retention: timedelta | None = None
    recent_users_kept: int = 1000
    scripts_write_events: bool | None = None
    tombstone_ttl: timedelta = timedelta(days=7)
    history_ttl: timedelta = timedelta(days=180)
    max_user_agent_length: int = 512
    secret: str | bytes | None = field(default=None, repr=False)  # bytes or None once built
    production: bool = False
    mmdb_path: str | None = None
    asn_mmdb_path: str | None = None
    alert_action_ttl: timedelta = timedelta(days=3)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    # Millisecond views the scripts take, computed once (validate reads them on every call).
    idle_ms: int = field(init=False, repr=False, compare=False)
    absolute_ms: int = field(init=False, repr=False, compare=False)
    touch_ms: int = field(init=False, repr=False, compare=False)
    tombstone_ms: int = field(init=False, repr=False, compare=False)
    history_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_sessions, int) or isinstance(self.max_sessions, bool):
            raise TypeError("max_sessions: expected an int")
        if not 1 <= self.max_sessions <= 1000:
            raise ValueError(f"max_sessions: must be between 1 and 1000, got {self.max_sessions}")
        for name in ("idle_timeout", "absolute_lifetime", "touch_interval", "tombstone_ttl",
                     "history_ttl", "alert_action_ttl"):
            _positive(name, getattr(self, name))
        if self.touch_interval >= self.idle_timeout:
            raise ValueError("touch_interval: must be shorter than idle_timeout")
        if self.idle_timeout > self.absolute_lifetime:
            raise ValueError("idle_timeout: must not exceed absolute_lifetime")
        if self.history_ttl < self.absolute_lifetime:
            # the user record holds the session index: it must outlive every session
            raise ValueError("history_ttl: must be at least absolute_lifetime")
        if _ms(self.touch_interval) < 1:
            raise ValueError("touch_interval: must be at least 1 ms")
        if self.on_limit not in ("evict_oldest", "deny"):
            raise ValueError(f"on_limit: must be 'evict_oldest' or 'deny', got {self.on_limit!r}")
        if not isinstance(self.key_prefix, str) or not _PREFIX_RE.match(self.key_prefix):
            raise ValueError("key_prefix: 1-32 characters from A-Z a-z 0-9 _ . : -")
        if not isinstance(self.event_stream_maxlen, int) or self.event_stream_maxlen < 100:
            raise ValueError("event_stream_maxlen: must be an integer >= 100")
        if (not isinstance(self.recent_users_kept, int) or isinstance(self.recent_users_kept, bool)
                or not 1 <= self.recent_users_kept <= 1_000_000):
            raise ValueError("recent_users_kept: must be an integer from 1 to 1000000")
        if self.scripts_write_events not in (None, True, False):
            raise ValueError("scripts_write_events: must be None, True or False")
        if self.event_retention is not None:
            _positive("event_retention", self.event_retention)
        if not 64 <= self.max_user_agent_length <= 4096:
            raise ValueError("max_user_agent_length: must be between 64 and 4096")
        if not isinstance(self.detection, DetectionSettings):
            raise TypeError("detection: expected a DetectionSettings")
        object.__setattr__(self, "secret", self._resolve_secret())
        for name, source in (
            ("idle_ms", self.idle_timeout), ("absolute_ms", self.absolute_lifetime),
            ("touch_ms", self.touch_interval), ("tombstone_ms", self.tombstone_ttl),
            ("history_ms", self.history_ttl),
        ):
            object.__setattr__(self, name, _ms(source))

    def _resolve_secret(self) -> bytes | None:
        secret = self.secret if self.secret is not None else os.environ.get(SECRET_ENV)
        if secret is None or secret in ("", b""):
            # No random stand-in: fingerprints and alert links made with one would never match
            # the app's. Without a secret the managers are operator managers (list, revoke,
            # read), and what needs the secret raises SecretRequired; with production=True a
            # manager refuses to start without one unless it is built with operator=True.
            return None
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < MIN_SECRET_BYTES:
            raise ValueError(f"secret: must be at least {MIN_SECRET_BYTES} bytes, got {len(raw)}")
        return raw

    def require_secret(self) -> None:
        """``ValueError`` when ``production`` is set and there is no secret: what a process
        that issues or validates sessions checks before it starts."""
        if self.production and self.secret is None:
            raise ValueError(
                f"secret: required in production (set Settings(secret=...) or {SECRET_ENV});"
                " generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
