"""The example web app (examples/webapp.py) over real HTTP on loopback, on a real
redis-server: two devices sign in, the devices page lists both with their labels, a password
change signs the other device out, a "Not you?" link from the daemon's own email sink (sent to
a real SMTP server) ends the attacker's session; cookie flags, CSRF and escaping hold."""

from __future__ import annotations

import re
import time
from http import cookiejar
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("flask")
from conftest import IP_NL, IPHONE_SAFARI, MAC_CHROME, WINDOWS_EDGE
from webapp_support import ALICE, PASSWORD, Device, device_rows, serve

from sessionwarden import SessionManager, Settings


def live(mgr: SessionManager, user: str = ALICE) -> list[str]:
    return [v.session_id for v in mgr.get_active_sessions(user)]


def test_two_devices_then_a_password_change_signs_the_other_out(real_backend) -> None:
    with serve(real_backend.url) as web:
        laptop, phone = Device(web.base, MAC_CHROME), Device(web.base, IPHONE_SAFARI)
        laptop.sign_in()
        html = phone.sign_in()
        rows = device_rows(html)
        assert len(rows) == 2 and sorted(rows) == sorted(live(web.mgr))
        labels = " | ".join(rows.values())
        assert "Mac/Chrome — " in labels and "iPhone/Safari — " in labels
        assert "Active " in labels and labels.count("this device") == 1
        current = next(sid for sid, text in rows.items() if "this device" in text)
        assert "iPhone/Safari" in rows[current]

        csrf = phone.csrf("/password")
        status, html, _ = phone.post("/password", {"csrf": csrf, "current": PASSWORD,
                                                   "new": "a brand new passphrase"})
        assert status == 200 and "1 other session(s) signed out" in html
        assert live(web.mgr) == [current]  # the laptop's session is gone in Redis
        status, html, _ = laptop.get("/devices")
        assert "Sign in" in html and "Your devices" not in html  # and the laptop is out
        status, html, _ = phone.get("/devices")
        assert list(device_rows(html)) == [current]
        ended = [e for e in web.mgr.recent_events(50) if e.type == "session_revoked"]
        assert ended and ended[0].details.get("reason") == "password changed"


def test_revoke_one_device_from_the_page(real_backend) -> None:
    with serve(real_backend.url) as web:
        laptop, phone = Device(web.base, MAC_CHROME), Device(web.base, IPHONE_SAFARI)
        phone.sign_in()
        html = laptop.sign_in()
        other = next(sid for sid, text in device_rows(html).items() if "this device" not in text)
        csrf = laptop.csrf("/devices", f"/devices/{other}/revoke")  # the row's own form
        status, html, _ = laptop.post(f"/devices/{other}/revoke", {"csrf": csrf})
        assert status == 200 and "Signed that device out." in html
        assert other not in device_rows(html) and other not in live(web.mgr)
        assert "Sign in" in phone.get("/devices")[1]


def test_not_me_link_from_the_daemons_email_ends_the_attackers_session(real_backend) -> None:
    """A sign-in from a new country raises an alert; the daemon's email sink (the real one)
    mails the owner through a real SMTP server; the link in that email, opened and confirmed,
    ends the attacker's session and only that one."""
    from sessionwarden_console.demo.mail import mail_server
    from sessionwarden_daemon.settings import EmailSettings
    from sessionwarden_daemon.sinks import EmailSink

    with serve(real_backend.url) as web, mail_server(lambda line: None) as (smtp_url, box):
        owner = Device(web.base, MAC_CHROME)
        owner.sign_in()
        web.mgr.ensure_alert_group()
        attacker = web.mgr.create_session(ALICE, user_agent=WINDOWS_EDGE, ip=IP_NL,
                                          email=ALICE)
        batch = web.mgr.read_alerts("test", count=20)
        alert = next(a for a in batch.alerts
                     if a.event.type in ("new_country", "new_device", "impossible_travel")
                     and a.event.session_id == attacker.session_id)
        sink = EmailSink(EmailSettings(enabled=True, smtp_url=smtp_url,
                                       action_url=web.base + "/not-me?t={token}"),
                         web.mgr, key_prefix=web.prefix)
        sink.send(alert)
        deadline = time.monotonic() + 10
        while not box.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.messages, "no email arrived"
        body = box.messages[0].get_body(("plain",)).get_content()
        link = re.search(r"Not you\? (\S+)", body).group(1)
        assert link.startswith(web.base + "/not-me?t=")

        stranger = Device(web.base, IPHONE_SAFARI)  # the owner's mail app: not signed in
        status, html, _ = stranger.get(link)
        assert status == 200 and "Sign that session out" in html
        assert attacker.session_id in live(web.mgr)  # a GET never revokes
        token = unquote(urlsplit(link).query.removeprefix("t="))
        status, html, _ = stranger.post("/not-me", {"t": token})
        assert status == 200 and "Done: 1 session(s) signed out" in html
        sessions = live(web.mgr)
        assert attacker.session_id not in sessions and len(sessions) == 1
        status, html, _ = stranger.post("/not-me", {"t": token})
        assert status == 400 and "expired or was used" in html  # single use


