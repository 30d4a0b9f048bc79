"""The shared configuration: file + environment + options, one-line errors, masking."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_SECRET, settings
from hypothesis import given
from hypothesis import strategies as st

from sessionwarden import cli, config
from sessionwarden.connection import RedisSettings
from sessionwarden.durations import format_duration, parse_duration
from sessionwarden.settings import DetectionSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "systemd" / "config.example.toml"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from this machine: no default file, no SESSIONWARDEN_*/REDIS_URL variables, and
    the section registry restored after each test."""
    monkeypatch.setattr(config, "DEFAULT_PATH", tmp_path / "no-default.toml")
    for name in list(os.environ):
        if name == "REDIS_URL" or (name.startswith("SESSIONWARDEN_")
                                   and name != "SESSIONWARDEN_REQUIRE_REDIS"):
            monkeypatch.delenv(name)
    # sections of installed distributions (the daemon's entry points) are not this file's
    # subject: each test starts with none registered (tests/test_daemon_settings.py has them)
    monkeypatch.setattr(config, "_registry", {})
    monkeypatch.setattr(config, "_entry_points_loaded", True)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path | None = None, text: str | None = None, **kw: Any) -> config.Config:
    kw.setdefault("env", {})
    path = write(tmp_path, text) if text is not None else None
    return config.load(path, **kw)


def error_of(**kw: Any) -> str:
    with pytest.raises(config.ConfigError) as caught:
        load(**kw)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("500ms", timedelta(milliseconds=500)), ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)), ("2h", timedelta(hours=2)), ("7d", timedelta(days=7)),
    ("1.5h", timedelta(minutes=90)), ("30", timedelta(seconds=30)),
    ("0.25", timedelta(milliseconds=250)), (" 2h ", timedelta(hours=2)),
    (45, timedelta(seconds=45)), (1.5, timedelta(seconds=1.5)),
    ("-5s", timedelta(seconds=-5)),
])
def test_duration_forms(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", [
    "", "s", "5 m", "5min", "1h30m", "5w", "1e3s", "ten", "5ms5", True, None, [5],
    float("nan"), float("inf"), "9" * 65, "99999999999d",
])
def test_duration_rejects(bad):
    with pytest.raises(ValueError, match=r"expected a duration|out of range|got"):
        parse_duration(bad)


@given(st.timedeltas(min_value=timedelta.min, max_value=timedelta.max))
def test_formatted_durations_round_trip(value):
    text = format_duration(value)
    assert parse_duration(text) == value
    assert re.fullmatch(r"-?[0-9.]+(ms|s|m|h|d)", text)


@pytest.mark.parametrize("value", [timedelta.max, timedelta.min,
                                   timedelta(days=115740741, microseconds=1000)])
def test_extreme_durations_round_trip(value):
    # found by the property test: ms spellings of the largest durations have 17 digits
    assert parse_duration(format_duration(value)) == value


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_every_unit_parses_whole_numbers(n, unit):
    size = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1),
            "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}[unit]
    assert parse_duration(f"{n}{unit}") == n * size


# -- defaults, file, sources -----------------------------------------------------------------


def test_no_file_gives_the_dataclass_defaults():
    cfg = load()
    assert cfg.path is None
    assert cfg.redis == RedisSettings()
    defaults = Settings(secret=TEST_SECRET)
    for f in dataclasses.fields(Settings):
        if f.init and f.name != "secret":
            assert getattr(cfg.sessions, f.name) == getattr(defaults, f.name), f.name
    assert cfg.detection == DetectionSettings()
    assert set(cfg.sources.values()) == {config.Source("default")}


