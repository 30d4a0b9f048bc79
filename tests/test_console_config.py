"""The console on the shared configuration: ``[console]`` registered through the
``sessionwarden.config_sections`` entry point (validated by ``sessionwarden config check``,
overridable with ``SESSIONWARDEN_CONSOLE__<KEY>``), loaded as an operator, and the manager built
from ``[redis]`` (timeouts, pool) by ``cfg.manager(operator=True)``."""

from __future__ import annotations

import dataclasses
import io
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest.importorskip("sessionwarden_console")

from sessionwarden_console import cli as console_cli
from sessionwarden_console.config import ConsoleConfig, load

from sessionwarden import cli
from sessionwarden import config as swconfig

EXAMPLE = Path(__file__).resolve().parent.parent / "systemd" / "config.example.toml"


@pytest.fixture(autouse=True)
def no_machine_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(swconfig, "DEFAULT_PATH", tmp_path / "absent.toml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_entry_point_registers_the_section() -> None:
    found = {ep.name: ep for ep in entry_points(group="sessionwarden.config_sections")}
    assert found["console"].load() is ConsoleConfig
    assert swconfig.registered_sections()["console"] is ConsoleConfig


def test_console_section_file_env_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nurl = "redis://h:1/2"\n[sessions]\nkey_prefix = "x"\n'
                           '[console]\nread_only = true\nfeed_size = 100\n')
    cfg, console = load(path, env={})
    assert (cfg.redis.url, cfg.sessions.key_prefix) == ("redis://h:1/2", "x")
    assert console == ConsoleConfig(read_only=True, feed_size=100)
    _, console = load(path, env={"SESSIONWARDEN_CONSOLE__REFRESH_SECONDS": "0.5",
                                 "SESSIONWARDEN_CONSOLE__READ_ONLY": "no",
                                 "REDIS_URL": "redis://o:2/0"})
    assert (console.refresh_seconds, console.read_only) == (0.5, False)
    assert load(path, env={"REDIS_URL": "redis://o:2/0"})[0].redis.url == "redis://o:2/0"
    assert load(None, env={})[1] == ConsoleConfig()  # no file: the defaults
    for text, env, fragment in (
            ("[console]\nfeed_size = 1\n", {}, "console.feed_size = 1 (file "),
            ("[console]\nrefresh_seconds = 0\n", {}, "console.refresh_seconds = 0.0 (file "),
            ("[console]\nnope = 1\n", {}, "console.nope"),
            ("", {"SESSIONWARDEN_CONSOLE__NOTIFY_MIN_SEVERITY": "loud"},
             "console.notify_min_severity = 'loud' (env SESSIONWARDEN_CONSOLE__NOTIFY_MIN_SEV"),
            ("", {"SESSIONWARDEN_CONSOLE__PAGE_SIZE": "many"}, "console.page_size = 'many'")):
        with pytest.raises(swconfig.ConfigError) as caught:
            load(write(tmp_path, text), env=env)
        assert fragment in str(caught.value)


def test_config_check_validates_the_console_section(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[console]\npage_size = 50\n")
    monkeypatch.setenv("SESSIONWARDEN_CONSOLE__OPERATOR", "zoe")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["config", "check", "--config", str(path)], stdout=out, stderr=err) == 0
    text = out.getvalue()
    assert re.search(r"^console.page_size = 50 +# file ", text, re.M)
    assert re.search(r'^console.operator = "zoe" +# env SESSIONWARDEN_CONSOLE__OPERATOR$', text,
                     re.M)
    assert re.search(r"^console.feed_size = 500 +# default$", text, re.M)
    assert "[console] not validated" not in text
    path.write_text("[console]\npage_size = 5000\n")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["config", "check", "--config", str(path)], stdout=out, stderr=err) != 0
    assert "console.page_size = 5000 (file " in err.getvalue()


def test_the_command_builds_an_operator_manager_from_the_shared_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """production = true and no secret: fine for the console (it never issues); [redis]
    timeouts reach the client; [console] reaches the app; --read-only wins."""
    for name in ("SESSIONWARDEN_SECRET", "REDIS_URL", "SESSIONWARDEN_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    path = write(tmp_path, '[redis]\nurl = "redis://127.0.0.1:1/3"\nsocket_timeout = 3.5\n'
                           'connect_timeout = 1.5\n[sessions]\nproduction = true\n'
                           'key_prefix = "acme"\n[console]\noperator = "zoe"\nfeed_size = 80\n')
    seen = {}

    def fake_run(app) -> None:
        seen["app"] = app

    from sessionwarden_console.app import ConsoleApp

    monkeypatch.setattr(ConsoleApp, "run", fake_run)
    assert console_cli.main(["--config", str(path), "--read-only"]) == 0
    app = seen["app"]
    manager = app.data.manager
    assert manager.redis_settings.socket_timeout == 3.5
    assert manager.redis_settings.connect_timeout == 1.5
    assert manager.settings.key_prefix == "acme" and manager.settings.production
    assert manager.settings.secret is None
    assert (app.operator, app.config.feed_size, app.read_only) == ("zoe", 80, True)
    assert manager.closed  # closed when the app returns
    path.write_text("[console]\nfeed_size = 1\n")
    assert console_cli.main(["--config", str(path)]) == 2
    assert "console.feed_size = 1 (file " in capsys.readouterr().err


def test_the_example_file_documents_every_console_key_with_its_default(tmp_path: Path) -> None:
    section, documented, uncommented = None, {}, ["[console]"]
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "console" and (match := re.fullmatch(r"# ([a-z_]+) = (.+)", line)):
            documented[match[1]] = match[2]
            uncommented.append(line[2:])
    assert list(documented) == [f.name for f in dataclasses.fields(ConsoleConfig)]
    _, console = load(write(tmp_path, "\n".join(uncommented)), env={})
    assert console == ConsoleConfig()  # every documented value is the default
    swconfig.load(EXAMPLE, env={})  # the example loads as shipped
