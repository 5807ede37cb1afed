"""A TCP relay in front of MinIO that can catch a download in the act: when a request for a
given object passes, it forwards the answer's first bytes and then holds the rest, so the test
knows a worker is in the middle of loading that object when it takes the store away.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from harness.ports import LOOPBACK

#: Bytes of the held answer that still reach the client (status line, headers, a little body).
PASSED_BYTES = 600


class StallProxy:
    """Relays ``127.0.0.1:<port>`` to ``upstream_port``; :attr:`trigger` (bytes) in a request
    stalls that request's answer after :data:`PASSED_BYTES` and sets :attr:`stalled`;
    :meth:`cut` closes every relayed connection at once."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.trigger: bytes | None = None
        self.stalled = threading.Event()
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL to give the server."""
        return f"http://{LOOPBACK}:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=5)
            except OSError:
                client.close()  # MinIO is down: the client sees the connection closed
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            held = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, held), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, held), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, held: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                if self.trigger is not None and self.trigger in data:
                    held.set()
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _down(self, upstream: socket.socket, client: socket.socket, held: threading.Event) -> None:
        passed = 0
        try:
            while data := upstream.recv(65536):
                if held.is_set():
                    client.sendall(data[: max(0, PASSED_BYTES - passed)])
                    passed += len(data)
                    if passed >= PASSED_BYTES:
                        self.stalled.set()
                        return  # hold: the client waits for the rest until cut()
                    continue
                client.sendall(data)
        except OSError:
            self._close(client, upstream)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._open.discard(sock)

    def cut(self) -> None:
        """Close every relayed connection (the held ones included) and stop holding."""
        self.trigger = None
        with self._lock:
            socks = list(self._open)
        self._close(*socks)

    def close(self) -> None:
        """Stop relaying."""
        self._closed = True
        self.cut()
        self._listener.close()
