"""The page the demo's "Not you?" email links open (a web app's own endpoint in production:
see examples/webapp.py). ``GET /not-me?t=TOKEN`` asks for confirmation (mail scanners fetch
links: a GET never revokes); ``POST /not-me`` with the token calls
`SessionManager.revoke_from_alert` and says how many sessions ended."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sessionwarden import SessionManager
from sessionwarden.errors import InvalidAlertAction, SessionWardenError

PAGE = ("<!doctype html><meta charset=utf-8><title>Not you?</title>"
        "<h1>Was this sign-in not you?</h1>{body}")
MAX_BODY = 8192


def _handler(mgr: SessionManager, report: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    class NotMe(BaseHTTPRequestHandler):
        def _page(self, status: int, body: str) -> None:
            data = PAGE.format(body=body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            token = parse_qs(url.query).get("t", [""])[0]
            if url.path != "/not-me" or not token:
                self._page(404, "<p>Nothing here.</p>")
                return
            self._page(200, '<form method=post action="/not-me"><input type=hidden name=t '
                       f'value="{html.escape(token)}"><button>Sign that session out</button>'
                       "</form>")

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            token = parse_qs(self.rfile.read(length).decode("ascii", "replace")).get("t", [""])[0]
            if urlsplit(self.path).path != "/not-me":
                self._page(404, "<p>Nothing here.</p>")
                return
            try:
                count = mgr.revoke_from_alert(token)
            except InvalidAlertAction as exc:
                self._page(400, f"<p>This link cannot be used: {html.escape(str(exc))}.</p>")
                return
            except SessionWardenError:
                self._page(503, "<p>Try again in a moment.</p>")
                return
            report(f"not-me   the account owner used an email link: {count} session(s) "
                   "signed out")
            self._page(200, f"<p>Done: {count} session(s) signed out. Change your password "
                       "next.</p>")

        def log_message(self, format: str, *args: object) -> None:
            pass  # the demo reports what matters itself

    return NotMe


@contextmanager
def not_me_server(mgr: SessionManager, report: Callable[[str], None]) -> Iterator[str]:
    """The ``action_url`` (``http://127.0.0.1:PORT/not-me?t={token}``) of a running server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mgr, report))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="not-me", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/not-me?t={{token}}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
