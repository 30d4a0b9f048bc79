"""The daemon's sections of the shared configuration: registered through the entry points of
the installed distribution, validated and printed by `sessionwarden config check`, overridden
from the environment, documented in systemd/config.example.toml."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_SECRET

pytest.importorskip("sessionwarden_daemon")
from sessionwarden_daemon.settings import (
    AlertSettings,
    DaemonSettings,
    RouteSettings,
    load_config,
)

from sessionwarden import config
from sessionwarden.settings import RULE_SEVERITIES, SEVERITIES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "systemd" / "config.example.toml"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "DEFAULT_PATH", tmp_path / "no-default.toml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def error(tmp_path: Path | None = None, text: str | None = None,
          env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text) if tmp_path is not None and text is not None else None
    with pytest.raises(config.ConfigError) as caught:
        load_config(path, env=env or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_entry_points_register_both_sections() -> None:
    from importlib import metadata
    found = {ep.name: ep.value for ep in
             metadata.entry_points(group="sessionwarden.config_sections")}
    assert found["daemon"] == "sessionwarden_daemon.settings:DaemonSettings"
    assert found["alerts"] == "sessionwarden_daemon.settings:AlertSettings"
    sections = config.registered_sections()
    assert sections["daemon"] is DaemonSettings and sections["alerts"] is AlertSettings


def test_defaults() -> None:
    cfg = load_config(env={})
    d, a = cfg.daemon, cfg.alerts
    assert (d.sweep_interval, d.heartbeat_interval, d.event_retention) == (
        timedelta(seconds=30), timedelta(seconds=5), timedelta(days=14))
    assert d.listen is None and a.min_severity == "low" and a.log
    assert not (a.desktop.enabled or a.email.enabled or a.webhook.enabled)
    assert cfg.key_prefix == "sw"


def test_file_and_environment_reach_the_sections(tmp_path: Path) -> None:
    path = write(tmp_path, """
