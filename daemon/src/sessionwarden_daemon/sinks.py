"""Where alerts go: log (a JSON line on stdout), desktop (plyer, coalesced, best effort),
email to the account owner (smtplib) and a signed webhook.

A sink's ``send`` returns normally when the alert is delivered (or is not for this sink, e.g.
no address on file) and raises `SinkError` when it should be tried again later
(``retry_after``: what the other side asked for). Every attacker-controlled string (user
agent, device, city, user id) is escaped for its sink: `plain` removes control and format
characters everywhere; `slack` escapes Slack's markup; email headers never hold them.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import re
import smtplib
import ssl
import sys
import threading
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import IO, Any
from urllib.parse import quote, urlsplit

from sessionwarden.core.consumer import Alert
from sessionwarden.geo import country_name

from . import __version__
from .settings import DesktopSettings, EmailSettings, WebhookSettings

log = logging.getLogger("sessionwarden.daemon")
SIGNATURE_HEADER = "X-SessionWarden-Signature"
TIMESTAMP_HEADER = "X-SessionWarden-Timestamp"


PASSWORD_ENV = "SESSIONWARDEN_ALERTS__EMAIL__PASSWORD"  # noqa: S105 - a variable name
_ATOM = re.compile(r"[^A-Za-z0-9.-]")


def message_id(event_id: str, sink: str, key_prefix: str) -> str:
    """The email's ``Message-ID``, the same on every send of one alert to one sink (a
    replay after a crash repeats it, so the receiver's mail system can discard the copy):
    ``<sw.<event id>.<sink>@<key prefix>.sessionwarden.invalid>``."""
    local = _ATOM.sub("-", f"sw.{event_id}.{sink}")[:120]
    domain = _ATOM.sub("-", key_prefix)[:40].strip(".-") or "sw"
    return f"<{local}@{domain}.sessionwarden.invalid>"


class SinkError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def plain(value: object, limit: int = 200) -> str:
    """Text safe in any sink: no control, format or separator characters, one line."""
    text = str(value) if value is not None else ""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).split())[:limit]


_SLACK = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "@": "＠", "*": "∗", "_": "＿", "~": "∼",
          "`": "ʼ"}


def slack(value: object, limit: int = 200) -> str:
    """`plain`, then Slack's markup made inert: ``& < >`` escaped as Slack requires (so no
    ``<!channel>``, ``<@U1>`` or ``<url|label>`` can form), ``@`` mentions and ``* _ ~ ```
    formatting replaced by look-alikes."""
    return "".join(_SLACK.get(ch, ch) for ch in plain(value, limit))


def summary(alert: Alert) -> str:
    """One line about an alert, from its cleaned details."""
    event = alert.event
    reason = event.details.get("reason")
    return plain(f"{event.type} ({event.severity}) for user {event.user_id}"
                 + (f": {reason}" if reason else ""), 400)


class LogSink:
    """One JSON line per alert on stdout (journald keeps it). ASCII only: no control
    character can reach the journal."""

    name = "log"
    record_each = False  # recorded per batch (a crash may repeat a line, never lose one)

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.lines: list[str] = []

    def send(self, alert: Alert) -> None:
        self.lines.append(json.dumps({"alert_id": alert.id, "event": alert.event.to_dict()},
                                     ensure_ascii=True, separators=(",", ":"), sort_keys=True))

    def flush(self) -> None:
        if self.lines:
            self.stream.write("\n".join(self.lines) + "\n")
            self.stream.flush()
            self.lines.clear()


class DesktopSink:
    """plyer notifications, best effort: alerts arriving within ``coalesce_window`` of the
    first make one notification (one alert: its summary; several: "N new alerts"). When no
    notification service works it logs once and carries on; it never holds delivery up."""

    name = "desktop"
    record_each = False

    def __init__(self, settings: DesktopSettings,
                 notify: Callable[..., Any] | None = None) -> None:
        self.settings = settings
        self._notify = notify
        self._lock = threading.Lock()
        self._pending: list[Alert] = []
        self._timer: threading.Timer | None = None
        self._warned = False
        self.notifications = 0

    def send(self, alert: Alert) -> None:
        with self._lock:
            self._pending.append(alert)
            if self._timer is None:
                self._timer = threading.Timer(self.settings.coalesce_window.total_seconds(),
                                              self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            alerts, self._pending = self._pending, []
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
        if not alerts:
            return
        if len(alerts) == 1:
            title = f"SessionWarden: {plain(alerts[0].event.type, 60)}"
            message = summary(alerts[0])
        else:
            kinds: dict[str, int] = {}
            for a in alerts:
                kinds[a.event.type] = kinds.get(a.event.type, 0) + 1
            title = f"SessionWarden: {len(alerts)} new alerts"
            message = ", ".join(f"{n} {plain(k, 40)}" for k, n in
                                sorted(kinds.items(), key=lambda kv: -kv[1]))
        # notification servers may render a subset of HTML in the body
        message = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        try:
            notify = self._notify
            if notify is None:
                import warnings

                from plyer import notification
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    notification.notify(title=title, message=message,
                                        app_name=self.settings.app_name, timeout=10)
            else:
                notify(title=title, message=message, app_name=self.settings.app_name)
            self.notifications += 1
        except Exception as exc:  # headless box, no service: best effort by design
            if not self._warned:
                self._warned = True
                log.warning("desktop notifications unavailable (%s: %s); carrying on without "
                            "them", type(exc).__name__, plain(exc))


def _sign_in_text(alert: Alert, view: Any, when: str) -> tuple[str, str]:
    details = alert.event.details
    device = details.get("device") or (view.device if view else None) or "an unknown device"
    code = details.get("country") or details.get("to_country") or (
        view.country if view else None)
    place = (country_name(code) or code) if code else "an unknown place"
    return plain(device, 60), plain(place, 60)


class EmailSink:
    """"New sign-in to your account: iPhone/Safari from Brazil at 14:02 UTC. Not you? <link>"
    to the address recorded at sign-in, for the configured types. The link is ``action_url``
    with a signed single-use revoke token."""

    name = "email"
    record_each = True

    def __init__(self, settings: EmailSettings, manager: Any, *, key_prefix: str = "sw") -> None:
        self.settings, self.mgr = settings, manager
        self.key_prefix = key_prefix

    def send(self, alert: Alert) -> None:
        event = alert.event
        if event.type not in self.settings.types:
            return
        to = self.mgr.user_email(event.user_id)
        if not to:
            log.info("no email address on file for the user of alert %s", alert.id)
            return
        if any(c in to for c in "\r\n,;<>\"") or to.count("@") != 1:
            log.warning("refused a malformed address for alert %s", alert.id)
            return
        view = None
        if event.session_id:
            views = self.mgr.get_active_sessions(event.user_id)
            view = next((v for v in views if v.session_id == event.session_id), None)
        device, place = _sign_in_text(alert, view, "")
        when = event.at.strftime("%H:%M UTC")
        lines = [f"New sign-in to your account: {device} from {place} at {when}."]
        if self.settings.action_url:
            token = self.mgr.alert_action_for(event)
            link = self.settings.action_url.replace("{token}", quote(token, safe=""))
            lines[0] += f" Not you? {link}"
        lines += ["", f"({plain(event.details.get('reason'), 300)})"
                  if event.details.get("reason") else "",
                  "If this was you, you can ignore this message."]
        msg = EmailMessage(policy=SMTP)
        msg["From"] = self.settings.from_
        msg["To"] = to
        msg["Subject"] = "New sign-in to your account"
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = message_id(event.id, self.name, self.key_prefix)
        msg["X-SessionWarden-Alert"] = plain(alert.id, 41)
        msg.set_content("\n".join(lines) + "\n")
        self._deliver(msg)

    def _deliver(self, msg: EmailMessage) -> None:
        url = urlsplit(self.settings.smtp_url)
        host, timeout = url.hostname or "localhost", self.settings.timeout.total_seconds()
        try:
            # verified TLS only: the certificate chain (ca_file, else the system store) and
            # the host name; a failed handshake or a server without STARTTLS is a SinkError
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            if url.scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, url.port or 465, timeout=timeout,
                                                      context=context)
            else:
                smtp = smtplib.SMTP(host, url.port or 25, timeout=timeout)
            with smtp:
                if self.settings.starttls:
                    smtp.starttls(context=context)
                if self.settings.user:
                    password = self.settings.password
                    if password is None:
                        raise SinkError(f"${PASSWORD_ENV} is not set")
                    smtp.login(self.settings.user, password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise SinkError(f"SMTP: {type(exc).__name__}: {plain(exc)}") from None
        except UnicodeError:
            # smtplib sends the login as ASCII; the error's text would quote the password's
            # characters, so it is not repeated here
            raise SinkError("SMTP: the login or password is not ASCII") from None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 with the secret over ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "v1=" + mac.hexdigest()


def slack_text(alert: Alert) -> str:
    event = alert.event
    reason = event.details.get("reason")
    text = (f"*SessionWarden* {slack(event.severity, 20)} alert: {slack(event.type, 40)} "
            f"for user {slack(event.user_id, 100)}")
    if reason:
        text += f" — {slack(reason, 300)}"
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class WebhookSink:
    """A JSON POST of the whole event plus a Slack-compatible ``text``, signed (see
    `signature`; the timestamp is in `TIMESTAMP_HEADER`). 2xx is delivered; anything else,
    or no answer within ``timeout``, is retried later, honouring ``Retry-After``."""

    name = "webhook"
    record_each = True

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings

    def send(self, alert: Alert) -> None:
        body = json.dumps({"alert_id": alert.id, "event": alert.event.to_dict(),
                           "text": slack_text(alert)},
                          ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in settings
            self.settings.url or "", data=body, method="POST", headers={
                "Content-Type": "application/json",
                "Idempotency-Key": alert.event.id,  # receivers may dedupe on it
                "User-Agent": f"sessionwarden-daemon/{__version__}",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature(self.settings.secret or "", timestamp, body),
            })
        try:
            with urllib.request.urlopen(  # noqa: S310 - http(s) only, checked in settings
                    request, timeout=self.settings.timeout.total_seconds()) as reply:
                reply.read(1024)
        except urllib.error.HTTPError as exc:
            raise SinkError(f"webhook: HTTP {exc.code}",
                            retry_after=_retry_after(exc.headers.get("Retry-After"))) from None
        except (OSError, ValueError) as exc:
            raise SinkError(f"webhook: {type(exc).__name__}: {plain(exc)}") from None
