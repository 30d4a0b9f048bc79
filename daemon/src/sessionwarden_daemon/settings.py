"""The daemon's configuration sections: ``[daemon]``, ``[alerts]``, ``[alerts.desktop]``,
``[alerts.email]`` and ``[alerts.webhook]``, as frozen dataclasses with ``from_mapping``.

Each ``from_mapping`` takes the section's table (as read from TOML) and raises
``ValueError("<section.key>: <value>: expected <...>")`` for anything wrong, unknown keys
included. Durations are ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"14d"`` or a number of
seconds.

Until the shared loader (`sessionwarden.config`) lands, `load_config` reads the TOML itself:
``[redis] url``, ``[sessions] key_prefix`` / ``production`` (the secret only from
``SESSIONWARDEN_SECRET``) and the daemon's sections.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sessionwarden.settings import SEVERITIES

SINKS = ("log", "desktop", "email", "webhook")
EMAIL_TYPES = ("new_device", "new_country", "impossible_travel")
SMTP_PASSWORD_ENV = "SESSIONWARDEN_SMTP_PASSWORD"  # noqa: S105 - a variable name
WEBHOOK_SECRET_ENV = "SESSIONWARDEN_WEBHOOK_SECRET"  # noqa: S105 - a variable name
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(where: str, value: object, *, minimum: float = 0.0,
                   maximum: float = 10 * 366 * 86400) -> float:
    """Seconds from ``"30s"``-style text or a number."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: {value!r}: expected a duration such as 30s, 5m or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{where}: {value!r}: expected a duration such as 30s, 5m or 7d")
    if not minimum <= seconds <= maximum:
        raise ValueError(f"{where}: {value!r}: expected a duration from {minimum:g}s to "
                         f"{maximum:g}s")
    return seconds


class _Reader:
    """Typed access to one section's table, refusing unknown keys."""

    def __init__(self, section: str, mapping: Mapping[str, Any] | None,
                 nested: tuple[str, ...] = ()) -> None:
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{section}: {mapping!r}: expected a table")
        self.section, self.data, self.used = section, dict(mapping), set(nested)

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def where(self, key: str) -> str:
        return f"{self.section}.{key}"

    def duration(self, key: str, default: float, **kw: float) -> float:
        value = self._get(key, None)
        return default if value is None else parse_duration(self.where(key), value, **kw)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{self.where(key)}: {value!r}: expected true or false")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{self.where(key)}: {value!r}: expected an integer from {low} "
                             f"to {high}")
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self._get(key, default)
        if value is not None and (not isinstance(value, str)
                                  or any(ord(c) < 32 or ord(c) == 127 for c in value)):
            raise ValueError(f"{self.where(key)}: {value!r}: expected a line of text")
        return value

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self._get(key, default)
        if value not in options:
            raise ValueError(f"{self.where(key)}: {value!r}: expected one of "
                             f"{', '.join(options)}")
        return value

    def names(self, key: str, default: tuple[str, ...], options: tuple[str, ...],
              value: Any = None, where: str | None = None) -> tuple[str, ...]:
        if value is None:
            value = self._get(key, default)
        where = where or self.where(key)
        if (not isinstance(value, list | tuple)
                or not all(isinstance(v, str) and v in options for v in value)):
            raise ValueError(f"{where}: {value!r}: expected a list of {', '.join(options)}")
        return tuple(dict.fromkeys(value))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ValueError(f"{self.where(unknown[0])}: {self.data[unknown[0]]!r}: expected "
                             f"no such key (known: {', '.join(sorted(self.used))})")