def test_file_values_reach_the_settings_with_their_source(tmp_path):
    cfg = load(tmp_path, """
[redis]
url = "redis://cache:6380/2"
connect_timeout = "500ms"
pool_timeout = 3
[sessions]
max_sessions = 3
idle_timeout = "12h"
touch_interval = 30
event_retention = "90d"
scripts_write_events = false
key_prefix = "app1"
production = true
secret = "{TEST_SECRET}"
[detection]
disabled = ["login_burst"]
shared_window = "1h"
impossible_travel_kmh = 1000
[detection.severities]
new_device = "info"
""".replace("{TEST_SECRET}", TEST_SECRET))
    assert cfg.redis.url == "redis://cache:6380/2"
    assert cfg.redis.connect_timeout == 0.5 and cfg.redis.pool_timeout == 3.0
    s = cfg.sessions
    assert (s.max_sessions, s.idle_timeout, s.touch_interval) == (
        3, timedelta(hours=12), timedelta(seconds=30))
    assert s.event_retention == timedelta(days=90) and s.scripts_write_events is False
    assert s.key_prefix == "app1" and s.production and s.secret == TEST_SECRET.encode()
    assert cfg.detection.disabled == frozenset({"login_burst"})
    assert cfg.detection.shared_window == timedelta(hours=1)
    assert cfg.detection.impossible_travel_kmh == 1000.0
    assert cfg.detection.severities["new_device"] == "info"
    assert cfg.detection.severities["impossible_travel"] == "high"  # merged with defaults
    file = config.Source("file", str(tmp_path / "config.toml"))
    assert cfg.sources["sessions.idle_timeout"] == file
    assert cfg.sources["detection.severities.new_device"] == file
    assert cfg.sources["detection.severities.login_burst"] == config.Source("default")
    assert cfg.sources["sessions.absolute_lifetime"] == config.Source("default")


def test_socket_timeout_is_a_redis_key_only(tmp_path):
    cfg = load(tmp_path, '[redis]\nsocket_timeout = "750ms"\n')
    assert cfg.redis.socket_timeout == 0.75 and cfg.manager().redis_settings is cfg.redis
    assert "sessions.socket_timeout" not in cfg.values
    message = error_of(tmp_path=tmp_path, text="[sessions]\nsocket_timeout = 1\n")
    assert message.startswith("sessions.socket_timeout = 1 (file ")
    assert "unknown key" in message


# -- precedence ------------------------------------------------------------------------------


def test_redis_url_precedence(tmp_path):
    path = write(tmp_path, '[redis]\nurl = "redis://file:1/0"\n')
    env = {"REDIS_URL": "redis://alias:2/0", "SESSIONWARDEN_REDIS__URL": "redis://override:3/0"}
    argument = {"redis.url": config.Override("redis://flag:4/0", "--redis-url")}

    def url(**kw: Any) -> tuple[str, str]:
        cfg = config.load(path, **kw)
        return cfg.redis.url, str(cfg.sources["redis.url"])

    assert url(env=env, overrides=argument) == ("redis://flag:4/0", "argument --redis-url")
    assert url(env=env) == ("redis://override:3/0", "env SESSIONWARDEN_REDIS__URL")
    assert url(env={"REDIS_URL": "redis://alias:2/0"}) == ("redis://alias:2/0", "env REDIS_URL")
    assert url(env={"REDIS_URL": ""}) == ("redis://file:1/0", f"file {path}")  # empty: unset
    assert config.load(env={}).redis.url == "redis://localhost:6379/0"


def test_secret_precedence_and_its_alias(tmp_path):
    other = "o" * 40
    path = write(tmp_path, f'[sessions]\nsecret = "{other}"\n')
    assert config.load(path, env={"SESSIONWARDEN_SECRET": TEST_SECRET}).sessions.secret == \
        TEST_SECRET.encode()
    assert config.load(path, env={}).sessions.secret == other.encode()
    cfg = config.load(path, env={"SESSIONWARDEN_SECRET": TEST_SECRET,
                                 "SESSIONWARDEN_SESSIONS__SECRET": "x" * 32})
    assert cfg.sessions.secret == b"x" * 32
    assert str(cfg.sources["sessions.secret"]) == "env SESSIONWARDEN_SESSIONS__SECRET"


def test_caller_defaults_sit_below_the_file(tmp_path):
    path = write(tmp_path, "[sessions]\nmax_sessions = 7\n")
    cfg = config.load(path, env={}, defaults={"sessions.max_sessions": 2,
                                              "sessions.on_limit": "deny"})
    assert cfg.sessions.max_sessions == 7 and cfg.sessions.on_limit == "deny"


# -- environment overrides -------------------------------------------------------------------


