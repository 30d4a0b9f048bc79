"""The email sink's TLS and login paths (issue #8: "smtplib; STARTTLS/SMTPS/auth from config"),
each through the daemon as a real process (``python -m sessionwarden_daemon``, its own
`EmailSink` and its retry / dead-letter path) against a real aiosmtpd server on 127.0.0.1
that speaks STARTTLS, implicit TLS (SMTPS) or AUTH.

Certificates are made per test session with ``/usr/bin/openssl``: a throwaway CA whose
server certificate names 127.0.0.1 and localhost, the same CA's certificate for another
name, and a second ("rogue") CA the daemon is not told about. The daemon trusts the first
CA through ``[alerts.email] ca_file``; everything else must be refused: no message may reach
the server unverified or in clear, and the failure must be retried, then dead-lettered."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from conftest import IP_NL, IP_US, IPHONE_SAFARI, MAC_CHROME, Backend, free_port

pytest.importorskip("sessionwarden_daemon")
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sessionwarden_daemon.settings import load_config
from sessionwarden_daemon.sinks import PASSWORD_ENV
from test_daemon import Daemon, wait_for

from sessionwarden.config import ConfigError

pytestmark = pytest.mark.slow
OPENSSL = "/usr/bin/openssl"
USER = "alerts-bot"
RIGHT = "right-Pa55word-91ab"
WRONG = "wrong-Pa55word-7f3c"
EMAIL_TYPES = (b"new_device", b"new_country", b"impossible_travel")


# -- certificates --------------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA the daemon is given as ca_file
    good: tuple[Path, Path]  # (cert, key) for 127.0.0.1 / localhost, signed by ca
    wrong_name: tuple[Path, Path]  # signed by ca, for mail.example.invalid only
    rogue: tuple[Path, Path]  # for 127.0.0.1 / localhost, signed by an unknown CA

    @staticmethod
    def server_context(pair: tuple[Path, Path]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(pair[0]), str(pair[1]))
        return ctx


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(d: Path, name: str) -> tuple[Path, Path]:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN=SessionWarden test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


def _make_leaf(d: Path, name: str, ca: tuple[Path, Path], san: str) -> tuple[Path, Path]:
    (d / f"{name}.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={name}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", f"{name}.ext", cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if not shutil.which(OPENSSL):
        pytest.skip(f"{OPENSSL} not found")
    d = tmp_path_factory.mktemp("pki")
    ca = _make_ca(d, "ca")
    rogue_ca = _make_ca(d, "rogue-ca")
    loopback = "IP:127.0.0.1,DNS:localhost"
    return Pki(ca=ca[0], good=_make_leaf(d, "server", ca, loopback),
               wrong_name=_make_leaf(d, "other", ca, "DNS:mail.example.invalid"),
               rogue=_make_leaf(d, "rogue", rogue_ca, loopback))


# -- the SMTP server -----------------------------------------------------------------------

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool  # the message came over an encrypted connection
    login: bytes | None  # who authenticated, as the server saw it

    @property
    def message(self) -> Any:
        return message_from_bytes(self.content, policy=policy.default)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.logins: list[tuple[bytes, bool]] = []  # every AUTH attempt: (login, accepted)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = session.auth_data if session.authenticated else None
        self.messages.append(Received(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            login=auth.login if isinstance(auth, LoginPassword) else None))
        return "250 OK"

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == RIGHT.encode())
        self.logins.append((getattr(auth_data, "login", b""), ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class Servers:
    """aiosmtpd controllers on 127.0.0.1, stopped at the end of the test."""

    def __init__(self) -> None:
        self.controllers: list[Controller] = []

    def start(self, **kwargs: Any) -> tuple[Mailbox, int]:
        box, port = Mailbox(), free_port()
        if kwargs.pop("auth", False):
            # aiosmtpd's auth_require_tls looks only at STARTTLS, so with implicit TLS it
            # would never offer AUTH; there the whole connection is TLS (asserted per message)
            kwargs.update(authenticator=box.authenticator, auth_required=True,
                          auth_require_tls="ssl_context" not in kwargs)
        controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        self.controllers.append(controller)
        return box, port

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    made = Servers()
    yield made
    made.stop()


@pytest.fixture
def daemon(tmp_path: Path, real_backend: Backend) -> Iterator[Daemon]:
    made = Daemon(tmp_path, real_backend.url or "")
    yield made
    made.close()


# -- helpers -------------------------------------------------------------------------------

def sign_ins(mgr: Any, user: str = "alice", email: str = "alice@example.com") -> int:
    """Two sign-ins of one user (the second raises email alerts); how many alerts to email."""
    mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US, email=email)
    mgr.create_session(user, user_agent=IPHONE_SAFARI, ip=IP_NL, email=email)
    return emailable(mgr)


def emailable(mgr: Any) -> int:
    return sum(1 for _, f in mgr.client.xrange(mgr.core.keys.alerts)
               if f[b"type"] in EMAIL_TYPES)


def configure(daemon: Daemon, smtp_url: str, *, attempts: int = 3, **email: Any) -> None:
    daemon.sections["daemon"] = {"max_attempts": attempts}
    daemon.sections["alerts"] = {"sinks": ["log", "email"], "email": {
        "enabled": True, "smtp_url": smtp_url, "timeout": "3s",
        "from": "Security <security@example.com>", **email}}


def dead_letters(mgr: Any, count: int) -> list[Any]:
    return wait_for(lambda: (d := mgr.dead_letters()) and len(d) >= count and d,
                    timeout=30, what="the dead letters")


def assert_refused(daemon: Daemon, mgr: Any, box: Mailbox, count: int, attempts: int,
                   *fragments: str) -> list[Any]:
    """Every email alert retried ``attempts`` times then dead-lettered, with an error naming
    the cause; nothing reached the server; the stream drained (the rest went on)."""
    letters = dead_letters(mgr, count)
    assert len(letters) == count
    for letter in letters:
        assert letter.sink == "email" and letter.attempts == attempts, letter
        assert letter.error.startswith("SMTP: ")
        assert all(f in letter.error for f in fragments), letter.error
    wait_for(lambda: mgr.alert_status().pending == 0, what="acknowledged")
    assert box.messages == []
    err = daemon.stderr()
    assert "email failed (attempt 1)" in err and f"given up after {attempts} attempts" in err
    return letters


# -- 1. STARTTLS ---------------------------------------------------------------------------

def test_starttls_verified_against_ca_file_delivers(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", starttls=True, ca_file=str(pki.ca))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    assert count
    daemon.start()
    wait_for(lambda: len(box.messages) >= count, what="the emails")
    wait_for(lambda: mgr.alert_status().pending == 0, what="acknowledged")
    assert len(box.messages) == count and mgr.dead_letters() == []
    for got in box.messages:
        assert got.tls and got.login is None
        assert got.rcpt_tos == ["alice@example.com"]
        assert got.message["Subject"] == "New sign-in to your account"


def test_starttls_demanded_but_not_offered_is_refused_never_sent_in_clear(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    box, port = servers.start()  # plain SMTP: no STARTTLS in its EHLO (a downgrade)
    configure(daemon, f"smtp://127.0.0.1:{port}", starttls=True, ca_file=str(pki.ca))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    assert_refused(daemon, mgr, box, count, 3, "SMTPNotSupportedError", "STARTTLS")


@pytest.mark.parametrize(("cert", "fragment"), [
    ("rogue", "CERTIFICATE_VERIFY_FAILED"),  # a chain the daemon does not trust
    ("wrong_name", "CERTIFICATE_VERIFY_FAILED"),  # trusted CA, another host's certificate
])
def test_starttls_with_an_unverifiable_certificate_is_refused(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki, cert: str,
        fragment: str) -> None:
    box, port = servers.start(tls_context=pki.server_context(getattr(pki, cert)),
                              require_starttls=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", starttls=True, ca_file=str(pki.ca))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    assert_refused(daemon, mgr, box, count, 3, fragment)


def test_without_ca_file_the_system_store_is_used_so_a_private_ca_is_refused(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    """No ca_file: verification stays on (the system trust store), never "no verification"."""
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", attempts=2, starttls=True)
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    assert_refused(daemon, mgr, box, count, 2, "CERTIFICATE_VERIFY_FAILED")


def test_a_missing_ca_file_fails_delivery_rather_than_skipping_verification(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki,
        tmp_path: Path) -> None:
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", attempts=2, starttls=True,
              ca_file=str(tmp_path / "no-such-ca.pem"))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    assert_refused(daemon, mgr, box, count, 2, "FileNotFoundError")


# -- 2. SMTPS ------------------------------------------------------------------------------

def test_smtps_implicit_tls_delivers(daemon: Daemon, real_backend: Backend,
                                     servers: Servers, pki: Pki) -> None:
    box, port = servers.start(ssl_context=pki.server_context(pki.good))
    configure(daemon, f"smtps://127.0.0.1:{port}", ca_file=str(pki.ca))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    wait_for(lambda: len(box.messages) >= count, what="the emails")
    wait_for(lambda: mgr.alert_status().pending == 0, what="acknowledged")
    assert len(box.messages) == count and mgr.dead_letters() == []
    assert all(got.tls and got.rcpt_tos == ["alice@example.com"] for got in box.messages)


def test_smtps_with_an_untrusted_certificate_is_refused(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    box, port = servers.start(ssl_context=pki.server_context(pki.rogue))
    configure(daemon, f"smtps://127.0.0.1:{port}", ca_file=str(pki.ca))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    assert_refused(daemon, mgr, box, count, 3, "CERTIFICATE_VERIFY_FAILED")


# -- 3. AUTH -------------------------------------------------------------------------------

def _secret_forms(password: str) -> list[str]:
    """The password and what an SMTP exchange would carry of it (AUTH PLAIN and LOGIN)."""
    plain = base64.b64encode(f"\0{USER}\0{password}".encode()).decode()
    return [password, plain, base64.b64encode(password.encode()).decode()]


def _transcripts(daemon: Daemon, mgr: Any) -> str:
    audit = " ".join(repr(e) for e in mgr.audit_trail())
    return daemon.stderr() + (daemon.tmp / "d.out").read_text() + audit


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_auth_with_the_password_from_the_environment_sends_as_that_login(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki,
        scheme: str) -> None:
    ctx = pki.server_context(pki.good)
    if scheme == "starttls":
        box, port = servers.start(tls_context=ctx, require_starttls=True, auth=True)
        configure(daemon, f"smtp://127.0.0.1:{port}", starttls=True, ca_file=str(pki.ca),
                  user=USER)
    else:
        box, port = servers.start(ssl_context=ctx, auth=True)
        configure(daemon, f"smtps://127.0.0.1:{port}", ca_file=str(pki.ca), user=USER)
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start(env={PASSWORD_ENV: RIGHT})
    wait_for(lambda: len(box.messages) >= count, what="the emails")
    wait_for(lambda: mgr.alert_status().pending == 0, what="acknowledged")
    assert len(box.messages) == count and mgr.dead_letters() == []
    assert all(got.login == USER.encode() and got.tls for got in box.messages)
    assert box.logins and all(ok for _, ok in box.logins)
    assert not any(s in _transcripts(daemon, mgr) for s in _secret_forms(RIGHT))


def test_auth_with_a_wrong_password_is_retried_then_dead_lettered_without_leaking_it(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True,
                              auth=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", starttls=True, ca_file=str(pki.ca),
              user=USER)
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start(env={PASSWORD_ENV: WRONG})
    letters = assert_refused(daemon, mgr, box, count, 3, "SMTPAuthenticationError", "535")
    assert box.logins and not any(ok for _, ok in box.logins)
    assert {login for login, _ in box.logins} == {USER.encode()}  # the server saw the tries
    secrets = _secret_forms(WRONG)
    assert not any(s in letter.error for letter in letters for s in secrets)
    assert not any(s in _transcripts(daemon, mgr) for s in secrets)
    assert not any(s in repr(letter) for letter in letters for s in secrets)


def test_auth_without_the_password_variable_is_retried_then_dead_lettered(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True,
                              auth=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", attempts=2, starttls=True,
              ca_file=str(pki.ca), user=USER)
    daemon.env.pop(PASSWORD_ENV, None)
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start()
    letters = dead_letters(mgr, count)
    assert all(PASSWORD_ENV in d.error and d.attempts == 2 for d in letters)
    assert box.messages == [] and box.logins == []


def test_a_password_that_is_not_ascii_is_dead_lettered_without_being_quoted(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    """smtplib encodes the login as ASCII: the UnicodeEncodeError it raises (which quotes the
    password's characters) becomes a plain delivery failure that never repeats them."""
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True,
                              auth=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", attempts=2, starttls=True,
              ca_file=str(pki.ca), user=USER)
    odd = "pässwörd-\u00e9-secret"
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    count = sign_ins(mgr)
    daemon.start(env={PASSWORD_ENV: odd})
    letters = dead_letters(mgr, count)
    assert all("not ASCII" in d.error and d.attempts == 2 for d in letters)
    assert not any(ch in letter.error for letter in letters for ch in ("ä", "ö", "é", "\\x"))
    assert box.messages == []


