"""A complete small web app on SessionWarden (Flask): sign-in, a "your devices" page with
per-session revoke, password change that signs every other device out, sign-out, and the
"Not you?" endpoint the daemon's alert emails link to.

Where each library call goes:

    sign-in              -> mgr.create_session(user, user_agent=, ip=, email=)
    every request        -> mgr.validate_session(token, ip=, user_agent=)   (fail closed)
    "your devices"       -> mgr.get_active_sessions(user, current_token=token)
    revoke one device    -> mgr.revoke_session(user, session_id, actor=, reason=)
    password change      -> mgr.revoke_all_sessions(user, except_token=token, reason=)
    "Not you?" link      -> mgr.revoke_from_alert(link_token)

Security: the session token lives only in an HttpOnly, Secure, SameSite=Lax cookie (Redis
keeps its hash); every state-changing form carries a CSRF token bound to the session (the
sign-in form: to a pre-session cookie); templates are autoescaped (Jinja); pages are
``no-store`` with a strict Content-Security-Policy and ``Referrer-Policy: no-referrer`` (a
"Not you?" URL holds a one-time token). The daemon's ``[alerts.email] action_url`` is this
app's ``https://<host>/not-me?t={token}``: a GET only asks (mail scanners fetch links), the
POST revokes.

Run it (users are in memory: alice@example.com / "correct horse battery staple"):

    REDIS_URL=redis://localhost:6379/0 SESSIONWARDEN_SECRET=$(openssl rand -hex 32) \\
        python examples/webapp.py          # http://127.0.0.1:5000 (--insecure-cookies: plain http)

Behind a proxy, take the client address from it (werkzeug's ProxyFix) before `create_app`'s
``request.remote_addr`` means anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, abort, g, redirect, render_template_string, request, url_for
from markupsafe import Markup
from werkzeug.security import check_password_hash, generate_password_hash

from sessionwarden import SessionManager, Settings, StoreUnavailable
from sessionwarden.errors import InvalidAlertAction

COOKIE = "sw_session"
LOGIN_CSRF_COOKIE = "sw_login_csrf"

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Example app</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto;
        padding: 0 1rem; color: #1d2433 }
 h1 { font-size: 1.5rem } .muted { color: #5b6478 }
 .note { background: #eef6ee; padding: .5rem 1rem; border-radius: 6px }
 ul.devices { list-style: none; padding: 0 }
 ul.devices li { display: flex; justify-content: space-between; align-items: center;
                 border: 1px solid #d8dce6; border-radius: 8px; padding: .75rem 1rem;
                 margin: .5rem 0 }
 .label { font-weight: 600 } .current { color: #1f7a3a; font-size: .9rem }
 form.inline { margin: 0 } nav form { display: inline }
 button { font: inherit; padding: .3rem .8rem; border-radius: 6px; cursor: pointer;
          border: 1px solid #b3261e; background: #fff; color: #b3261e }
 label { display: block; margin: .5rem 0 } input { font: inherit; padding: .3rem; width: 20rem }
</style></head><body>
{% if user %}<nav class="muted">Signed in as {{ user }} ·
 <a href="{{ url_for('devices') }}">Your devices</a> ·
 <a href="{{ url_for('password') }}">Change password</a> ·
 <form method="post" action="{{ url_for('logout') }}">
 <input type="hidden" name="csrf" value="{{ csrf }}"><button>Sign out</button></form></nav>
{% endif %}
{{ body }}
</body></html>"""

LOGIN = """<h1>Sign in</h1>{% if error %}<p class="note">{{ error }}</p>{% endif %}
<form method="post"><input type="hidden" name="csrf" value="{{ login_csrf }}">
<label>Email <input name="email" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Sign in</button></form>"""