def _listen(where: str, value: str | None) -> tuple[str, int] | None:
    if value is None or value in ("", "off"):
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{where}: {value!r}: expected host:port such as 127.0.0.1:9464, "
                         "or off")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """``[daemon]``. Intervals and ages in seconds."""

    sweep_interval: float = 30.0
    heartbeat_interval: float = 5.0
    event_retention: float = 14 * 86400.0
    audit_retention: float = 400 * 86400.0
    retention_interval: float = 3600.0
    metrics_listen: tuple[str, int] | None = None
    sweep_batch: int = 500
    read_batch: int = 200
    claim_idle: float = 60.0
    max_attempts: int = 5
    retry_base: float = 2.0
    retry_max: float = 300.0
    lag_warning: int = 1000
    group: str = "alerts"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DaemonSettings:
        r = _Reader("daemon", mapping)
        made = cls(
            sweep_interval=r.duration("sweep_interval", 30.0, minimum=0.05, maximum=86400),
            heartbeat_interval=r.duration("heartbeat_interval", 5.0, minimum=0.05,
                                          maximum=3600),
            event_retention=r.duration("event_retention", 14 * 86400.0, minimum=60),
            audit_retention=r.duration("audit_retention", 400 * 86400.0, minimum=86400),
            retention_interval=r.duration("retention_interval", 3600.0, minimum=0.05,
                                          maximum=86400),
            metrics_listen=_listen(r.where("metrics_listen"), r.text("metrics_listen", None)),
            sweep_batch=r.integer("sweep_batch", 500, 1, 10_000),
            read_batch=r.integer("read_batch", 200, 1, 10_000),
            claim_idle=r.duration("claim_idle", 60.0, minimum=0.05, maximum=86400),
            max_attempts=r.integer("max_attempts", 5, 1, 100),
            retry_base=r.duration("retry_base", 2.0, minimum=0.01, maximum=3600),
            retry_max=r.duration("retry_max", 300.0, minimum=0.01, maximum=86400),
            lag_warning=r.integer("lag_warning", 1000, 1, 10**9),
            group=r.text("group", "alerts") or "alerts",
        )
        r.done()
        return made