@pytest.mark.parametrize("url", ["smtp://127.0.0.1:2525", "smtp://mail.example.com:587"])
def test_a_login_over_plain_smtp_is_a_config_error(url: str) -> None:
    """smtplib would send AUTH over an unencrypted connection when the server (or anyone in
    the middle) offers it: ``user`` requires smtps:// or starttls = true."""
    env = {"SESSIONWARDEN_ALERTS__EMAIL__SMTP_URL": url,
           "SESSIONWARDEN_ALERTS__EMAIL__USER": USER, PASSWORD_ENV: RIGHT}
    with pytest.raises(ConfigError, match=r"alerts\.email\.user") as info:
        load_config(env=env)
    assert "never sent in clear" in str(info.value) and RIGHT not in str(info.value)
    assert load_config(env={**env, "SESSIONWARDEN_ALERTS__EMAIL__STARTTLS": "true"}
                       ).alerts.email.user == USER
    with pytest.raises(ConfigError, match=r"alerts\.email\.ca_file"):
        load_config(env={"SESSIONWARDEN_ALERTS__EMAIL__SMTP_URL": url,
                         "SESSIONWARDEN_ALERTS__EMAIL__CA_FILE": "/etc/ssl/ca.pem"})


# -- 4. header safety ----------------------------------------------------------------------

