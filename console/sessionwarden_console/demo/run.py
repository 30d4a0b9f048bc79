"""``sessionwarden demo``: the whole system on an embedded store, in one process.

Store (`store.open_store`), a seeded tenant (`tenant.seed`), the traffic simulator and its
incident watcher (`traffic`), the daemon in-process (`sessionwarden_daemon.app.Daemon`: log
sink, desktop sink when a notification service exists, email to a printing SMTP server on
loopback whose "Not you?" links open `notme`), then the console — or, with ``headless``,
nothing but a line telling a second terminal how to open it. SIGINT (Ctrl+C) and SIGTERM stop
everything: threads joined, servers closed, the redis-server child stopped and its directory
removed, the demo's keys deleted from an external Redis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shlex
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from sessionwarden import SessionManager, Settings
from sessionwarden.settings import RULE_SEVERITIES, DetectionSettings

from .mail import mail_server
from .notme import not_me_server
from .store import Store, open_store
from .tenant import BackdatedClock, seed
from .traffic import IDLE_EXPIRY_IN, Simulator, Watcher


@dataclass(frozen=True, slots=True)
class Options:
    headless: bool = False
    users: int = 200
    every: float = 20.0  # seconds between scripted incidents
    store: str = "auto"  # auto | redis-server | fakeredis
    seconds: float | None = None  # stop by itself after this long (tests, screenshots)
    operator: str = "demo"
    screenshot: str | None = None  # save the console's alert feed as SVG there, then stop


class Reporter:
    """Where the demo's lines go: the terminal (headless), or, while the console owns the
    screen, a buffer whose tail is printed when the console closes."""

    def __init__(self, out: IO[str], *, buffered: bool) -> None:
        self.out, self.buffered = out, buffered
        self.lines: deque[str] = deque(maxlen=30)
        self.hidden = 0  # the log sink's JSON lines, counted, not kept, while buffered
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        with self.lock:
            if self.buffered and line.startswith("log-sink "):
                self.hidden += 1
            elif self.buffered:
                self.lines.append(stamped)
            else:
                self.out.write(stamped + "\n")
                self.out.flush()

    def release(self) -> None:
        with self.lock:
            if self.buffered and self.lines:
                self.out.write("the demo's last lines while the console was open:\n")
                self.out.write("\n".join(self.lines) + "\n")
            if self.buffered and self.hidden:
                self.out.write(f"(and {self.hidden} JSON lines of the daemon's log sink; "
                               "--headless shows them)\n")
            self.buffered = False
            self.lines.clear()


class LineStream:
    """A text stream for the daemon's log sink: each JSON line it writes, reported."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line:
                self.report("log-sink " + line)
        return len(text)

    def flush(self) -> None:
        pass


