"""One configuration for applications, the CLI, the daemon and the console.

    from sessionwarden import config
    cfg = config.load()                  # or load("/etc/sessionwarden/config.toml")
    mgr = cfg.manager()                  # cfg.redis: RedisSettings, cfg.sessions: Settings

Where the file is: ``path`` (the CLI's ``--config``), else ``$SESSIONWARDEN_CONFIG``, else
``/etc/sessionwarden/config.toml`` when it exists, else no file (defaults and environment
only). A file named explicitly (argument or ``$SESSIONWARDEN_CONFIG``) that does not exist is
an error.

Sections: ``[redis]`` (`RedisSettings`), ``[sessions]`` (`Settings`), ``[detection]``
(`DetectionSettings`, with the table ``[detection.severities]``), and sections registered by
other distributions (`register_section`, or the entry-point group
``sessionwarden.config_sections``). Keys are the dataclasses' init fields, found by
introspection, so a field added to a settings class is configurable (and must be documented in
``systemd/config.example.toml``; a test checks).

Precedence, highest first, for every key:

1. ``overrides`` (the CLI's ``--redis-url`` and ``--key-prefix``);
2. ``SESSIONWARDEN_<SECTION>__<KEY>`` environment variables (nested tables continue with
   ``__``: ``SESSIONWARDEN_DETECTION__SEVERITIES__NEW_DEVICE=high``,
   ``SESSIONWARDEN_ALERTS__EMAIL__SMTP_URL=...``). Only names containing ``__`` are
   overrides: ``SESSIONWARDEN_SECRET``, ``SESSIONWARDEN_CONFIG``, ``SESSIONWARDEN_PREFIX`` and
   ``SESSIONWARDEN_REQUIRE_REDIS`` are not;
3. the aliases ``REDIS_URL`` (``redis.url``) and ``SESSIONWARDEN_SECRET`` (``sessions.secret``)
   — and, for the CLI only, ``SESSIONWARDEN_PREFIX`` (``sessions.key_prefix``); an empty alias
   is ignored;
4. the file;
5. ``defaults`` given by the caller, then the dataclasses' own defaults.

Values: TOML values must have the key's type (an integer for an int, a string for text); an
environment value is text, parsed per the key's type: integers, decimal numbers, booleans
``true/false/1/0/yes/no`` (any case), durations (see `sessionwarden.durations`: ``30s``, ``5m``,
``2h``, ``7d``, ``500ms`` or a number of seconds; float keys named ``*_timeout`` or
``*_interval`` are seconds and take durations too), lists comma-separated. For an optional
key (default unset) the empty string means unset. Tables (``detection.severities``) merge
with their default entries.

Errors: every problem is a `ConfigError` (a `ValueError`) whose message is one line naming the
dotted key, the value (masked when secret, cut at 60 characters), where it came from (the file,
or the environment variable's name) and what was expected, e.g.
``sessions.idle_timeout = '7x' (env SESSIONWARDEN_SESSIONS__IDLE_TIMEOUT): expected a duration
such as ...``. The settings classes' own validation errors are reported the same way. Unknown
keys and unknown sections are errors; a reserved section (``[daemon]``, ``[alerts]``,
``[console]``) whose distribution is not installed is kept unvalidated in `Config.unvalidated`.

Hostile or broken input: a file over 1 MiB is refused before parsing; a file that is not
UTF-8, not TOML (the message names the file, line and column), a directory, unreadable, or
nested too deeply is a `ConfigError`; environment values over 4096 characters are refused.
Nothing from the file or the environment is ever evaluated.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import math
import os
import re
import threading
import tomllib
import types
import typing
from collections.abc import Mapping
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from .connection import RedisSettings
from .durations import EXPECTED as DURATION_EXPECTED
from .durations import format_duration, parse_duration
from .errors import SessionWardenError
from .manager import AsyncSessionManager, SessionManager
from .settings import SECRET_ENV, DetectionSettings, Settings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PATH",
    "ENV_ALIASES",
    "RESERVED_SECTIONS",
    "Config",
    "ConfigError",
    "Override",
    "Source",
    "load",
    "mask",
    "register_section",
    "registered_sections",
    "resolve_path",
]

CONFIG_ENV = "SESSIONWARDEN_CONFIG"
DEFAULT_PATH = Path("/etc/sessionwarden/config.toml")
ENV_PREFIX = "SESSIONWARDEN_"
ENV_DELIMITER = "__"
MAX_FILE_BYTES = 1 << 20
MAX_ENV_VALUE = 4096
MAX_SHOWN = 60
ENTRY_POINT_GROUP = "sessionwarden.config_sections"

#: Environment variables that set one key, below the ``SESSIONWARDEN_<SECTION>__<KEY>`` ones.
ENV_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {"REDIS_URL": "redis.url", SECRET_ENV: "sessions.secret"})

#: Sections other distributions will declare; present but not installed is not an error.
RESERVED_SECTIONS: Mapping[str, str] = types.MappingProxyType({
    "daemon": "sessionwarden-daemon",
    "alerts": "sessionwarden-daemon",
    "console": "sessionwarden-console",
})

CORE_SECTIONS = ("redis", "sessions", "detection")
#: `Settings` fields that are not ``[sessions]`` keys (``detection`` is its own section).
_NOT_SESSIONS_KEYS = frozenset({"detection"})
_SECTION_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_SECRET_KEY = re.compile(r"(secret|password|passwd|token|api_key|apikey|credentials?)$")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|secret|token)=)[^&#\s]*")
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]{1,19}(?:\.[0-9]{0,19})?|\.[0-9]{1,19})"
                         r"(?:[eE][+-]?[0-9]{1,3})?")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


# -- errors and sources ---------------------------------------------------------------------


class ConfigError(SessionWardenError, ValueError):
    """An invalid configuration: ``str()`` is one line naming key, value, origin, expectation.

    ``key`` is the dotted key (``None`` for file-level problems), ``source`` the `Source` of
    the offending value when known."""

    def __init__(self, message: str, *, key: str | None = None,
                 source: Source | None = None) -> None:
        super().__init__(message.replace("\n", " "))
        self.key, self.source = key, source


class Source(NamedTuple):
    """Where a value came from: ``kind`` is ``default``, ``file``, ``env`` or ``argument``;
    ``origin`` the file path, variable name or option (empty for a built-in default)."""

    kind: str
    origin: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.origin}" if self.origin else self.kind


class Override(NamedTuple):
    """A value given to `load` in ``overrides``, labelled (e.g. ``--redis-url``)."""

    value: Any
    origin: str = "argument"


DEFAULT = Source("default")


def mask(key: str, value: Any) -> Any:
    """``value`` as it may be shown: ``***`` for a set secret-like key (``secret``,
    ``password``, ``token``, ...), passwords inside URLs (``redis://:***@host``,
    ``?password=***``) replaced, lists masked element-wise."""
    if _SECRET_KEY.search(key.rsplit(".", 1)[-1]) and value not in (None, "", b""):
        return "***"
    if isinstance(value, str):
        return _QUERY_SECRET.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", value))
    if isinstance(value, list | tuple):
        return [mask(key + "[]", v) for v in value]
    if isinstance(value, bytes):
        return "<bytes>"
    return value


def _display(key: str, value: Any) -> str:
    shown = mask(key, value)
    if isinstance(shown, timedelta):
        shown = format_duration(shown)
    elif isinstance(shown, frozenset | set):
        shown = sorted(shown)
    text = repr(shown)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _error(key: str, value: Any, source: Source, expected: str) -> ConfigError:
    where = f" ({source})" if source.kind != "default" else ""
    return ConfigError(f"{key} = {_display(key, value)}{where}: {expected}", key=key,
                       source=source)


# -- schemas --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # int float seconds bool str duration list table section
    optional: bool
    item: str | None = None  # kind of list items / table values
    container: type | None = None  # list/tuple/frozenset/set for lists
    schema: type | None = None  # nested dataclass for sections
    default: Any = None
    param: str = ""  # the init parameter, when the key differs (metadata "config_key")
    env_only: bool = False  # metadata "env_only": refused in a file (passwords)

    @property
    def expected(self) -> str:
        return _EXPECTED[self.kind] + (" (empty: unset)" if self.optional else "")


_EXPECTED = {
    "int": "an integer", "float": "a number", "seconds": f"a number of seconds or "
    f"{DURATION_EXPECTED.removeprefix('a ')}", "bool": "true or false", "str": "a string",
    "duration": DURATION_EXPECTED, "list": "a list of strings (env: comma-separated)",
    "table": "a table", "section": "a table",
}
_SCALARS = {bool: "bool", int: "int", float: "float", str: "str", timedelta: "duration"}
_LISTS = (list, tuple, set, frozenset, cabc.Sequence, cabc.Set, cabc.MutableSequence)
_TABLES = (dict, cabc.Mapping, cabc.MutableMapping)
_schema_cache: dict[type, dict[str, _Field]] = {}


def _kind(name: str, tp: Any) -> tuple[str, bool, str | None, type | None, type | None]:
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        if str in rest and set(rest) <= {str, bytes}:
            rest = [str]
        if len(rest) != 1:
            raise TypeError(f"{name}: unsupported type {tp!r} for configuration")
        tp, origin = rest[0], typing.get_origin(rest[0])
    if tp in _SCALARS:
        kind = _SCALARS[tp]
        if kind == "float" and name.endswith(("_timeout", "_interval")):
            kind = "seconds"
        return kind, optional, None, None, None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return "section", optional, None, None, tp
    if origin in _LISTS:
        (item,) = typing.get_args(tp)[:1] or (str,)
        if item not in _SCALARS:
            raise TypeError(f"{name}: unsupported list item type {item!r}")
        container = {cabc.Set: frozenset, cabc.Sequence: tuple,
                     cabc.MutableSequence: list}.get(origin, origin)
        return "list", optional, _SCALARS[item], container, None
    if origin in _TABLES:
        key_type, value_type = typing.get_args(tp)
        if key_type is not str or value_type not in _SCALARS:
            raise TypeError(f"{name}: tables must map str to a scalar type, got {tp!r}")
        return "table", optional, _SCALARS[value_type], None, None
    raise TypeError(f"{name}: unsupported type {tp!r} for configuration")


def _schema(cls: type) -> dict[str, _Field]:
    """The configurable fields of a dataclass: its init fields, by introspection."""
    cached = _schema_cache.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    fields: dict[str, _Field] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        if cls is Settings and f.name in _NOT_SESSIONS_KEYS:
            continue
        kind, optional, item, container, schema = _kind(f"{cls.__name__}.{f.name}",
                                                        hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        key = f.metadata.get("config_key", f.name)
        fields[key] = _Field(key, kind, optional, item, container, schema, default,
                             param=f.name, env_only=bool(f.metadata.get("env_only")))
    _schema_cache[cls] = fields
    return fields


# -- registration of other distributions' sections -----------------------------------------

_registry: dict[str, tuple[type, str | None]] = {}
_registry_lock = threading.Lock()
_entry_points_loaded = False


def register_section(name: str, schema: type, *, distribution: str | None = None) -> type:
    """Declare the ``[name]`` section: ``schema`` is a dataclass whose init fields are the
    section's keys (types as for the core sections: int, float, bool, str, timedelta, their
    optional forms, lists of those, ``Mapping[str, scalar]`` tables, nested dataclasses as
    sub-tables ``[name.sub]``); `load` builds an instance into ``Config.extra[name]``, from
    defaults when the file has no such section, and reports its ``ValueError`` / ``TypeError``
    as configuration errors. Field metadata: ``config_key`` names the key when it is not a
    Python identifier (``field(metadata={"config_key": "from"})``); ``env_only`` refuses the
    key in a file (a password: only its ``SESSIONWARDEN_<SECTION>__<KEY>`` variable sets it).
    Registering the same schema again is a no-op; a different one
    under a taken name, or a core section name, is a `ValueError`. Returns ``schema``.

    Another distribution may instead declare an entry point in the group
    ``sessionwarden.config_sections`` (name: the section, value: the dataclass); those are
    registered on the first `load`."""
    if not isinstance(name, str) or not _SECTION_NAME.fullmatch(name) or name in CORE_SECTIONS:
        raise ValueError(f"register_section: {name!r} is not an allowed section name "
                         "(lower-case words joined by single '_', not redis/sessions/detection)")
    if not (dataclasses.is_dataclass(schema) and isinstance(schema, type)):
        raise TypeError(f"register_section: the schema of [{name}] must be a dataclass class")
    _check_schema(schema)
    with _registry_lock:
        known = _registry.get(name)
        if known is not None and known[0] is not schema:
            raise ValueError(f"register_section: [{name}] is already registered "
                             f"by {known[0].__module__}.{known[0].__qualname__}")
        _registry[name] = (schema, distribution)
    return schema


def registered_sections() -> Mapping[str, type]:
    """Registered sections (after entry points are loaded): name → schema dataclass."""
    _load_entry_points()
    return types.MappingProxyType({name: s for name, (s, _) in _registry.items()})


def _check_schema(schema: type) -> None:
    for f in _schema(schema).values():
        if f.kind == "section":
            _check_schema(f.schema)  # type: ignore[arg-type]


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            schema = ep.load()
            register_section(ep.name, schema, distribution=getattr(ep.dist, "name", None))
        except Exception as exc:
            _entry_points_loaded = False
            raise ConfigError(f"[{ep.name}]: cannot load its schema from entry point "
                              f"{ep.value!r}: {exc}", key=ep.name) from exc


def _sections() -> dict[str, dict[str, _Field]]:
    _load_entry_points()
    out = {"redis": _schema(RedisSettings), "sessions": _schema(Settings),
           "detection": _schema(DetectionSettings)}
    out.update({name: _schema(schema) for name, (schema, _) in _registry.items()})
    return out


# -- values ---------------------------------------------------------------------------------


def _convert(f: _Field, key: str, value: Any, source: Source, *, text: bool) -> Any:
    """One value of field ``f`` as the dataclass takes it; ``text``: it came as a string
    from the environment or the command line and is parsed by the key's type."""
    if f.optional and isinstance(value, str) and value == "":
        return None
    try:
        if f.kind == "list":
            if text:
                items: Any = [part.strip() for part in value.split(",") if part.strip()]
            elif isinstance(value, list):
                items = value
            else:
                raise ValueError
            converted = [_scalar(f.item, key, v, source, text=text) for v in items]  # type: ignore[arg-type]
            return f.container(converted) if f.container else converted
        return _scalar(f.kind, key, value, source, text=text)
    except ValueError as exc:
        detail = str(exc)
        raise _error(key, value, source, detail or f"expected {f.expected}") from None