def test_env_values_are_parsed_by_the_keys_type():
    cfg = load(env={
        "SESSIONWARDEN_SESSIONS__MAX_SESSIONS": "9",
        "SESSIONWARDEN_SESSIONS__IDLE_TIMEOUT": "2h",
        "SESSIONWARDEN_SESSIONS__TOUCH_INTERVAL": "90",
        "SESSIONWARDEN_SESSIONS__PRODUCTION": "yes",
        "SESSIONWARDEN_SESSIONS__SECRET": TEST_SECRET,
        "SESSIONWARDEN_SESSIONS__SCRIPTS_WRITE_EVENTS": "0",
        "SESSIONWARDEN_SESSIONS__EVENT_RETENTION": "",  # optional: unset
        "SESSIONWARDEN_REDIS__SOCKET_TIMEOUT": "1.5",
        "SESSIONWARDEN_REDIS__CONNECT_TIMEOUT": "250ms",
        "SESSIONWARDEN_DETECTION__DISABLED": "login_burst, new_device",
        "SESSIONWARDEN_DETECTION__IMPOSSIBLE_TRAVEL_KMH": "1200.5",
        "SESSIONWARDEN_DETECTION__SEVERITIES__NEW_COUNTRY": "critical",
    })
    s = cfg.sessions
    assert s.max_sessions == 9 and s.idle_timeout == timedelta(hours=2)
    assert s.touch_interval == timedelta(seconds=90)
    assert s.production is True and s.scripts_write_events is False
    assert s.event_retention is None
    assert cfg.redis.socket_timeout == 1.5 and cfg.redis.connect_timeout == 0.25
    assert cfg.detection.disabled == {"login_burst", "new_device"}
    assert cfg.detection.impossible_travel_kmh == 1200.5
    assert cfg.detection.severities["new_country"] == "critical"
    assert str(cfg.sources["detection.severities.new_country"]) == \
        "env SESSIONWARDEN_DETECTION__SEVERITIES__NEW_COUNTRY"


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True),
    ("false", False), ("0", False), ("no", False), ("NO", False),
])
def test_env_bool_spellings(text, value):
    assert load(env={"SESSIONWARDEN_DETECTION__BIND_TO_DEVICE": text}).detection \
        .bind_to_device is value


def test_variables_without_double_underscore_are_not_overrides():
    cfg = load(env={"SESSIONWARDEN_REQUIRE_REDIS": "1", "SESSIONWARDEN_PREFIX": "other",
                    "SESSIONWARDEN_CONFIG": "", "SESSIONWARDEN_WHATEVER": "x"})
    assert cfg.sessions.key_prefix == "sw"  # $SESSIONWARDEN_PREFIX is the CLI's alias only


@pytest.mark.parametrize(("variable", "value", "fragments"), [
    ("SESSIONWARDEN_SESSIONS__IDLE_TIMEOUT", "7x",
     ["sessions.idle_timeout = '7x' (env SESSIONWARDEN_SESSIONS__IDLE_TIMEOUT)",
      "expected a duration"]),
    ("SESSIONWARDEN_SESSIONS__MAX_SESSIONS", "five",
     ["sessions.max_sessions = 'five' (env SESSIONWARDEN_SESSIONS__MAX_SESSIONS)",
      "expected an integer"]),
    ("SESSIONWARDEN_SESSIONS__PRODUCTION", "maybe",
     ["sessions.production = 'maybe'", "expected true/false, 1/0 or yes/no"]),
    ("SESSIONWARDEN_REDIS__SOCKET_TIMEOUT", "nan", ["redis.socket_timeout = 'nan'"]),
    ("SESSIONWARDEN_SESSIONS__IDLE_TIMOUT", "1h",
     ["sessions.idle_timout = '1h' (env SESSIONWARDEN_SESSIONS__IDLE_TIMOUT)",
      "unknown key; expected one of", "idle_timeout"]),
    ("SESSIONWARDEN_SESION__MAX_SESSIONS", "1", ["sesion.max_sessions", "unknown section"]),
    ("SESSIONWARDEN_SESSIONS__", "1", ["malformed variable name"]),
    ("SESSIONWARDEN_DETECTION__SEVERITIES", "x", ["detection.severities", "expected a table"]),
    ("SESSIONWARDEN_DETECTION__SEVERITIES__NEW_DEVICE", "urgent",
     ["detection.severities.new_device = 'urgent' (env ", "is not one of"]),
    ("SESSIONWARDEN_SESSIONS__TOUCH_INTERVAL", "30d",
     ["sessions.touch_interval = '30d' (env SESSIONWARDEN_SESSIONS__TOUCH_INTERVAL)",
      "must be shorter than idle_timeout"]),
    ("SESSIONWARDEN_SESSIONS__KEY_PREFIX", "x" * 5000, ["longer than 4096 characters"]),
])
def test_env_errors_name_key_variable_and_expectation(variable, value, fragments):
    message = error_of(env={variable: value})
    for fragment in fragments:
        assert fragment in message, message


