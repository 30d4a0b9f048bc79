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
          users: dict[str, str] | None = None) -> Iterator[Served]:
    from werkzeug.serving import make_server

    example = load_example()
    prefix = "web" + secrets.token_hex(4)
    mgr = SessionManager.from_url(redis_url, Settings(secret=TEST_SECRET, key_prefix=prefix))
    app = example.create_app(mgr, users=users or {ALICE: PASSWORD, "bob@example.com": PASSWORD},
                             cookie_secure=cookie_secure)
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

    def __init__(self, base: str, user_agent: str) -> None:
        self.base, self.user_agent = base, user_agent
        self.jar = http.cookiejar.CookieJar()
        self.follow = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.stay = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                NoRedirect())

    def request(self, path: str, data: dict[str, str] | None = None, *,
                follow: bool = True) -> tuple[int, str, Any]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=body, headers={"User-Agent": self.user_agent})
        try:
            with (self.follow if follow else self.stay).open(req, timeout=10) as reply:
                return reply.status, reply.read().decode(), reply.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers

    def get(self, path: str, **kw: Any) -> tuple[int, str, Any]:
        return self.request(path, **kw)

    def post(self, path: str, data: dict[str, str], **kw: Any) -> tuple[int, str, Any]:
        return self.request(path, data, **kw)

    def csrf(self, path: str) -> str:
        status, html, _ = self.get(path)
        assert status == 200, html
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found, html
        return found.group(1)

    def sign_in(self, email: str = ALICE, password: str = PASSWORD) -> str:
        token = self.csrf("/login")
        status, html, _ = self.post("/login", {"csrf": token, "email": email,
                                               "password": password})
        assert status == 200 and "Your devices" in html, html
        return html

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def device_rows(html: str) -> dict[str, str]:
    """session id -> the text of its row on the devices page."""
    rows = re.findall(r'<li id="s-[^"]+" data-session="([^"]+)">(.*?)</li>', html, re.S)
    return {sid: unescape(re.sub(r"<[^>]+>", " ", text)) for sid, text in rows}