DEVICES = """<h1>Your devices</h1>{% if notice %}<p class="note">{{ notice }}</p>{% endif %}
<p class="muted">Everywhere you are signed in. Revoke any you do not recognise.</p>
<ul class="devices">{% for s in sessions %}
<li id="s-{{ s.session_id }}" data-session="{{ s.session_id }}"><span>
 <span class="label">{{ s.label }}</span> <span class="muted">· {{ s.ip }}</span>
 {%- if s.current %} <span class="current">· this device</span>{% endif %}</span>
 {% if not s.current %}<form class="inline" method="post"
   action="{{ url_for('revoke', session_id=s.session_id) }}">
 <input type="hidden" name="csrf" value="{{ csrf }}"><button>Revoke</button></form>{% endif %}
</li>{% endfor %}</ul>"""

PASSWORD = """<h1>Change password</h1>{% if error %}<p class="note">{{ error }}</p>{% endif %}
<form method="post"><input type="hidden" name="csrf" value="{{ csrf }}">
<label>Current password
 <input name="current" type="password" autocomplete="current-password"></label>
<label>New password <input name="new" type="password" autocomplete="new-password"></label>
<button>Change password and sign out other devices</button></form>"""

NOT_ME = """<h1>Was this sign-in not you?</h1>{% if done is none %}
<form method="post"><input type="hidden" name="t" value="{{ token }}">
<button>Sign that session out</button></form>
{% else %}<p class="note">{{ done }}</p>{% endif %}"""