# -- file errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fragments"), [
    ("[sessions]\nidle_timout = \"1h\"\n",
     ["sessions.idle_timout = '1h' (file ", "unknown key; expected one of", "idle_timeout"]),
    ("[session]\nmax_sessions = 1\n", ["[session]", "unknown section", "redis, sessions"]),
    ("url = \"redis://x\"\n", ["url = 'redis://x'", "expected a [section] table"]),
    ("[sessions]\nmax_sessions = \"5\"\n", ["sessions.max_sessions = '5'", "an integer"]),
    ("[sessions]\nmax_sessions = 5.5\n", ["sessions.max_sessions = 5.5", "an integer"]),
    ("[sessions]\nmax_sessions = 5000\n",
     ["sessions.max_sessions = 5000 (file ", "between 1 and 1000"]),
    ("[sessions]\nproduction = 1\n", ["sessions.production = 1", "true or false"]),
    ("[sessions]\nidle_timeout = \"40d\"\n",
     ["sessions.idle_timeout = '40d' (file ", "must not exceed absolute_lifetime"]),
    ("[sessions]\nidle_timeout = -5\n", ["sessions.idle_timeout = '-5s'", "must be positive"]),
    ("[sessions]\nproduction = true\n", ["sessions.secret", "required in production"]),
    ("[sessions]\nsecret = \"short-secret\"\n",
     ["sessions.secret = '***' (file ", "at least 32 bytes"]),
    ("[redis]\nmax_connections = 0\n", ["redis.max_connections = 0 (file ", "from 1 to"]),
    ("[redis]\nurl = \"http://h\"\n", ["redis.url = 'http://h'", "redis://, rediss://"]),
    ("[redis]\ntls_ca_file = []\n", ["redis.tls_ca_file = []", "a string"]),
    ("[detection]\ndisabled = \"login_burst\"\n", ["detection.disabled", "list of strings"]),
    ("[detection]\ndisabled = [\"nope\"]\n",
     ["detection.disabled = ['nope'] (file ", "unknown rule"]),
    ("[detection.severities]\nnope = \"high\"\n", ["detection.severities (file ", "'nope'"]),
    ("[detection]\nshared_countries = 1\n", ["detection.shared_countries = 1", ">= 2"]),
    ("[sessions.deep]\nx = 1\n", ["sessions.deep", "unknown key"]),
])
def test_file_errors_are_one_line_naming_the_key(tmp_path, text, fragments):
    message = error_of(tmp_path=tmp_path, text=text)
    for fragment in fragments:
        assert fragment in message, message


def test_toml_syntax_error_names_file_and_line(tmp_path):
    message = error_of(tmp_path=tmp_path, text='[redis]\nurl = "redis://h"\nsocket_timeout = \n')
    assert str(tmp_path / "config.toml") in message
    assert "TOML syntax error" in message and "line 3" in message


def test_hostile_files(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * config.MAX_FILE_BYTES + b"\n")
    with pytest.raises(config.ConfigError, match="larger than 1048576 bytes, refused"):
        config.load(big, env={})
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b'[sessions]\nkey_prefix = "caf\xe9"\n')
    with pytest.raises(config.ConfigError, match=r"not UTF-8 text \(line 2\)"):
        config.load(binary, env={})
    with pytest.raises(config.ConfigError, match="is a directory"):
        config.load(tmp_path, env={})
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(config.ConfigError, match=r"deep\.toml: nested too deeply"):
        config.load(deep, env={})


