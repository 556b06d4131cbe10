"""A small threaded HTTP server for WSGI apps (the metrics endpoint and the dashboard).

Every connection is bounded, so no client (authenticated or not) can tie up the server
process's threads: at most `MAX_CONNECTIONS` are served at once per port and at most
`MAX_PER_ADDRESS` of them from one client address (one more is closed at once,
unanswered), a connection silent for `IDLE_TIMEOUT` seconds in its TLS handshake, request
or response is closed, and so is one still open `CONNECTION_DEADLINE` seconds after it was
accepted (a client dripping a byte at a time).
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 64
MAX_PER_ADDRESS = 16
IDLE_TIMEOUT = 10.0
CONNECTION_DEADLINE = 30.0
_REAP_EVERY = 0.5  # seconds between two looks for connections past their deadline


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog (the stdlib's 5 drops bursts of connects)
    block_on_close = False  # server_close() does not wait for connections being served

    def server_activate(self) -> None:
        super().server_activate()
        self.deadline = CONNECTION_DEADLINE
        self.refused = 0  # connections closed unanswered: all slots were taken
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: dict[Any, tuple[float, str]] = {}  # connection -> (deadline, address)
        self._per_address: dict[str, int] = {}  # open connections by client address
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def server_close(self) -> None:
        self._stop.set()
        super().server_close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def process_request(self, request: Any, client_address: Any) -> None:
        address = str(client_address[0])
        with self._lock:
            room = self._per_address.get(address, 0) < MAX_PER_ADDRESS
            if room:
                self._per_address[address] = self._per_address.get(address, 0) + 1
        if not room or not self._slots.acquire(blocking=False):
            with self._lock:
                if room:
                    self._release_address(address)
                self.refused += 1
            self.shutdown_request(request)
            return
        with self._lock:
            self._open[request] = (time.monotonic() + self.deadline, address)
        try:
            super().process_request(request, client_address)  # its own thread
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._lock:
            found = self._open.pop(request, None)
            if found is None:
                return
            self._release_address(found[1])
        self._slots.release()

    def _release_address(self, address: str) -> None:
        left = self._per_address[address] - 1  # under self._lock
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]

    def reap(self) -> None:
        """Shut down connections past their deadline (their thread then ends) until closed."""
        while not self._stop.wait(_REAP_EVERY):
            now = time.monotonic()
            with self._lock:
                late = [r for r, (due, _) in self._open.items() if due <= now]
            for request in late:
                try:
                    request.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by its thread

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that breaks off (or speaks plain HTTP to HTTPS) is not an error of ours;
        anything else is logged once, without the stdlib's traceback on stderr."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ssl.SSLError, ConnectionError, TimeoutError)):
            log.warning("HTTP request from %s failed: %r", client_address[0], error)


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        self.timeout = IDLE_TIMEOUT  # the connection's socket timeout, set by `setup()`
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Requests are not logged (scrapes and page refreshes would flood the log)."""


def serve_wsgi(
    app: Any, host: str, port: int, name: str, tls: ssl.SSLContext | None = None
) -> WSGIServer:
    """Serve `app` on `host:port` (0 = any free port) from a daemon thread, over HTTPS
    when `tls` is given; call `shutdown()` and `server_close()` on the result to stop."""
    kind = _ThreadingWSGIServer6 if ":" in host else _ThreadingWSGIServer
    server = make_server(host, port, app, kind, handler_class=_QuietHandler)
    if tls is not None:  # the handshake runs in the request's thread, not in accept()
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    threading.Thread(target=server.reap, name=f"{name}-reaper", daemon=True).start()
    return server