@dataclass(frozen=True, slots=True)
class DesktopSettings:
    """``[alerts.desktop]``: notifications through plyer, bursts coalesced."""

    enabled: bool = False
    coalesce_window: float = 10.0
    app_name: str = "SessionWarden"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DesktopSettings:
        r = _Reader("alerts.desktop", mapping)
        made = cls(enabled=r.boolean("enabled", False),
                   coalesce_window=r.duration("coalesce_window", 10.0, minimum=0, maximum=3600),
                   app_name=r.text("app_name", "SessionWarden") or "SessionWarden")
        r.done()
        return made


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """``[alerts.email]``: to the account owner, for `EMAIL_TYPES`. ``smtp_url``:
    ``smtp://host:port`` (plain, or STARTTLS with ``starttls = true``) or ``smtps://host:port``.
    The password is read from the environment variable ``password_env`` only."""

    enabled: bool = False
    smtp_url: str = "smtp://localhost:25"
    starttls: bool = False
    from_: str = "SessionWarden <security@localhost>"
    user: str | None = None
    password_env: str = SMTP_PASSWORD_ENV
    action_url: str | None = None
    timeout: float = 10.0
    types: tuple[str, ...] = EMAIL_TYPES

    @property
    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> EmailSettings:
        r = _Reader("alerts.email", mapping)
        if mapping and "password" in mapping:
            raise ValueError(f"alerts.email.password: (hidden): expected no password in the "
                             f"file; set the environment variable "
                             f"{mapping.get('password_env', SMTP_PASSWORD_ENV)}")
        url = r.text("smtp_url", "smtp://localhost:25") or ""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"alerts.email.smtp_url: {url!r}: expected smtp://host:port or "
                             "smtps://host:port")
        try:
            parts.port  # noqa: B018 - validates
        except ValueError:
            raise ValueError(f"alerts.email.smtp_url: {url!r}: expected a port from 1 to "
                             "65535") from None
        action = r.text("action_url", None)
        if action is not None and ("{token}" not in action
                                   or urlsplit(action).scheme not in ("http", "https")):
            raise ValueError(f"alerts.email.action_url: {action!r}: expected an http(s) URL "
                             "holding {token}")
        sender = r.text("from", "SessionWarden <security@localhost>") or ""
        if "@" not in sender:
            raise ValueError(f"alerts.email.from: {sender!r}: expected an address")
        made = cls(
            enabled=r.boolean("enabled", False), smtp_url=url,
            starttls=r.boolean("starttls", False), from_=sender, user=r.text("user", None),
            password_env=r.text("password_env", SMTP_PASSWORD_ENV) or SMTP_PASSWORD_ENV,
            action_url=action, timeout=r.duration("timeout", 10.0, minimum=0.1, maximum=300),
            types=r.names("types", EMAIL_TYPES, EMAIL_TYPES))
        if made.starttls and parts.scheme == "smtps":
            raise ValueError("alerts.email.starttls: true: expected false with smtps:// "
                             "(already TLS)")
        r.done()
        return made


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """``[alerts.webhook]``: a signed JSON POST. ``secret`` (or the environment variable
    ``SESSIONWARDEN_WEBHOOK_SECRET``) keys the HMAC-SHA256 signature."""

    enabled: bool = False
    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    timeout: float = 5.0

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> WebhookSettings:
        r = _Reader("alerts.webhook", mapping)
        enabled = r.boolean("enabled", False)
        url = r.text("url", None)
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"alerts.webhook.url: {url!r}: expected an http(s) URL")
        secret = r.text("secret", None) or os.environ.get(WEBHOOK_SECRET_ENV) or None
        if enabled and url is None:
            raise ValueError("alerts.webhook.url: None: expected an http(s) URL when enabled")
        if enabled and (secret is None or len(secret) < 16):
            raise ValueError(f"alerts.webhook.secret: (hidden): expected at least 16 "
                             f"characters (or ${WEBHOOK_SECRET_ENV}) when enabled")
        made = cls(enabled=enabled, url=url, secret=secret,
                   timeout=r.duration("timeout", 5.0, minimum=0.1, maximum=120))
        r.done()
        return made


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """``[alerts]``: ``min_severity`` (alerts below it go nowhere), ``sinks`` (where alerts go
    by default) and ``routes`` (a table: a type or a severity → its list of sinks; a type's
    route wins over its severity's). ``log`` (default on) is the JSON line on stdout."""

    min_severity: str = "low"
    sinks: tuple[str, ...] = SINKS
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    log: bool = True
    desktop: DesktopSettings = field(default_factory=DesktopSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> AlertSettings:
        r = _Reader("alerts", mapping, nested=("desktop", "email", "webhook"))
        routes_raw = r._get("routes", {})
        if not isinstance(routes_raw, Mapping):
            raise ValueError(f"alerts.routes: {routes_raw!r}: expected a table")
        routes = {}
        for key, value in routes_raw.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", str(key)):
                raise ValueError(f"alerts.routes.{key}: {value!r}: expected a severity or an "
                                 "event type as the key")
            routes[key] = r.names(key, (), SINKS, value=value, where=f"alerts.routes.{key}")
        data = mapping or {}
        made = cls(
            min_severity=r.choice("min_severity", "low", SEVERITIES),
            sinks=r.names("sinks", SINKS, SINKS), routes=routes, log=r.boolean("log", True),
            desktop=DesktopSettings.from_mapping(data.get("desktop")),
            email=EmailSettings.from_mapping(data.get("email")),
            webhook=WebhookSettings.from_mapping(data.get("webhook")),
        )
        r.done()
        return made

    def enabled(self, sink: str) -> bool:
        return {"log": self.log, "desktop": self.desktop.enabled,
                "email": self.email.enabled, "webhook": self.webhook.enabled}[sink]


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """Everything the daemon runs with (until the shared loader provides the first three)."""

    redis_url: str = "redis://localhost:6379/0"
    key_prefix: str = "sw"
    production: bool = False
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> DaemonConfig:
        redis_ = _Reader("redis", mapping.get("redis"))
        url = redis_.text("url", os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
        redis_.used |= set(redis_.data)  # the shared loader owns the rest of [redis]
        sessions = _Reader("sessions", mapping.get("sessions"))
        prefix = sessions.text("key_prefix", "sw") or "sw"
        production = sessions.boolean("production", False)
        return cls(redis_url=url or "", key_prefix=prefix, production=production,
                   daemon=DaemonSettings.from_mapping(mapping.get("daemon")),
                   alerts=AlertSettings.from_mapping(mapping.get("alerts")))


def load_config(path: str | os.PathLike[str] | None) -> DaemonConfig:
    """Read the TOML file (``None``: defaults only). ``ValueError`` naming the key."""
    if path is None:
        return DaemonConfig.from_mapping({})
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror}") from None
    return DaemonConfig.from_mapping(data)