def test_where_the_file_is(tmp_path, monkeypatch):
    with pytest.raises(config.ConfigError, match=r"missing\.toml: not found"):
        config.load(tmp_path / "missing.toml", env={})
    with pytest.raises(config.ConfigError, match="not found"):  # named by the variable
        config.load(env={"SESSIONWARDEN_CONFIG": str(tmp_path / "missing.toml")})
    named = write(tmp_path, "[sessions]\nmax_sessions = 2\n", "named.toml")
    assert config.load(env={"SESSIONWARDEN_CONFIG": str(named)}).sessions.max_sessions == 2
    default = write(tmp_path, "[sessions]\nmax_sessions = 3\n", "default.toml")
    assert config.load(env={}).path is None  # default location absent: no file, no error
    monkeypatch.setattr(config, "DEFAULT_PATH", default)
    assert config.load(env={}).sessions.max_sessions == 3
    assert config.load(named, env={}).sessions.max_sessions == 2  # explicit beats default
    assert config.resolve_path(env={"SESSIONWARDEN_CONFIG": str(named)}) == (
        named, "SESSIONWARDEN_CONFIG")


# -- reserved and registered sections ---------------------------------------------------------


def test_reserved_sections_are_kept_raw_when_not_installed(tmp_path):
    cfg = load(tmp_path, """
[daemon]
sweep_interval = "30s"
[alerts.email]
smtp_url = "smtp://mailer:hunter2@mail:587"
to = ["ops@example.com"]
[console]
""", env={"SESSIONWARDEN_DAEMON__SWEEP_INTERVAL": "1s",
          "SESSIONWARDEN_ALERTS__WEBHOOK__URL": "https://hooks/x?token=abc"})
    assert cfg.unvalidated["daemon"] == {"sweep_interval": "1s"}
    assert cfg.unvalidated["alerts"]["email"]["to"] == ["ops@example.com"]
    assert cfg.unvalidated["alerts"]["webhook"]["url"] == "https://hooks/x?token=abc"
    assert "console" in cfg.unvalidated
    doc = cfg.describe()
    assert doc["unvalidated"]["daemon"] == "not validated: sessionwarden-daemon not installed"
    assert doc["unvalidated"]["console"] == "not validated: sessionwarden-console not installed"
    assert doc["keys"]["alerts.email.smtp_url"]["value"] == "smtp://mailer:***@mail:587"
    assert doc["keys"]["alerts.webhook.url"]["value"] == "https://hooks/x?token=***"
    assert doc["keys"]["daemon.sweep_interval"]["origin"] == "SESSIONWARDEN_DAEMON__SWEEP_INTERVAL"


@dataclasses.dataclass(frozen=True)
class Email:
    smtp_url: str = "smtp://localhost:25"
    password: str | None = None
    to: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Daemon:
    sweep_interval: timedelta = timedelta(minutes=1)
    batch: int = 100
    notify: bool = True
    email: Email = dataclasses.field(default_factory=Email)
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch: must be at least 1, got {self.batch}")


def test_a_registered_section_is_validated_by_its_schema(tmp_path):
    config.register_section("daemon", Daemon, distribution="sessionwarden-daemon")
    config.register_section("daemon", Daemon)  # again: no-op
    assert load().extra["daemon"] == Daemon()  # absent from the file: defaults
    cfg = load(tmp_path, """
[daemon]
batch = 5
[daemon.email]
to = ["ops@example.com"]
password = "pw"
[daemon.labels]
team = "sre"
""", env={"SESSIONWARDEN_DAEMON__SWEEP_INTERVAL": "1s",
          "SESSIONWARDEN_DAEMON__NOTIFY": "no",
          "SESSIONWARDEN_DAEMON__EMAIL__SMTP_URL": "smtp://u:secret@mail:587"})
    daemon = cfg.extra["daemon"]
    assert daemon == Daemon(sweep_interval=timedelta(seconds=1), batch=5, notify=False,
                            email=Email("smtp://u:secret@mail:587", "pw", ("ops@example.com",)),
                            labels={"team": "sre"})
    assert "daemon" not in cfg.unvalidated
    keys = cfg.describe()["keys"]
    assert keys["daemon.email.password"]["value"] == "***"
    assert keys["daemon.email.smtp_url"]["value"] == "smtp://u:***@mail:587"
    assert keys["daemon.sweep_interval"]["value"] == "1s"
    message = error_of(tmp_path=tmp_path, text="[daemon]\nbatch = 0\n")
    assert message.startswith("daemon.batch = 0 (file ") and "at least 1" in message
    message = error_of(tmp_path=tmp_path, text="[daemon]\nsweep = 1\n")
    assert "daemon.sweep = 1" in message and "unknown key" in message
    message = error_of(env={"SESSIONWARDEN_DAEMON__EMAIL__PORT": "25"})
    assert "daemon.email.port = '25' (env SESSIONWARDEN_DAEMON__EMAIL__PORT)" in message