def test_an_address_with_crlf_never_becomes_a_header(
        daemon: Daemon, real_backend: Backend, servers: Servers, pki: Pki) -> None:
    box, port = servers.start(tls_context=pki.server_context(pki.good), require_starttls=True)
    configure(daemon, f"smtp://127.0.0.1:{port}", starttls=True, ca_file=str(pki.ca))
    mgr = real_backend.manager()
    mgr.ensure_alert_group()
    hostile = "eve@example.com\r\nBcc: thief@evil.example\r\nSubject: pwned"
    with pytest.raises(ValueError, match="email"):  # refused upstream, at sign-in
        mgr.create_session("eve", user_agent=MAC_CHROME, ip=IP_US, email=hostile)
    # a record written past the API (an older version, a hand edit): the sink refuses it too
    mgr.create_session("eve", user_agent=MAC_CHROME, ip=IP_US, email="eve@example.com")
    mgr.client.hset(mgr.core.keys.for_user("eve").record, "em", hostile)
    mgr.create_session("eve", user_agent=IPHONE_SAFARI, ip=IP_NL)
    eve = emailable(mgr)
    assert eve
    assert mgr.user_email("eve") == hostile
    count = sign_ins(mgr, "bob", "bob@example.com") - eve  # bob's
    daemon.start()
    wait_for(lambda: len(box.messages) >= count, what="bob's emails")
    wait_for(lambda: mgr.alert_status().pending == 0, what="acknowledged")
    assert "refused a malformed address" in daemon.stderr()
    assert mgr.dead_letters() == []
    assert len(box.messages) == count
    for got in box.messages:
        assert got.rcpt_tos == ["bob@example.com"]
        msg = got.message
        assert msg.get_all("To") == ["bob@example.com"] and msg["Bcc"] is None
        assert msg.get_all("Subject") == ["New sign-in to your account"]
        assert b"evil.example" not in got.content and b"pwned" not in got.content
