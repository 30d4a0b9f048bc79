"""The example web app (examples/webapp.py) served for real: werkzeug's server on a free
loopback port in a thread, on a real redis-server under a key prefix of its own; and
`Device`, an HTTP client with its own cookie jar and user agent (one per signed-in device)."""

from __future__ import annotations

import http.cookiejar
import importlib.util
import re
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from types import ModuleType
from typing import Any

from conftest import TEST_SECRET

from sessionwarden import SessionManager, Settings

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
ALICE = "alice@example.com"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_webapp", ROOT / "examples" /
                                                  "webapp.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Served:
    base: str
    mgr: SessionManager
    prefix: str
    app: Any


@contextmanager
def serve(redis_url: str, *, cookie_secure: bool = False,
          users: dict[str, str] | None = None, geo_headers: bool = False) -> Iterator[Served]:
    from werkzeug.serving import make_server

    example = load_example()
    prefix = "web" + secrets.token_hex(4)
    mgr = SessionManager.from_url(redis_url, Settings(secret=TEST_SECRET, key_prefix=prefix))
    app = example.create_app(mgr, users=users or {ALICE: PASSWORD, "bob@example.com": PASSWORD},
                             cookie_secure=cookie_secure, geo_headers=geo_headers)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", mgr, prefix, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        mgr.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


class Device:
    """One browser: its cookie jar, its user agent. `get`/`post` return (status, html,
    headers) and follow redirects unless ``follow=False``."""

    def __init__(self, base: str, user_agent: str, **headers: str) -> None:
        self.base, self.user_agent = base, user_agent
        self.headers = {k.replace("_", "-"): v for k, v in headers.items()}
        self.jar = http.cookiejar.CookieJar()
        self.follow = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.stay = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                NoRedirect())

    def request(self, path: str, data: dict[str, str] | None = None, *,
                follow: bool = True) -> tuple[int, str, Any]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=body,
                                     headers={"User-Agent": self.user_agent, **self.headers})
        try:
            with (self.follow if follow else self.stay).open(req, timeout=10) as reply:
                return reply.status, reply.read().decode(), reply.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers

    def get(self, path: str, **kw: Any) -> tuple[int, str, Any]:
        return self.request(path, **kw)

    def post(self, path: str, data: dict[str, str], **kw: Any) -> tuple[int, str, Any]:
        return self.request(path, data, **kw)

    def csrf(self, path: str, action: str | None = None) -> str:
        """The CSRF token in the form of ``path`` whose action is ``action`` (default: the
        page's main form, the last one: the navigation's sign-out form comes first)."""
        status, html, _ = self.get(path)
        assert status == 200, html
        return form_csrf(html, action)

    def sign_in(self, email: str = ALICE, password: str = PASSWORD) -> str:
        token = self.csrf("/login")
        status, html, _ = self.post("/login", {"csrf": token, "email": email,
                                               "password": password})
        assert status == 200 and "Your devices" in html, html
        return html

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def form_csrf(html: str, action: str | None = None) -> str:
    forms = re.findall(r'<form([^>]*)>(.*?)</form>', html, re.S)
    for attrs, inner in reversed(forms):
        if action is None or f'action="{action}"' in attrs:
            found = re.search(r'name="csrf" value="([^"]*)"', inner)
            if found:
                assert found.group(1), f"an empty CSRF token in {attrs}"
                return found.group(1)
    raise AssertionError(f"no form with a CSRF token (action {action}) in:\n{html}")


def device_rows(html: str) -> dict[str, str]:
    """session id -> the text of its row on the devices page."""
    rows = re.findall(r'<li id="s-[^"]+" data-session="([^"]+)">(.*?)</li>', html, re.S)
    return {sid: unescape(re.sub(r"<[^>]+>", " ", text)) for sid, text in rows}