def test_register_section_refuses_clashes():
    with pytest.raises(ValueError, match="not an allowed section name"):
        config.register_section("sessions", Daemon)
    with pytest.raises(ValueError, match="not an allowed section name"):
        config.register_section("bad__name", Daemon)
    with pytest.raises(TypeError, match="dataclass"):
        config.register_section("thing", dict)
    config.register_section("thing", Daemon)
    with pytest.raises(ValueError, match="already registered"):
        config.register_section("thing", Email)

    @dataclasses.dataclass
    class Weird:
        callback: Any = None

    with pytest.raises(TypeError, match="unsupported type"):
        config.register_section("weird", Weird)
    assert "thing" in config.registered_sections()


# -- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("redis.url", "redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("redis.url", "rediss://user:p%40ss@host/0", "rediss://user:***@host/0"),
    ("redis.url", "redis://host:6379/0", "redis://host:6379/0"),
    ("redis.url", "unix:///run/redis.sock?password=pw&db=1", "unix:///run/redis.sock?password=***&db=1"),
    ("sessions.secret", TEST_SECRET, "***"),
    ("sessions.secret", None, None),
    ("alerts.email.password", "pw", "***"),
    ("alerts.slack.token", "xoxb", "***"),
    ("sessions.key_prefix", "sw", "sw"),
])
def test_mask(key, value, shown):
    assert config.mask(key, value) == shown


# -- the example file -------------------------------------------------------------------------


def _leaf_keys() -> set[str]:
    return {key for key in config.load(env={}).values if key.split(".")[0] in config.CORE_SECTIONS}


def test_example_config_documents_every_key_with_its_default(tmp_path):
    text = EXAMPLE.read_text()
    config.load(EXAMPLE, env={})  # loads as shipped
    section, documented, uncommented = None, set(), []
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            uncommented.append(line)
        elif (match := re.fullmatch(r"# ([a-z_]+) = (.+)", line)) and (
                str(section).split(".")[0] in config.CORE_SECTIONS):  # the daemon's: elsewhere
            documented.add(f"{section}.{match[1]}")
            uncommented.append(line[2:])
    missing = _leaf_keys() - documented
    assert not missing, f"document these keys in {EXAMPLE.name}: {sorted(missing)}"
    assert not documented - _leaf_keys()
    # every documented value is the default: uncommenting all of them changes nothing
    cfg = config.load(write(tmp_path, "\n".join(uncommented)), env={})
    baseline = config.load(env={})
    for key in documented:
        assert cfg.values[key] == baseline.values[key], key


def test_every_settings_field_is_a_key():
    """Introspected: a field added to Settings / RedisSettings / DetectionSettings appears."""
    keys = {k.rsplit(".", 1)[0]
            if k.startswith(("detection.severities.", "detection.weights.")) else k
            for k in _leaf_keys()}
    expected = {f"redis.{f.name}" for f in dataclasses.fields(RedisSettings) if f.init}
    expected |= {f"sessions.{f.name}" for f in dataclasses.fields(Settings)
                 if f.init and f.name not in ("detection", "socket_timeout")}
    expected |= {f"detection.{f.name}" for f in dataclasses.fields(DetectionSettings) if f.init}
    assert keys == expected


# -- through the CLI: `sessionwarden config check` -------------------------------------------