def set_cookies(headers, name: str) -> str:
    return next(v for v in headers.get_all("Set-Cookie") if v.startswith(name + "="))


def test_cookie_flags(real_backend) -> None:
    """Secure (the default), HttpOnly, SameSite=Lax on the session and sign-in cookies. Over
    plain http a client never sends a Secure cookie back, so the signed-in half of this check
    reads the headers of a sign-in made with the cookie given by hand."""
    with serve(real_backend.url, cookie_secure=True) as web:
        device = Device(web.base, MAC_CHROME)
        _, html, headers = device.get("/login")
        pre = set_cookies(headers, "sw_login_csrf")
        assert "Secure" in pre and "HttpOnly" in pre and "SameSite=Lax" in pre
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        by_hand = Device(web.base, MAC_CHROME)  # sends the Secure cookie as if over https
        by_hand.jar.set_cookie(cookiejar.Cookie(
            0, "sw_login_csrf", csrf, None, False, "127.0.0.1", False, False, "/", True,
            False, None, False, None, None, {}))
        status, _, reply_headers = by_hand.post("/login", {"csrf": csrf, "email": ALICE,
                                                           "password": PASSWORD},
                                                follow=False)
        assert status == 302
        session = set_cookies(reply_headers, "sw_session")
        assert "Secure" in session and "HttpOnly" in session and "SameSite=Lax" in session


def test_csrf_is_required_on_every_state_change(real_backend) -> None:
    with serve(real_backend.url) as web:
        device = Device(web.base, MAC_CHROME)
        device.sign_in()
        sid = live(web.mgr)[0]
        assert device.post(f"/devices/{sid}/revoke", {})[0] == 400
        assert device.post(f"/devices/{sid}/revoke", {"csrf": "x" * 64})[0] == 400
        assert device.post("/password", {"current": PASSWORD, "new": "zzzzzzzzzz"})[0] == 400
        assert device.post("/logout", {})[0] == 400
        assert Device(web.base, MAC_CHROME).post("/login", {
            "csrf": "nope", "email": ALICE, "password": PASSWORD})[0] == 400
        assert live(web.mgr) == [sid]


def test_hostile_text_is_escaped(real_backend) -> None:
    with serve(real_backend.url) as web:
        viewer = Device(web.base, MAC_CHROME)
        viewer.sign_in()
        Device(web.base, '<script>alert(1)</script> "><img src=x onerror=alert(2)>').sign_in()
        html = viewer.get("/devices")[1]
        assert "<script>alert" not in html and "<img src=x" not in html
        html = viewer.get('/not-me?t="><script>x</script>')[1]
        assert "<script>x</script>" not in html and "&lt;script&gt;" in html


def test_another_users_session_cannot_be_revoked(real_backend) -> None:
    with serve(real_backend.url) as web:
        alice, bob = Device(web.base, MAC_CHROME), Device(web.base, IPHONE_SAFARI)
        alice.sign_in()
        bob.sign_in("bob@example.com")
        bobs = live(web.mgr, "bob@example.com")
        csrf = alice.csrf("/devices", "/logout")
        status, _, _ = alice.post(f"/devices/{bobs[0]}/revoke", {"csrf": csrf})
        assert status in (200, 404)
        assert live(web.mgr, "bob@example.com") == bobs


def test_store_down_means_signed_out(real_backend) -> None:
    """Fail closed: with Redis unreachable, a cookie is no sign-in (never a 500 with data)."""
    with serve(real_backend.url) as web:
        device = Device(web.base, MAC_CHROME)
        device.sign_in()
        broken = SessionManager.from_url("redis://127.0.0.1:1/0", Settings(
            secret="x" * 40, key_prefix=web.prefix))
        try:
            from webapp_support import load_example
            app = load_example().create_app(broken, users={ALICE: PASSWORD})
            client = app.test_client()
            client.set_cookie("sw_session", device.cookie("sw_session") or "")
            reply = client.get("/devices")
            assert reply.status_code == 302 and reply.headers["Location"].endswith("/login")
        finally:
            broken.close()
