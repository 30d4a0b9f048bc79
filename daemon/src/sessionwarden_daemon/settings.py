"""The daemon's sections of the shared configuration (`sessionwarden.config`): ``[daemon]``
(`DaemonSettings`) and ``[alerts]`` (`AlertSettings`, with the tables ``[alerts.routes]``,
``[alerts.desktop]``, ``[alerts.email]`` and ``[alerts.webhook]``).

They are registered through the entry-point group ``sessionwarden.config_sections`` (see
``daemon/pyproject.toml``), so wherever this distribution is installed `sessionwarden.config.load`
and ``sessionwarden config check`` validate and print them, unknown keys are one-line errors
naming the dotted key, durations use the shared parser (`sessionwarden.durations`) and every
key can be overridden as ``SESSIONWARDEN_<SECTION>__<KEY>``
(``SESSIONWARDEN_DAEMON__SWEEP_INTERVAL=1s``,
``SESSIONWARDEN_ALERTS__EMAIL__SMTP_URL=smtp://mail:587``). `register` does the same at run
time (for a source checkout without installed metadata).

The SMTP password is ``alerts.email.password``, accepted from the environment only
(``SESSIONWARDEN_ALERTS__EMAIL__PASSWORD``): in a file it is an error naming the key. The
daemon takes Redis, the key prefix, ``production`` and the deployment secret from the shared
``[redis]`` / ``[sessions]``; it loads as a process that issues (signed alert links), not as an
operator, so ``production = true`` without a secret refuses to start (`load_config`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sessionwarden import config as swconfig
from sessionwarden.durations import format_duration
from sessionwarden.settings import RULE_SEVERITIES, SEVERITIES

SINKS = ("log", "desktop", "email", "webhook")
EMAIL_TYPES = ("new_device", "new_country", "impossible_travel")
DISTRIBUTION = "sessionwarden-daemon"


def _check_duration(name: str, value: timedelta, low: timedelta,
                    high: timedelta | None = None) -> None:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name}: expected a duration, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        span = f"from {format_duration(low)}" + (
            f" to {format_duration(high)}" if high is not None else " up")
        raise ValueError(f"{name}: expected a duration {span}")


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: expected an integer from {low} to {high}")


def _check_line(name: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str)
                              or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise ValueError(f"{name}: expected one line of text")


def _check_sinks(name: str, value: tuple[str, ...] | None) -> None:
    if value is not None and not all(v in SINKS for v in value):
        raise ValueError(f"{name}: expected a list of {', '.join(SINKS)}")


def parse_listen(value: str | None) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:9464`` for IPv6) as a pair; ``None`` for unset, ``""`` or
    ``off``. `ValueError` otherwise."""
    if value is None or value in ("", "off"):
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("metrics_listen: expected host:port such as 127.0.0.1:9464, or off")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """``[daemon]``: the jobs' intervals, retention, the consumer group and its limits."""

    sweep_interval: timedelta = timedelta(seconds=30)
    heartbeat_interval: timedelta = timedelta(seconds=5)
    event_retention: timedelta = timedelta(days=14)
    audit_retention: timedelta = timedelta(days=400)
    retention_interval: timedelta = timedelta(hours=1)
    metrics_listen: str | None = None
    sweep_batch: int = 500
    read_batch: int = 200
    claim_idle: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    retry_base: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(minutes=5)
    lag_warning: int = 1000
    group: str = "alerts"

    def __post_init__(self) -> None:
        ms, day = timedelta(milliseconds=50), timedelta(days=1)
        _check_duration("sweep_interval", self.sweep_interval, ms, day)
        _check_duration("heartbeat_interval", self.heartbeat_interval, ms, timedelta(hours=1))
        _check_duration("event_retention", self.event_retention, timedelta(minutes=1))
        _check_duration("audit_retention", self.audit_retention, day)
        _check_duration("retention_interval", self.retention_interval, ms, day)
        _check_duration("claim_idle", self.claim_idle, ms, day)
        _check_duration("retry_base", self.retry_base, timedelta(milliseconds=10),
                        timedelta(hours=1))
        _check_duration("retry_max", self.retry_max, timedelta(milliseconds=10), day)
        self.listen  # noqa: B018 - validates metrics_listen
        _check_int("sweep_batch", self.sweep_batch, 1, 10_000)
        _check_int("read_batch", self.read_batch, 1, 10_000)
        _check_int("max_attempts", self.max_attempts, 1, 100)
        _check_int("lag_warning", self.lag_warning, 1, 10**9)
        if not isinstance(self.group, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}",
                                                               self.group):
            raise ValueError("group: expected 1-64 characters A-Z a-z 0-9 _ . : -")

    @property
    def listen(self) -> tuple[str, int] | None:
        """``metrics_listen`` as ``(host, port)``, or ``None`` when off."""
        return parse_listen(self.metrics_listen)


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """``[alerts.routes]``: the sinks of a severity or of an alert type (unset: ``[alerts]
    sinks``). A type's route wins over its severity's."""

    info: tuple[str, ...] | None = None
    low: tuple[str, ...] | None = None
    medium: tuple[str, ...] | None = None
    high: tuple[str, ...] | None = None
    critical: tuple[str, ...] | None = None
    new_device: tuple[str, ...] | None = None
    new_country: tuple[str, ...] | None = None
    impossible_travel: tuple[str, ...] | None = None
    shared_account: tuple[str, ...] | None = None
    revoked_token_used: tuple[str, ...] | None = None
    device_mismatch: tuple[str, ...] | None = None
    login_burst: tuple[str, ...] | None = None
    session_probe: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_sinks(f.name, getattr(self, f.name))

    def get(self, name: str) -> tuple[str, ...] | None:
        """The route of a type or severity, ``None`` when unset (or not a known name)."""
        return getattr(self, name, None) if name in ROUTE_NAMES else None