def check(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["config", "check", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_config_check_prints_every_key_and_its_source(tmp_path, monkeypatch):
    path = write(tmp_path, '[redis]\nurl = "redis://:hunter2@cache:6379/0"\n'
                           '[sessions]\nidle_timeout = "12h"\n'
                           f'secret = "{TEST_SECRET}"\n[daemon]\nsweep_interval = "5s"\n')
    monkeypatch.setenv("SESSIONWARDEN_SESSIONS__MAX_SESSIONS", "3")
    code, out, err = check("--config", str(path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"# configuration file: {path}"
    assert lines[-1] == "# valid"
    assert re.search(r'^redis.url = "redis://:\*\*\*@cache:6379/0" +# file ', out, re.M)
    assert re.search(r'^sessions.idle_timeout = "12h" +# file ', out, re.M)
    assert re.search(r"^sessions.max_sessions = 3 +# env SESSIONWARDEN_SESSIONS__MAX_SESSIONS$",
                     out, re.M)
    assert re.search(r'^sessions.secret = "\*\*\*" +# file', out, re.M)
    assert re.search(r'^sessions.absolute_lifetime = "30d" +# default$', out, re.M)
    assert "# [daemon] not validated: sessionwarden-daemon not installed" in out
    assert 'daemon.sweep_interval = "5s"' in out
    assert "hunter2" not in out and TEST_SECRET not in out
    for key in _leaf_keys():
        assert f"\n{key} = " in out, key


def test_config_check_json(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:pw@h:1/0")
    code, out, err = check("--json", "--key-prefix", "app1")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["valid"] is True and doc["file"] is None
    assert doc["keys"]["redis.url"] == {"value": "redis://:***@h:1/0", "source": "env",
                                        "origin": "REDIS_URL"}
    assert doc["keys"]["sessions.key_prefix"] == {"value": "app1", "source": "argument",
                                                  "origin": "--key-prefix"}
    assert doc["keys"]["sessions.secret"]["value"] is None  # check injects no random secret
    assert doc["keys"]["detection.disabled"]["value"] == []


@pytest.mark.parametrize(("setup", "fragments"), [
    ({"file": "[sessions]\nidle_timeout = \"soon\"\n"},
     ["sessions.idle_timeout = 'soon' (file ", "expected a duration"]),
    ({"env": {"SESSIONWARDEN_SESSIONS__IDLE_TIMEOUT": "soon"}},
     ["sessions.idle_timeout = 'soon' (env SESSIONWARDEN_SESSIONS__IDLE_TIMEOUT)"]),
    ({"file": "[sessions\n"}, ["TOML syntax error", "line 1"]),
    ({"missing": True}, ["not found"]),
    ({"file": "[sessions]\nproduction = true\n"}, ["sessions.secret", "required in production"]),
    ({"file": "[sessions]\nsecret = \"tooshort\"\n"}, ["sessions.secret = '***'"]),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_config_check_invalid_is_one_line_exit_2(tmp_path, monkeypatch, setup, fragments,
                                                 as_json):
    path = tmp_path / "config.toml"
    if "file" in setup:
        path.write_text(setup["file"])
    for name, value in setup.get("env", {}).items():
        monkeypatch.setenv(name, value)
    argv = [str(path)] if ("file" in setup or "missing" in setup) else []
    code, out, err = check(*(["--config", *argv] if argv else []),
                           *(["--json"] if as_json else []))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sessionwarden: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "tooshort" not in err


def test_config_option_before_or_after_the_command(tmp_path):
    path = write(tmp_path, '[sessions]\nkey_prefix = "app9"\n')
    for argv in (["--config", str(path), "config", "check"],
                 ["config", "--config", str(path), "check"],
                 ["config", "check", "--config", str(path)]):
        out = io.StringIO()
        assert cli.main(argv, stdout=out, stderr=io.StringIO()) == 0, argv
        assert re.search(r'^sessions.key_prefix = "app9" +# file ', out.getvalue(), re.M)


def test_cli_key_prefix_precedence(tmp_path, monkeypatch):
    path = write(tmp_path, '[sessions]\nkey_prefix = "file"\n')

    def prefix(*argv: str) -> str:
        out = io.StringIO()
        assert cli.main(["config", "check", "--json", "--config", str(path), *argv],
                        stdout=out, stderr=io.StringIO()) == 0
        item = json.loads(out.getvalue())["keys"]["sessions.key_prefix"]
        return f"{item['value']} {item['origin'] or item['source']}"

    assert prefix() == f"file {path}"
    monkeypatch.setenv("SESSIONWARDEN_PREFIX", "legacy")
    assert prefix() == "legacy SESSIONWARDEN_PREFIX"
    monkeypatch.setenv("SESSIONWARDEN_SESSIONS__KEY_PREFIX", "env")
    assert prefix() == "env SESSIONWARDEN_SESSIONS__KEY_PREFIX"
    assert prefix("--key-prefix", "flag") == "flag --key-prefix"


# -- on a real Redis --------------------------------------------------------------------------


def test_cli_commands_read_the_config_file(real_backend, tmp_path, caplog):
    created = real_backend.manager(settings(key_prefix="app2")).create_session(
        "alice", user_agent="Mozilla/5.0", ip="8.8.8.8")
    path = write(tmp_path, f'[redis]\nurl = "{real_backend.url}"\n'
                           '[sessions]\nkey_prefix = "app2"\nproduction = true\n')
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["sessions", "alice", "--config", str(path)], stdout=out, stderr=err)
    assert (code, err.getvalue()) == (0, "")  # production without a secret: the CLI needs none
    assert created.session_id in out.getvalue()
    assert "no secret configured" not in caplog.text


def test_config_manager_helpers(real_backend, tmp_path):
    path = write(tmp_path, f'[redis]\nurl = "{real_backend.url}"\n'
                           f'[sessions]\nkey_prefix = "app3"\nsecret = "{TEST_SECRET}"\n')
    mgr = config.load(path, env={}).manager()
    try:
        created = mgr.create_session("bob", user_agent="Mozilla/5.0", ip="8.8.8.8")
        assert mgr.validate_session(created.token) is not None
        assert real_backend.raw().exists(*real_backend.raw().keys("app3:*"))
    finally:
        mgr.close()


# -- field metadata for registered sections: config_key, env_only -------------------------------


@dataclasses.dataclass(frozen=True)
class Mail:
    from_: str = dataclasses.field(default="a@localhost", metadata={"config_key": "from"})
    password: str | None = dataclasses.field(default=None, metadata={"env_only": True})

    def __post_init__(self) -> None:
        if "@" not in self.from_:
            raise ValueError("from: expected an address")


@dataclasses.dataclass(frozen=True)
class Notices:
    mail: Mail = dataclasses.field(default_factory=Mail)


def test_config_key_names_a_key_that_is_not_an_identifier(tmp_path):
    config.register_section("notices", Notices)
    cfg = load(tmp_path, '[notices.mail]\nfrom = "sec@example.com"\n')
    assert cfg.extra["notices"].mail.from_ == "sec@example.com"
    assert cfg.sources["notices.mail.from"].kind == "file"
    assert load(env={"SESSIONWARDEN_NOTICES__MAIL__FROM": "b@x"}).extra[
        "notices"].mail.from_ == "b@x"
    message = error_of(tmp_path=tmp_path, text='[notices.mail]\nfrom = "nobody"\n')
    assert message.startswith("notices.mail.from = 'nobody' (file ")
    assert "unknown key" in error_of(tmp_path=tmp_path, text='[notices.mail]\nfrom_ = "a@b"\n')


def test_env_only_keys_are_refused_in_a_file(tmp_path):
    config.register_section("notices", Notices)
    cfg = load(env={"SESSIONWARDEN_NOTICES__MAIL__PASSWORD": "hunter2"})
    assert cfg.extra["notices"].mail.password == "hunter2"
    assert cfg.describe()["keys"]["notices.mail.password"]["value"] == "***"
    message = error_of(tmp_path=tmp_path, text='[notices.mail]\npassword = "hunter2"\n')
    assert message.startswith("notices.mail.password = '***' (file ")
    assert "SESSIONWARDEN_NOTICES__MAIL__PASSWORD" in message and "hunter2" not in message


def test_health_check_interval_takes_a_duration_and_reaches_the_pool(tmp_path):
    cfg = load(tmp_path, '[redis]\nhealth_check_interval = "2s"\n')
    assert cfg.redis.health_check_interval == 2.0
    mgr = cfg.manager(operator=True)
    assert mgr.client.connection_pool.connection_kwargs["health_check_interval"] == 2.0
    message = error_of(tmp_path=tmp_path, text='[redis]\nhealth_check_interval = "0s"\n')
    assert message.startswith("redis.health_check_interval")