def create_app(mgr: SessionManager, *, users: Mapping[str, str] | None = None,
               cookie_secure: bool = True, csrf_key: bytes | None = None,
               geo_headers: bool = False) -> Flask:
    """The app on ``mgr`` (a manager with the deployment secret). ``users``: email ->
    password (hashed here). ``cookie_secure=False`` only for plain-http development.
    ``geo_headers``: sign-ins take the country and city from ``CF-IPCountry`` /
    ``CF-IPCity`` — only behind a proxy that sets them (Cloudflare), as a client can forge
    them; otherwise the library's offline lookup of the address gives the country."""
    app = Flask(__name__)
    passwords = {u: generate_password_hash(p) for u, p in (users or {}).items()}
    key = csrf_key or secrets.token_bytes(32)

    def csrf_for(session_id: str) -> str:
        return hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()

    def page(title: str, template: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("csrf", g.get("csrf"))
        body = Markup(render_template_string(template, **context))  # rendered, escaped already
        html = render_template_string(LAYOUT, title=title, body=body,
                                      user=g.get("user"), csrf=g.get("csrf"))
        return Response(html, status=status, mimetype="text/html")

    def client() -> dict[str, Any]:
        """What the library learns about the client from each request: its address, its user
        agent and (Chromium browsers) its Sec-CH-UA* client hints."""
        return {"ip": request.remote_addr or "127.0.0.1",
                "user_agent": request.headers.get("User-Agent"),
                "client_hints": request.headers}

    @app.before_request
    def load_session() -> None:
        g.session, g.user, g.csrf = None, None, None
        token = request.cookies.get(COOKIE)
        if not token:
            return
        try:  # one round trip; anything that is not a live token is None
            session = mgr.validate_session(token, **client())
        except StoreUnavailable:
            session = None  # fail closed: Redis down means "not signed in"
        if session is not None:
            g.session, g.user, g.csrf = session, session.user_id, csrf_for(session.session_id)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def set_cookie(response: Response, name: str, value: str, **kw: Any) -> None:
        response.set_cookie(name, value, httponly=True, secure=cookie_secure, samesite="Lax",
                            path="/", **kw)

    def require_user() -> str:
        if g.user is None:
            abort(redirect(url_for("login")))
        return str(g.user)

    def check_csrf() -> None:
        sent = request.form.get("csrf", "")
        if g.csrf is None or not hmac.compare_digest(sent, g.csrf):
            abort(400, "CSRF token missing or wrong")

    @app.get("/")
    def index() -> Response:
        return redirect(url_for("devices" if g.user else "login"))  # type: ignore[return-value]

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        error = None
        if request.method == "POST":
            if not hmac.compare_digest(request.form.get("csrf", ""), login_csrf):
                abort(400, "CSRF token missing or wrong")
            email = request.form.get("email", "").strip().lower()
            stored = passwords.get(email)
            if stored and check_password_hash(stored, request.form.get("password", "")):
                where = {"country": request.headers.get("CF-IPCountry"),
                         "city": request.headers.get("CF-IPCity")} if geo_headers else {}
                try:
                    created = mgr.create_session(email, email=email, **where, **client())
                except StoreUnavailable:
                    abort(503, "Try again in a moment")
                response = redirect(url_for("devices"))
                set_cookie(response, COOKIE, created.token)
                response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
                return response  # type: ignore[return-value]
            error = "Wrong email or password."
        response = page("Sign in", LOGIN, 401 if error else 200, error=error,
                        login_csrf=login_csrf)
        set_cookie(response, LOGIN_CSRF_COOKIE, login_csrf, max_age=3600)
        return response

    @app.get("/devices")
    def devices() -> Response:
        user = require_user()
        sessions = mgr.get_active_sessions(user, current_token=request.cookies.get(COOKIE))
        return page("Your devices", DEVICES, sessions=sessions,
                    notice=request.args.get("notice"))

    @app.post("/devices/<session_id>/revoke")
    def revoke(session_id: str) -> Response:
        user = require_user()
        check_csrf()
        try:
            ended = mgr.revoke_session(user, session_id, actor=f"user:{user}",
                                       reason="revoked on the devices page")
        except ValueError:
            abort(404)
        notice = "Signed that device out." if ended else "That session had already ended."
        return redirect(url_for("devices", notice=notice))  # type: ignore[return-value]

    @app.route("/password", methods=["GET", "POST"])
    def password() -> Response:
        user = require_user()
        error = None
        if request.method == "POST":
            check_csrf()
            if not check_password_hash(passwords[user], request.form.get("current", "")):
                error = "The current password is wrong."
            elif len(request.form.get("new", "")) < 8:
                error = "Choose a new password of at least 8 characters."
            else:
                passwords[user] = generate_password_hash(request.form["new"])
                ended = mgr.revoke_all_sessions(user, except_token=request.cookies.get(COOKIE),
                                                actor=f"user:{user}", reason="password changed")
                return redirect(url_for(  # type: ignore[return-value]
                    "devices", notice=f"Password changed; {ended} other session(s) signed out."))
        return page("Change password", PASSWORD, 400 if error else 200, error=error)

    @app.post("/logout")
    def logout() -> Response:
        user = require_user()
        check_csrf()
        mgr.revoke_session(user, g.session.session_id, actor=f"user:{user}", reason="signed out")
        response = redirect(url_for("login"))
        response.delete_cookie(COOKIE, path="/")
        return response  # type: ignore[return-value]

    @app.route("/not-me", methods=["GET", "POST"])
    def not_me() -> Response:
        """The daemon's "Not you?" link. No sign-in needed: the signed, single-use, expiring
        token is the permission (and no CSRF token: a forger would need that token)."""
        if request.method == "GET":
            return page("Not you?", NOT_ME, token=request.args.get("t", ""), done=None)
        try:
            count = mgr.revoke_from_alert(request.form.get("t", ""))
        except InvalidAlertAction:
            return page("Not you?", NOT_ME, 400, done="This link has expired or was used.")
        return page("Not you?", NOT_ME, done=f"Done: {count} session(s) signed out. "
                    "Change your password next.")

    return app


def main(argv: list[str]) -> int:
    mgr = SessionManager.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
                                  Settings(secret=os.environ["SESSIONWARDEN_SECRET"]))
    app = create_app(mgr, users={"alice@example.com": "correct horse battery staple"},
                     cookie_secure="--insecure-cookies" not in argv)
    app.run("127.0.0.1", 5000)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
