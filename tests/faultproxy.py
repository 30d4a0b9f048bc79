"""A fault-injecting TCP proxy in front of a real redis-server, for the failure tests.

It forwards bytes both ways, one thread per direction, and can:

- ``refuse_first=K``: accept and at once close the first K connections (a Redis that is not
  there yet, as a client sees it: the connection ends before the handshake's reply);
- ``drop_after=(b"EVALSHA", N)``: forward the N-th client chunk containing that word to the
  server, let the server run it, then close the client's socket without forwarding the reply
  (a reply lost on the way back: the command ran, the client cannot know);
- count ``connections`` (attempts that reached it) and ``seen`` (chunks containing each
  watched word).

Commands the *server* ran are counted on the server itself (``INFO commandstats``), not here.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from typing import Any


class FaultProxy:
    def __init__(self, upstream_port: int, *, refuse_first: int = 0,
                 drop_after: tuple[bytes, int] | None = None, settle: float = 0.2) -> None:
        self.upstream_port = upstream_port
        self.refuse_first = refuse_first
        self.drop_after = drop_after
        self.settle = settle
        self.connections = 0
        self.seen: Counter[bytes] = Counter()
        self.dropped = threading.Event()
        self._muted: set[int] = set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                refuse = self.connections <= self.refuse_first
            if refuse:
                _close(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client),
                             daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to server: watch for the word to drop after."""
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(upstream)
                return
            drop = False
            if self.drop_after is not None:
                word, nth = self.drop_after
                if word.lower() in data.lower():
                    with self._lock:
                        self.seen[word] += 1
                        drop = self.seen[word] == nth
            if drop:
                # Stop the reply first, then let the server run the command.
                self._mute(client)
                upstream.sendall(data)
                time.sleep(self.settle)
                self.dropped.set()
                _close(client)
                _close(upstream)
                return
            try:
                upstream.sendall(data)
            except OSError:
                _close(client)
                return

    def _mute(self, client: socket.socket) -> None:
        with self._lock:
            self._muted.add(id(client))

    def _pump_down(self, upstream: socket.socket, client: socket.socket) -> None:
        while True:
            try:
                data = upstream.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(client)
                return
            with self._lock:
                if id(client) in self._muted:
                    continue  # the reply is lost
            try:
                client.sendall(data)
            except OSError:
                _close(upstream)
                return


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