ROUTE_NAMES = frozenset((*SEVERITIES, *RULE_SEVERITIES))


@dataclass(frozen=True, slots=True)
class DesktopSettings:
    """``[alerts.desktop]``: notifications through plyer, bursts coalesced."""

    enabled: bool = False
    coalesce_window: timedelta = timedelta(seconds=10)
    app_name: str = "SessionWarden"

    def __post_init__(self) -> None:
        _check_duration("coalesce_window", self.coalesce_window, timedelta(0),
                        timedelta(hours=1))
        _check_line("app_name", self.app_name)


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """``[alerts.email]``: to the account owner, for ``types``. ``smtp_url``:
    ``smtp://host:port`` (plain, or STARTTLS with ``starttls = true``) or
    ``smtps://host:port``. TLS always verifies the server's certificate and host name, against
    ``ca_file`` (a PEM bundle) when set, else the system's trust store. ``user`` logs in, with
    ``password`` only from ``SESSIONWARDEN_ALERTS__EMAIL__PASSWORD``, and only over TLS
    (``smtps://`` or ``starttls = true``): a password is never sent in clear."""

    enabled: bool = False
    smtp_url: str = "smtp://localhost:25"
    starttls: bool = False
    ca_file: str | None = None
    from_: str = field(default="SessionWarden <security@localhost>",
                       metadata={"config_key": "from"})
    user: str | None = None
    password: str | None = field(default=None, repr=False, metadata={"env_only": True})
    action_url: str | None = None
    timeout: timedelta = timedelta(seconds=10)
    types: tuple[str, ...] = EMAIL_TYPES

    def __post_init__(self) -> None:
        _check_line("smtp_url", self.smtp_url)
        parts = urlsplit(self.smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("smtp_url: expected smtp://host:port or smtps://host:port")
        try:
            parts.port  # noqa: B018 - validates
        except ValueError:
            raise ValueError("smtp_url: expected a port from 1 to 65535") from None
        if self.starttls and parts.scheme == "smtps":
            raise ValueError("starttls: expected false with smtps:// (already TLS)")
        _check_line("from", self.from_)
        if "@" not in self.from_:
            raise ValueError("from: expected an address such as Security <security@example.com>")
        tls = self.starttls or parts.scheme == "smtps"
        _check_line("ca_file", self.ca_file)
        if self.ca_file is not None and not tls:
            raise ValueError("ca_file: expected smtps:// or starttls = true (no TLS to verify)")
        _check_line("user", self.user)
        if self.user is not None and not tls:
            raise ValueError("user: expected smtps:// or starttls = true (the password is "
                             "never sent in clear)")
        _check_line("action_url", self.action_url)
        if self.action_url is not None and (
                "{token}" not in self.action_url
                or urlsplit(self.action_url).scheme not in ("http", "https")):
            raise ValueError("action_url: expected an http(s) URL holding {token}")
        _check_duration("timeout", self.timeout, timedelta(milliseconds=100),
                        timedelta(minutes=5))
        if not all(t in EMAIL_TYPES for t in self.types):
            raise ValueError(f"types: expected a list of {', '.join(EMAIL_TYPES)}")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """``[alerts.webhook]``: a signed JSON POST; ``secret`` keys the HMAC-SHA256 signature
    (in the file, or ``SESSIONWARDEN_ALERTS__WEBHOOK__SECRET``)."""

    enabled: bool = False
    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    timeout: timedelta = timedelta(seconds=5)

    def __post_init__(self) -> None:
        _check_line("url", self.url)
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("url: expected an http(s) URL")
        if self.enabled and self.url is None:
            raise ValueError("url: expected an http(s) URL when enabled")
        if self.enabled and (self.secret is None or len(self.secret) < 16):
            raise ValueError("secret: expected at least 16 characters when enabled")
        _check_duration("timeout", self.timeout, timedelta(milliseconds=100),
                        timedelta(minutes=2))


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """``[alerts]``: ``min_severity`` (alerts below it go nowhere), ``sinks`` (where alerts
    go unless ``[alerts.routes]`` says otherwise), ``log`` (the JSON line on stdout, on by
    default); the other sinks are switched on in their own tables."""

    min_severity: str = "low"
    sinks: tuple[str, ...] = SINKS
    log: bool = True
    routes: RouteSettings = field(default_factory=RouteSettings)
    desktop: DesktopSettings = field(default_factory=DesktopSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ValueError(f"min_severity: expected one of {', '.join(SEVERITIES)}")
        _check_sinks("sinks", self.sinks)

    def enabled(self, sink: str) -> bool:
        return {"log": self.log, "desktop": self.desktop.enabled,
                "email": self.email.enabled, "webhook": self.webhook.enabled}[sink]


def register() -> None:
    """Register ``[daemon]`` and ``[alerts]`` (what the entry points do; idempotent)."""
    swconfig.register_section("daemon", DaemonSettings, distribution=DISTRIBUTION)
    swconfig.register_section("alerts", AlertSettings, distribution=DISTRIBUTION)


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """What the daemon runs with: the shared `Config` and its two sections."""

    shared: swconfig.Config
    daemon: DaemonSettings
    alerts: AlertSettings

    @property
    def key_prefix(self) -> str:
        return self.shared.sessions.key_prefix


def load_config(path: str | os.PathLike[str] | None = None, *,
                env: Mapping[str, str] = os.environ,
                overrides: Mapping[str, Any] | None = None,
                operator: bool = False) -> DaemonConfig:
    """The shared configuration (`sessionwarden.config.load`: file, environment, defaults)
    with the daemon's sections. ``operator=False`` (the daemon): ``production`` without a
    secret is an error. Raises `sessionwarden.config.ConfigError`."""
    register()
    cfg = swconfig.load(path, env=env, overrides=overrides, operator=operator)
    return DaemonConfig(cfg, cfg.extra["daemon"], cfg.extra["alerts"])