def _scalar(kind: str, key: str, value: Any, source: Source, *, text: bool) -> Any:
    if kind in ("duration", "seconds"):
        if not text and not isinstance(value, int | float | str):
            raise ValueError
        if text and kind == "seconds" and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)
        delta = parse_duration(value)
        return delta if kind == "duration" else delta.total_seconds()
    if kind == "bool":
        if text:
            low = value.strip().lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError("expected true/false, 1/0 or yes/no")
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if kind == "int":
        if text and _INT_TEXT.fullmatch(value.strip()):
            return int(value)
        if not text and isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("expected an integer")
    if kind == "float":
        if (_FLOAT_TEXT.fullmatch(value.strip()) if text
                else isinstance(value, int | float) and not isinstance(value, bool)):
            number = float(value)
        else:
            raise ValueError("expected a number")
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ValueError("expected a string")
    raise ValueError(f"expected {_EXPECTED[kind]}")  # pragma: no cover


class _Resolved:
    """The flattened configuration: dotted key → (value, source), highest layer last."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, Source] = {}

    def put(self, key: str, value: Any, source: Source) -> None:
        self.values[key] = value
        self.sources[key] = source

    def defaults(self, prefix: str, schema: Mapping[str, _Field]) -> None:
        for f in schema.values():
            key = f"{prefix}.{f.name}"
            if f.kind == "section":
                self.defaults(key, _schema(f.schema))  # type: ignore[arg-type]
            elif f.kind == "table":
                entries = dict(f.default) if isinstance(f.default, Mapping) else {}
                if not entries:
                    self.put(key, {}, DEFAULT)
                for k, v in entries.items():
                    self.put(f"{key}.{k}", v, DEFAULT)
            elif f.default is not dataclasses.MISSING:
                self.put(key, f.default, DEFAULT)

    def table(self, key: str) -> dict[str, Any]:
        start = key + "."
        out = {k[len(start):]: v for k, v in self.values.items() if k.startswith(start)}
        return out or dict(self.values.get(key) or {})

    def set_path(self, sections: Mapping[str, Mapping[str, _Field]], path: list[str],
                 value: Any, source: Source, *, text: bool) -> None:
        """Put one value at ``path`` (section, key, ...), checked against the schema."""
        key = ".".join(path)
        schema = sections.get(path[0])
        if schema is None:  # a reserved section kept raw
            self.put(key, value, source)
            return
        for depth, name in enumerate(path[1:], start=1):
            f = schema.get(name)
            here = ".".join(path[: depth + 1])
            if f is None:
                raise _error(here, value, source, "unknown key; expected one of "
                             + ", ".join(sorted(schema)))
            last = depth == len(path) - 1
            if last and f.kind in ("section", "table") and isinstance(value, dict) and not value:
                return  # an empty table: nothing set
            if f.kind == "section":
                if last:
                    raise _error(here, value, source, "expected a table of keys, not a value")
                schema = _schema(f.schema)  # type: ignore[arg-type]
                continue
            if f.kind == "table":
                if last:
                    raise _error(here, value, source, "expected a table (env: one variable "
                                 "per entry, ..." + ENV_DELIMITER + "<ENTRY>)")
                if depth + 2 != len(path):
                    raise _error(key, value, source, f"{here} is a table of values, one level")
                tkey = f"{here}.{path[-1]}"
                self.values.pop(here, None)
                self.sources.pop(here, None)
                self.put(tkey, _convert(_Field(path[-1], f.item, False), tkey,  # type: ignore[arg-type]
                                        value, source, text=text), source)
                return
            if not last:
                raise _error(key, value, source, f"{here} is a value, not a table")
            if f.env_only and source.kind == "file":
                raise _error(key, value, source, "not allowed in a file; set the environment "
                             f"variable {ENV_PREFIX}{ENV_DELIMITER.join(path).upper()}")
            self.put(key, _convert(f, key, value, source, text=text), source)
            return
        raise _error(key, value, source, "expected a key inside the section")


def _flatten(table: Mapping[str, Any], prefix: list[str]) -> list[tuple[list[str], Any]]:
    out: list[tuple[list[str], Any]] = []
    for k, v in table.items():
        if isinstance(v, dict) and v:
            out.extend(_flatten(v, [*prefix, k]))
        else:
            out.append(([*prefix, k], v))
    return out


# -- the file ------------------------------------------------------------------------------


def resolve_path(path: str | os.PathLike[str] | None = None, *,
                 env: Mapping[str, str] = os.environ) -> tuple[Path | None, str]:
    """The configuration file to read and how it was chosen (``argument``, the variable's
    name, ``default``), or ``(None, "none")``. Only the default location may be missing."""
    if path is not None and str(path) != "":
        return Path(path), "argument"
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]), CONFIG_ENV
    if DEFAULT_PATH.is_file():
        return DEFAULT_PATH, "default"
    return None, "none"


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path}: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"config file {path}: larger than {MAX_FILE_BYTES} bytes, refused")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path}: not UTF-8 text (line {line})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path}: nested too deeply") from None


# -- the configuration ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """The effective configuration.

    ``redis`` / ``sessions`` are the validated `RedisSettings` / `Settings` (the latter with
    ``detection`` built from ``[detection]``); ``extra[name]`` the instance of each registered
    section; ``unvalidated[name]`` the raw table of each reserved section whose distribution is not
    installed; ``values`` / ``sources`` every effective dotted key's value and `Source`;
    ``path`` the file read, if any."""

    redis: RedisSettings
    sessions: Settings
    extra: Mapping[str, Any]
    unvalidated: Mapping[str, Mapping[str, Any]]
    values: Mapping[str, Any]
    sources: Mapping[str, Source]
    path: Path | None = None

    @property
    def detection(self) -> DetectionSettings:
        return self.sessions.detection

    def manager(self, *, operator: bool = False) -> SessionManager:
        """A blocking manager on this configuration's Redis and settings (``operator``: see
        `SessionManager`)."""
        return SessionManager.from_settings(self.sessions, self.redis, operator=operator)

    def async_manager(self, *, operator: bool = False) -> AsyncSessionManager:
        """An asyncio manager on this configuration's Redis and settings."""
        return AsyncSessionManager.from_settings(self.sessions, self.redis, operator=operator)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready, masked view: ``{"file", "keys": {key: {"value", "source",
        "origin"}}, "unvalidated": {section: reason}}`` (durations as ``7d`` etc.)."""
        keys = {}
        for key in sorted(self.values, key=_order):
            value = mask(key, self.values[key])
            if isinstance(value, timedelta):
                value = format_duration(value)
            elif isinstance(value, frozenset | set | tuple):
                value = sorted(value) if isinstance(value, frozenset | set) else list(value)
            source = self.sources[key]
            keys[key] = {"value": value, "source": source.kind, "origin": source.origin}
        return {
            "file": str(self.path) if self.path else None,
            "keys": keys,
            "unvalidated": {name: f"not validated: {RESERVED_SECTIONS[name]} not installed"
                            for name in self.unvalidated},
        }


def _order(key: str) -> int:
    """Core sections first, in their order; within a section, declaration order (the sort
    is stable over the insertion order of the resolved values)."""
    section = key.split(".", 1)[0]
    return CORE_SECTIONS.index(section) if section in CORE_SECTIONS else len(CORE_SECTIONS)


def load(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] = os.environ,
         overrides: Mapping[str, Any] | None = None,
         aliases: Mapping[str, str] = ENV_ALIASES,
         defaults: Mapping[str, Any] | None = None, operator: bool = False) -> Config:
    """Read, merge and validate the configuration (see the module docstring for where the
    file is, the precedence of layers, value syntax, and what happens with bad input).

    ``overrides``: dotted key → value (text is parsed as from the environment) or `Override`.
    ``aliases``: environment variable → dotted key (default `ENV_ALIASES`). ``defaults``:
    dotted key → typed value used when no layer sets the key. ``operator``: the process only
    looks and revokes (CLI, console), so ``sessions.production`` without a secret is fine;
    otherwise (an app, the daemon) that is an error here. Raises `ConfigError`."""
    sections = _sections()
    resolved = _Resolved()
    for name in CORE_SECTIONS + tuple(_registry):
        resolved.defaults(name, sections[name])
    for key, given in (defaults or {}).items():
        item = given if isinstance(given, Override) else Override(given, "caller")
        if key not in resolved.values:
            raise ConfigError(f"{key}: not a configuration key with a default", key=key)
        resolved.put(key, item.value, Source("default", item.origin))

    file, _how = resolve_path(path, env=env)
    raw_sections: set[str] = set()
    if file is not None:
        document = _read(file)
        source = Source("file", str(file))
        for section, table in document.items():
            if not isinstance(table, dict):
                raise _error(section, table, source, "expected a [section] table (top-level "
                             "keys are not allowed)")
            if section not in sections and section not in RESERVED_SECTIONS:
                raise ConfigError(
                    f"[{section}] ({source}): unknown section; expected one of "
                    + ", ".join([*sections, *(r for r in RESERVED_SECTIONS if r not in sections)]),
                    key=section, source=source)
            if section not in sections:
                raw_sections.add(section)
            for keypath, value in _flatten(table, [section]):
                if len(keypath) == 1:
                    continue  # an empty section
                resolved.set_path(sections, keypath, value, source, text=False)

    for variable, key in aliases.items():
        value = env.get(variable)
        if value:
            _check_env_size(variable, key, value)
            resolved.set_path(sections, key.split("."), value, Source("env", variable),
                              text=True)

    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX) or ENV_DELIMITER not in variable:
            continue
        parts = variable[len(ENV_PREFIX):].lower().split(ENV_DELIMITER)
        source = Source("env", variable)
        value = env[variable]
        key = ".".join(parts)
        if not all(parts):
            raise _error(key, value, source, "malformed variable name (empty part between "
                         f"'{ENV_DELIMITER}')")
        if parts[0] not in sections and parts[0] not in RESERVED_SECTIONS:
            raise _error(key, value, source, "unknown section " + repr(parts[0]))
        if len(parts) < 2:
            raise _error(key, value, source, "expected SESSIONWARDEN_<SECTION>__<KEY>")
        _check_env_size(variable, key, value)
        if parts[0] not in sections:
            raw_sections.add(parts[0])
        resolved.set_path(sections, parts, value, source, text=True)

    for key, given in (overrides or {}).items():
        item = given if isinstance(given, Override) else Override(given)
        if item.value is None:
            continue
        resolved.set_path(sections, key.split("."), item.value, Source("argument", item.origin),
                          text=isinstance(item.value, str))

    config = _build(resolved, sections, raw_sections, file)
    if not operator:
        try:
            config.sessions.require_secret()
        except ValueError as exc:
            raise _wrap(exc, "sessions", resolved) from None
    return config


def _check_env_size(variable: str, key: str, value: str) -> None:
    if len(value) > MAX_ENV_VALUE:
        raise _error(key, value, Source("env", variable),
                     f"longer than {MAX_ENV_VALUE} characters, refused")


def _kwargs(resolved: _Resolved, prefix: str, schema: Mapping[str, _Field]) -> dict[str, Any]:
    """Keyword arguments for a section's dataclass: only keys some layer set (so the
    dataclass applies its own defaults), tables merged with their defaults."""
    out: dict[str, Any] = {}
    for f in schema.values():
        key = f"{prefix}.{f.name}"
        if f.kind == "section":
            inner = _kwargs(resolved, key, _schema(f.schema))  # type: ignore[arg-type]
            out[f.param or f.name] = _construct(f.schema, inner, key,  # type: ignore[arg-type]
                                                resolved)
        elif f.kind == "table":
            entries = resolved.table(key)
            start = key + "."
            if any(k.startswith(start) and s.kind != "default"
                   for k, s in resolved.sources.items()):
                out[f.param or f.name] = entries
        elif key in resolved.values and resolved.sources[key] != DEFAULT:
            out[f.param or f.name] = resolved.values[key]
    return out


_MESSAGE_KEY = re.compile(r"([a-z_][a-z0-9_.]*)(?:\[['\"]?([^\]'\"]*)['\"]?\])?: (.*)", re.S)


def _construct(cls: type, kwargs: dict[str, Any], section: str, resolved: _Resolved) -> Any:
    """``cls(**kwargs)``, its ValueError/TypeError reported as a one-line `ConfigError`."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise _wrap(exc, section, resolved) from None