class ReportHandler(logging.Handler):
    def __init__(self, report: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        self.report(f"daemon   {record.levelname.lower()}: {record.getMessage()}")


def desktop_available(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """A desktop notification service plyer can reach: ``notify-send`` and a session."""
    session = env.get("DBUS_SESSION_BUS_ADDRESS") or env.get("DISPLAY") or env.get(
        "WAYLAND_DISPLAY")
    return bool(session) and shutil.which("notify-send") is not None


def daemon_config(store: Store, secret: str, smtp_url: str, action_url: str, *,
                  desktop: bool) -> Any:
    """The daemon's configuration through the shared loader (no file, no environment: the
    demo's own values), with short intervals so expiry and heartbeats show within seconds."""
    from sessionwarden_daemon.settings import load_config

    values = {
        "redis.url": store.url, "sessions.key_prefix": store.prefix, "sessions.secret": secret,
        "daemon.sweep_interval": "1s", "daemon.heartbeat_interval": "1s",
        "daemon.retry_base": "500ms", "daemon.retry_max": "10s",
        "alerts.min_severity": "low", "alerts.log": "true",
        "alerts.email.enabled": "true", "alerts.email.smtp_url": smtp_url,
        "alerts.email.action_url": action_url, "alerts.email.timeout": "5s",
        "alerts.email.from": "SessionWarden demo <security@demo.invalid>",
        "alerts.desktop.enabled": "true" if desktop else "false",
    }
    return load_config(os.devnull, env={}, overrides=values)


@contextlib.contextmanager
def signals_stop(stop: threading.Event) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed) set ``stop`` while inside; the previous
    handlers come back after."""
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def console_command(store: Store) -> str:
    """The shell command that opens the console on the demo's store from another terminal:
    the ``sessionwarden`` installed beside this Python (``.venv/bin/sessionwarden`` under
    ``make demo``), else ``python -m sessionwarden``."""
    env = f"REDIS_URL={shlex.quote(store.url)}"
    if store.prefix != "sw":
        env += f" SESSIONWARDEN_SESSIONS__KEY_PREFIX={store.prefix}"
    script = Path(sys.executable).with_name("sessionwarden")
    where = os.path.relpath(script) if script.exists() else ""
    program = (shlex.quote(where if not where.startswith("..") else str(script)) if where
               else f"{shlex.quote(sys.executable)} -m sessionwarden")
    return f"{env} {program} console"


def run(opts: Options, out: IO[str] = sys.stdout) -> int:
    stop = threading.Event()
    status = 0
    report = Reporter(out, buffered=not opts.headless)
    with signals_stop(stop), contextlib.ExitStack() as stack:
        report.buffered = False  # set-up lines go to the terminal in both modes
        store = stack.enter_context(open_store(opts.store, os.environ.get("REDIS_URL") or None))
        report(f"store    {store.what}")
        secret = secrets.token_urlsafe(32)  # this run's deployment secret (links, fingerprints)
        settings = Settings(secret=secret, key_prefix=store.prefix)
        quiet = replace(settings, detection=DetectionSettings(
            disabled=frozenset(RULE_SEVERITIES)))
        started = time.monotonic()
        users = seed(lambda clock: SessionManager.from_url(store.url, quiet, clock=clock),
                     opts.users)
        devices = sum(len(u.sessions) for u in users)
        report(f"seeded   {len(users)} users, {devices} sessions on laptops, phones and "
               f"tablets in {time.monotonic() - started:.1f} s (signed in up to 6 days ago; "
               "a few go idle in the first minutes)")
        if stop.is_set():
            return 0

        app_mgr = stack.enter_context(SessionManager.from_url(store.url, settings))
        clock = BackdatedClock()
        backdated = stack.enter_context(SessionManager.from_url(store.url, settings,
                                                                clock=clock))
        watch_mgr = stack.enter_context(SessionManager.from_url(store.url, settings,
                                                                operator=True))
        smtp_url, _mail = stack.enter_context(mail_server(report))
        action_url = stack.enter_context(not_me_server(app_mgr, report))
        desktop = desktop_available()

        from sessionwarden_daemon.app import Daemon

        config = daemon_config(store, secret, smtp_url, action_url, desktop=desktop)
        daemon_mgr = stack.enter_context(SessionManager.from_url(store.url, settings))
        daemon = Daemon(config, manager=daemon_mgr)
        daemon.sinks["log"].stream = LineStream(report)
        handler = ReportHandler(report)
        daemon_log = logging.getLogger("sessionwarden.daemon")
        daemon_log.addHandler(handler)
        daemon_log.setLevel(logging.INFO)
        daemon_log.propagate = False
        stack.callback(daemon_log.removeHandler, handler)
        logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running"

        sim = Simulator(app_mgr, backdated, clock, users, report=report, every=opts.every)
        sim.stop = stop
        watcher = Watcher(watch_mgr, sim, report)
        threads = [threading.Thread(target=daemon.run, kwargs={"install_signals": False},
                                    name="daemon"),
                   threading.Thread(target=sim.run, name="traffic"),
                   threading.Thread(target=watcher.run, name="watcher")]
        for t in threads:
            t.start()

        def shutdown() -> None:
            stop.set()
            daemon.stop.set()
            for t in threads:
                t.join(timeout=15)
            daemon.jobs_finished()

        stack.callback(shutdown)
        report(f"daemon   in-process: sinks {', '.join(daemon.sinks)} (email to the printing "
               f"SMTP server {smtp_url}; desktop "
               + ("on" if desktop else "off: no notification service") + ")")
        report(f"traffic  requests and sign-ins all the time; an incident every {opts.every:g}"
               " s: takeover, impossible travel, replayed revoked token, shared team login, "
               f"idle expiry (a session backdated to go idle {IDLE_EXPIRY_IN:g} s after "
               "sign-in; the clock is real)")
        report(f"console  in another terminal: {console_command(store)}")
        report(f"         REDIS_URL={store.url}")
        if opts.screenshot:
            from .screenshot import save

            save(watch_mgr, Path(opts.screenshot))
            report(f"saved    the console's alert feed to {opts.screenshot}")
        elif opts.headless:
            report("headless: Ctrl+C (or SIGTERM) stops everything")
            stop.wait(opts.seconds)
        else:
            report.buffered = True
            status = run_console(store, settings, opts, stop)
            report.release()
        stop.set()
    out.write(f"stopped: {sim.requests} requests, {sim.sign_ins} sign-ins, "
              f"{len(sim.incidents)} incidents ({sum(1 for i in sim.incidents if i.seen)} "
              "seen in the feed); nothing left running"
              + (", the demo's keys deleted" if store.kind == "external" else
                 ", no file left behind") + "\n")
    return status


def demo_console(manager: SessionManager, store: Store, opts: Options) -> Any:
    """The console app on the demo's store, saying on screen what it is looking at."""
    from textual.binding import Binding

    from .. import app as console_app
    from ..config import ConsoleConfig
    from ..data import ConsoleData

    class DemoConsole(console_app.ConsoleApp):
        # CSS_PATH is read relative to the defining module: point at the console's own
        CSS_PATH = str(Path(console_app.__file__).with_name("console.tcss"))
        # Ctrl+C stops the whole demo (Textual's default only says "press ctrl+q")
        BINDINGS = [*console_app.ConsoleApp.BINDINGS,
                    Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

        def on_mount(self) -> None:
            super().on_mount()
            self.sub_title = f"demo · {store.kind}"
            self.notify(f"SessionWarden demo on {store.kind}: an incident every "
                        f"{opts.every:g} s (press a for the alert feed, q to quit)",
                        timeout=12)

    return DemoConsole(ConsoleData(manager, operator=opts.operator),
                       ConsoleConfig(refresh_seconds=1.0))


def run_console(store: Store, settings: Settings, opts: Options, stop: threading.Event) -> int:
    """The console on the demo's store, until the operator quits or ``stop`` is set; its exit
    status (1 when it crashed)."""
    manager = SessionManager.from_url(store.url, replace(settings, secret=None), operator=True)
    app = demo_console(manager, store, opts)

    def exit_on_stop() -> None:
        stop.wait(opts.seconds)
        if app.is_running:
            with contextlib.suppress(Exception):
                app.call_from_thread(app.exit)

    closer = threading.Thread(target=exit_on_stop, name="console-stop", daemon=True)
    closer.start()
    try:
        app.run()
    finally:
        stop.set()
        closer.join(timeout=5)
        manager.close()
    return int(app.return_code or 0)
