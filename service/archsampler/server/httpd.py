"""A small threaded HTTP server for WSGI apps (the metrics endpoint and the dashboard)."""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

log = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that breaks off (or speaks plain HTTP to HTTPS) is not an error of ours;
        anything else is logged once, without the stdlib's traceback on stderr."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ssl.SSLError, ConnectionError, TimeoutError)):
            log.warning("HTTP request from %s failed: %r", client_address[0], error)


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
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
    return server
