"""The HTTP ports (metrics, dashboard) bound every connection: a flood of silent or
dripping connections holds at most `MAX_CONNECTIONS` threads, each for a bounded time, and
the page is served again once they are closed; the gRPC service never notices."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from archsampler.server import httpd
from archsampler.testing import ServerThread
from archsampler.testing.fuzz_http import run_connection_flood
from archsampler_client import Client


def _app(environ: dict[str, Any], start: Any) -> list[bytes]:
    start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def _get(port: int, timeout: float = 5.0, source: str = "127.0.0.1") -> str:
    """The status line's code, or 'closed' when the server closed without answering."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    ) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = s.recv(64)
    return data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "closed"


def _silent(port: int, n: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """`n` connections that send half a request line and then nothing."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        s.sendall(b"GET / HT")
        out.append(s)
    return out


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _closed_by_server(s: socket.socket) -> bool:
    s.settimeout(5)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture()
def small(monkeypatch: pytest.MonkeyPatch):
    """An HTTP server with 8 slots, a 1 s idle timeout and a 3 s deadline."""
    monkeypatch.setattr(httpd, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(httpd, "MAX_PER_ADDRESS", 8)
    monkeypatch.setattr(httpd, "IDLE_TIMEOUT", 1.0)
    monkeypatch.setattr(httpd, "CONNECTION_DEADLINE", 3.0)
    server = httpd.serve_wsgi(_app, "127.0.0.1", 0, "test-http")
    yield server
    server.shutdown()
    server.server_close()


def test_a_flood_of_silent_connections_holds_at_most_the_slots(small) -> None:
    port = small.server_port
    before = threading.active_count()
    flood = _silent(port, 40)
    try:
        assert _wait(lambda: small.open_connections == 8, 5), small.open_connections
        assert _wait(lambda: small.refused == 32, 5), small.refused
        assert threading.active_count() - before <= 8
        assert _get(port) == "closed"  # every slot is taken: closed, unanswered
        # the 8 silent ones are closed after the idle timeout, and the page is back
        assert all(_closed_by_server(s) for s in flood[:8])
        assert _wait(lambda: small.open_connections == 0, 5)
        assert _get(port) == "200"
    finally:
        for s in flood:
            s.close()


def test_one_address_holds_at_most_its_share(small, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood from one client address takes at most `MAX_PER_ADDRESS` slots: the page is
    still served to another address while the flood is held."""
    monkeypatch.setattr(httpd, "MAX_PER_ADDRESS", 3)
    monkeypatch.setattr(httpd, "IDLE_TIMEOUT", 30.0)  # the flood stays while it is checked
    small.deadline = 30.0
    port = small.server_port
    flood = _silent(port, 10)  # from 127.0.0.1
    try:
        assert _wait(lambda: small.refused == 7, 5), small.refused
        assert small.open_connections == 3
        assert _get(port) == "closed"  # 127.0.0.1 has no place left
        assert _get(port, source="127.0.0.2") == "200"  # another address has
        more = _silent(port, 10, source="127.0.0.3")
        assert _wait(lambda: small.open_connections == 6, 5)  # its own 3
        assert _wait(lambda: small.refused == 7 + 1 + 7, 5), small.refused
        for s in more:
            s.close()
    finally:
        for s in flood:
            s.close()
    assert _wait(lambda: small.open_connections == 0, 5)


def test_a_dripping_connection_is_closed_at_its_deadline(small) -> None:
    port = small.server_port
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    try:
        s.sendall(b"GET / HTTP/1.1\r\n")
        closed = False
        for _ in range(40):  # a header byte every 0.3 s: never idle for 1 s
            try:
                s.sendall(b"X")
            except OSError:
                closed = True
                break
            s.settimeout(0.3)
            try:
                if s.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        took = time.monotonic() - started
        assert closed, "the dripping connection was still open after 12 s"
        assert 2.5 <= took <= 5.0, took  # the 3 s deadline (+ the reaper's 0.5 s)
        assert _wait(lambda: small.open_connections == 0, 2)
        assert _get(port) == "200"
    finally:
        s.close()


def test_answers_are_not_cut_short_by_the_bounds(small) -> None:
    """Ordinary requests, more than the slots one after another, are all answered."""
    assert [_get(small.server_port) for _ in range(30)] == ["200"] * 30
    assert small.refused == 0


def test_a_dashboard_flood_leaves_the_grpc_service_and_the_page_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpd, "IDLE_TIMEOUT", 1.0)
    with ServerThread(tmp_path / "h.db", dashboard_port=0) as srv:
        http = srv.running.dashboard._http
        port = srv.running.dashboard.port
        before = threading.active_count()
        flood = _silent(port, httpd.MAX_CONNECTIONS + 200)
        try:
            # one address holds at most MAX_PER_ADDRESS, and places free up as silent ones
            # time out (1 s), so the exact number refused depends on timing
            assert _wait(lambda: http.refused >= 100, 10), http.refused
            assert threading.active_count() - before <= httpd.MAX_CONNECTIONS
            with Client(srv.target, timeout=10) as client:  # gRPC: untouched
                study = client.create_study("s", space="nb201", strategy="random")
                trial = study.propose(1)[0]
                study.report(trial.id, value=1.0)
            assert _wait(lambda: http.open_connections == 0, 10)
            assert _get(port) == "200"
        finally:
            for s in flood:
                s.close()


def test_bench_fuzz_connection_flood_reports_the_server_closing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bench fuzz`'s last dashboard case, against a server with a 1 s idle timeout."""
    monkeypatch.setattr(httpd, "IDLE_TIMEOUT", 1.0)
    with ServerThread(tmp_path / "f.db", dashboard_port=0) as srv:
        port = srv.running.dashboard.port
        result = run_connection_flood("127.0.0.1", port, 2 * httpd.MAX_CONNECTIONS, wait=8)
    assert result["ok"], result
    assert result["failed_connects"] == 0
    assert result["closed_by_server"] == 2 * httpd.MAX_CONNECTIONS
    assert result["page_served_after_s"] < 8