def _wrap(exc: Exception, section: str, resolved: _Resolved) -> ConfigError:
    message = str(exc).replace("\n", " ")
    match = _MESSAGE_KEY.fullmatch(message)
    if match is None:
        return ConfigError(f"{section}: {message}", key=section)
    name, entry, rest = match.groups()
    top = name.split(".", 1)[0]
    key = name if top in CORE_SECTIONS or name.startswith(section + ".") else f"{section}.{name}"
    if entry:
        key = f"{key}.{entry}"
    if key in resolved.values:
        return _error(key, resolved.values[key], resolved.sources[key], rest)
    if entry is None and resolved.table(key):
        sources = {s for k, s in resolved.sources.items() if k.startswith(key + ".")
                   and s != DEFAULT}
        where = f" ({', '.join(sorted(map(str, sources)))})" if sources else ""
        return ConfigError(f"{key}{where}: {rest}", key=key)
    return ConfigError(f"{key}: {rest}", key=key)


def _build(resolved: _Resolved, sections: Mapping[str, Mapping[str, _Field]],
           raw_sections: set[str], file: Path | None) -> Config:
    redis_settings = _construct(RedisSettings, _kwargs(resolved, "redis", sections["redis"]),
                                "redis", resolved)
    detection = _construct(DetectionSettings,
                           _kwargs(resolved, "detection", sections["detection"]),
                           "detection", resolved)
    kwargs = _kwargs(resolved, "sessions", sections["sessions"])
    kwargs["detection"] = detection
    sessions = _construct(Settings, kwargs, "sessions", resolved)
    extra = {name: _construct(schema, _kwargs(resolved, name, sections[name]), name, resolved)
             for name, (schema, _) in _registry.items()}
    unvalidated: dict[str, Mapping[str, Any]] = {}
    for name in sorted(raw_sections):
        table: dict[str, Any] = {}
        for key, value in resolved.values.items():
            parts = key.split(".")
            if parts[0] != name:
                continue
            node = table
            for part in parts[1:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise _error(key, value, resolved.sources[key],
                                 f"{part} is both a value and a table")
                node = child
            if isinstance(node.get(parts[-1]), dict):
                raise _error(key, value, resolved.sources[key], "is both a value and a table")
            node[parts[-1]] = value
        unvalidated[name] = types.MappingProxyType(table)
    return Config(redis=redis_settings, sessions=sessions, extra=types.MappingProxyType(extra),
                  unvalidated=types.MappingProxyType(unvalidated),
                  values=types.MappingProxyType(dict(resolved.values)),
                  sources=types.MappingProxyType(dict(resolved.sources)), path=file)