[redis]
url = "redis://127.0.0.1:6390/3"
[sessions]
key_prefix = "app1"
[daemon]
sweep_interval = "250ms"
metrics_listen = "127.0.0.1:9464"
event_retention = "7d"
[alerts]
min_severity = "medium"
[alerts.routes]
high = ["log", "webhook"]
login_burst = ["log"]
[alerts.email]
enabled = true
from = "Security <security@example.com>"
user = "alerts"
""")
    cfg = load_config(path, env={
        "SESSIONWARDEN_DAEMON__SWEEP_INTERVAL": "1s",
        "SESSIONWARDEN_ALERTS__EMAIL__SMTP_URL": "smtp://mail.example.com:587",
        "SESSIONWARDEN_ALERTS__EMAIL__STARTTLS": "yes",
        "SESSIONWARDEN_ALERTS__EMAIL__PASSWORD": "hunter2",
        "SESSIONWARDEN_ALERTS__ROUTES__CRITICAL": "log,email",
    })
    d, a = cfg.daemon, cfg.alerts
    assert d.sweep_interval == timedelta(seconds=1)  # env beats file
    assert d.listen == ("127.0.0.1", 9464) and d.event_retention == timedelta(days=7)
    assert a.min_severity == "medium"
    assert (a.routes.high, a.routes.login_burst, a.routes.critical) == (
        ("log", "webhook"), ("log",), ("log", "email"))
    e = a.email
    assert (e.smtp_url, e.starttls, e.from_, e.user, e.password) == (
        "smtp://mail.example.com:587", True, "Security <security@example.com>", "alerts",
        "hunter2")
    assert "hunter2" not in repr(e)
    assert cfg.key_prefix == "app1" and cfg.shared.redis.url == "redis://127.0.0.1:6390/3"
    keys = cfg.shared.describe()["keys"]
    assert keys["alerts.email.password"] == {
        "value": "***", "source": "env", "origin": "SESSIONWARDEN_ALERTS__EMAIL__PASSWORD"}
    assert keys["daemon.sweep_interval"]["value"] == "1s"


@pytest.mark.parametrize(("text", "env", "fragments"), [
    ("[daemon]\nsweep_interval = \"soon\"\n", {}, ["daemon.sweep_interval = 'soon' (file ",
                                                  "expected a duration"]),
    ("[daemon]\nsweep = 1\n", {}, ["daemon.sweep = 1 (file ", "unknown key"]),
    ("[daemon]\nmetrics_listen = \"9464\"\n", {}, ["daemon.metrics_listen = '9464'",
                                                   "host:port"]),
    ("[daemon]\nmax_attempts = 0\n", {}, ["daemon.max_attempts = 0", "from 1 to 100"]),
    ("[alerts]\nmin_severity = \"urgent\"\n", {}, ["alerts.min_severity = 'urgent'"]),
    ("[alerts.routes]\nhigh = [\"pager\"]\n", {}, ["alerts.routes.high = ['pager']",
                                                   "expected a list of log"]),
    ("[alerts.routes]\nsomething = [\"log\"]\n", {}, ["alerts.routes.something", "unknown key"]),
    ("[alerts.email]\nsmtp_host = \"x\"\n", {}, ["alerts.email.smtp_host = 'x'",
                                                 "unknown key"]),
    ("[alerts.email]\nsmtp_url = \"http://x\"\n", {}, ["alerts.email.smtp_url = 'http://x'"]),
    ("[alerts.email]\npassword = \"hunter2\"\n", {},
     ["alerts.email.password = '***' (file ", "SESSIONWARDEN_ALERTS__EMAIL__PASSWORD"]),
    ("[alerts.email]\naction_url = \"https://a/x\"\n", {},
     ["alerts.email.action_url = 'https://a/x'", "{token}"]),
    ("[alerts.email]\nfrom = \"nobody\"\n", {}, ["alerts.email.from = 'nobody'"]),
    ("[alerts.webhook]\nenabled = true\nurl = \"https://h\"\nsecret = \"short\"\n", {},
     ["alerts.webhook.secret = '***'", "at least 16"]),
    ("", {"SESSIONWARDEN_ALERTS__WEBHOOK__TIMEOUT": "5x"},
     ["alerts.webhook.timeout = '5x' (env SESSIONWARDEN_ALERTS__WEBHOOK__TIMEOUT)"]),
    ("", {"SESSIONWARDEN_ALERTS__EMAIL__PORT": "25"},
     ["alerts.email.port = '25' (env SESSIONWARDEN_ALERTS__EMAIL__PORT)", "unknown key"]),
])
def test_errors_are_one_line_naming_the_dotted_key(tmp_path: Path, text: str,
                                                   env: dict[str, str],
                                                   fragments: list[str]) -> None:
    message = error(tmp_path, text, env)
    for fragment in fragments:
        assert fragment in message, message
    assert "hunter2" not in message and "short" not in message


def test_production_without_a_secret_refuses_to_start_the_daemon(tmp_path: Path) -> None:
    path = write(tmp_path, "[sessions]\nproduction = true\n")
    assert "secret" in error(tmp_path, "[sessions]\nproduction = true\n")
    cfg = load_config(path, env={"SESSIONWARDEN_SECRET": TEST_SECRET})
    assert cfg.shared.sessions.production
    # the dead-letter CLI is an operator: it signs nothing
    assert load_config(path, env={}, operator=True).shared.sessions.secret is None


def test_routes_cover_every_severity_and_rule() -> None:
    names = {f.name for f in dataclasses.fields(RouteSettings)}
    assert names == set(SEVERITIES) | set(RULE_SEVERITIES)


def _registered_keys() -> dict[str, Any]:
    cfg = load_config(env={})
    return {k: v for k, v in cfg.shared.values.items()
            if k.split(".")[0] in ("daemon", "alerts")}


def test_the_example_file_documents_every_daemon_key_with_its_default(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    section, documented, uncommented = None, set(), []
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            uncommented.append(line)
        elif match := re.fullmatch(r"# ([a-z_]+) = (.+)", line):
            if str(section).split(".")[0] in ("daemon", "alerts"):
                documented.add(f"{section}.{match[1]}")
            uncommented.append(line[2:])
    keys = _registered_keys()
    env_only = {"alerts.email.password"}  # documented as its variable, refused in a file
    assert set(keys) - env_only - documented == set(), "document these in the example file"
    assert documented <= set(keys)
    assert "$SESSIONWARDEN_ALERTS__EMAIL__PASSWORD" in text
    uncommented_cfg = load_config(write(tmp_path, "\n".join(uncommented)), env={})
    for key in documented:
        assert uncommented_cfg.shared.values[key] == keys[key], key


def _cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("SESSIONWARDEN_") and k != "REDIS_URL"}
    script = Path(sys.executable).parent / "sessionwarden"
    return subprocess.run([str(script), *argv],
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_config_check_validates_and_prints_the_daemon_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "[daemon]\nheartbeat_interval = \"2s\"\n[alerts.email]\n"
                           "enabled = true\n")
    env = {"SESSIONWARDEN_SECRET": TEST_SECRET, "SESSIONWARDEN_DAEMON__SWEEP_INTERVAL": "1s",
           "SESSIONWARDEN_ALERTS__EMAIL__SMTP_URL": "smtp://mailer:pw@mail:587",
           "SESSIONWARDEN_ALERTS__EMAIL__PASSWORD": "hunter2"}
    done = _cli("config", "check", "--config", str(path), env=env)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()
             if line and not line.startswith("#")}
    assert "1s" in lines["daemon.sweep_interval"]
    assert "SESSIONWARDEN_DAEMON__SWEEP_INTERVAL" in lines["daemon.sweep_interval"]
    assert "2s" in lines["daemon.heartbeat_interval"] and "file" in lines[
        "daemon.heartbeat_interval"]
    assert "smtp://mailer:***@mail:587" in lines["alerts.email.smtp_url"]
    assert "***" in lines["alerts.email.password"]
    assert "hunter2" not in done.stdout and ":pw@" not in done.stdout
    assert "alerts.webhook.timeout" in lines and "alerts.routes.high" in lines
    path.write_text("[alerts.email]\nsmtp_host = \"x\"\n")
    done = _cli("config", "check", "--config", str(path), env=env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "alerts.email.smtp_host = 'x'" in line and "unknown key" in line


def test_the_daemon_refuses_a_bad_configuration_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[alerts.email]\npassword = \"hunter2\"\n")
    done = subprocess.run([sys.executable, "-m", "sessionwarden_daemon", "--config", str(path),
                           "--check"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SESSIONWARDEN_SECRET": TEST_SECRET})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("sessionwarden daemon: error: alerts.email.password = '***'")
    assert "hunter2" not in line
    path.write_text("")
    done = subprocess.run([sys.executable, "-m", "sessionwarden_daemon", "--config", str(path),
                           "--check"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SESSIONWARDEN_SECRET": TEST_SECRET,
                               "SESSIONWARDEN_DAEMON__SWEEP_INTERVAL": "1x"})
    assert done.returncode == 2 and "daemon.sweep_interval = '1x'" in done.stderr
    done = subprocess.run([sys.executable, "-m", "sessionwarden_daemon", "--config", str(path),
                           "--check"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SESSIONWARDEN_SECRET": TEST_SECRET,
                               "SESSIONWARDEN_DAEMON__SWEEP_INTERVAL": "1s"})
    assert done.returncode == 0 and done.stdout == "configuration ok\n"
