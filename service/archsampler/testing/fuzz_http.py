"""Hostile HTTP requests for the dashboard port: raw bytes on a socket (malformed request
lines, huge and junk headers, traversal paths, bad percent-encoding, every method, wrong
tokens), then a flood of silent connections. An incident is a 5xx answer, a hang past the
timeout, or the page no longer served after a case (or not served again once the server
closed the silent connections); anything else (400, 401, 404, 405, 414, a closed
connection) is a refusal."""

from __future__ import annotations

import random
import socket
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable

from tqdm import tqdm

PATHS = ("/", "/api/studies", "/api/study?name=", "/dashboard.js", "/dashboard.css", "/api/")
TRAVERSAL = ("/../../etc/passwd", "/static/../app.py", "/%2e%2e/%2e%2e/etc/passwd",
             "/dashboard.js/..", "//api//studies", "/api/study?name=../../x")  # fmt: skip
JUNK = "\x00\x01\x7f\t é中文🙂\u202e%%zz%0a%00%ff%c3%28<script>'\"\\;&=?#"


@dataclass
class HttpFuzzResult:
    cases: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.incidents

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "by_status": dict(sorted(self.by_status.items())),
            "incidents": self.incidents[:50],
            "incident_count": len(self.incidents),
        }


class HttpCases:
    """Draws one raw request per call (bytes), seeded."""

    def __init__(self, rng: random.Random, token: str | None) -> None:
        self.rng = rng
        self.token = token

    def text(self, n: int) -> str:
        return "".join(self.rng.choice(JUNK + "abcXYZ019_.-/") for _ in range(n))

    def path(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(PATHS) + (
                self.text(self.rng.randint(0, 40)) if r < 0.15 else ""
            )
        if r < 0.45:
            return self.rng.choice(TRAVERSAL)
        if r < 0.5:
            return "/api/study?name=" + "x" * self.rng.choice((129, 1025, 70_000))
        if r < 0.55:
            return "/api/study?name=a&name=b"
        return "/" + self.text(self.rng.randint(0, 200))

    def headers(self) -> list[str]:
        out = []
        r = self.rng.random()
        if r < 0.4 and self.token:
            out.append(f"Authorization: Bearer {self.token}")
        elif r < 0.6:
            out.append(
                "Authorization: "
                + self.rng.choice(("Bearer", "Basic abc", "Bearer  x", self.text(30)))
            )
        elif r < 0.65:
            out.append("Authorization: Bearer " + "t" * 70_000)
        if self.rng.random() < 0.1:
            out += [f"X-{i}: {self.text(10)}" for i in range(self.rng.choice((50, 500)))]
        if self.rng.random() < 0.1:
            out.append(self.text(20))  # not a header line at all
        if self.rng.random() < 0.05:
            out.append("Content-Length: " + self.rng.choice(("-1", "99999999999", "x", "10")))
        return out

    def draw(self) -> bytes:
        r = self.rng.random()
        if r < 0.05:
            return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(0, 300)))
        if r < 0.08:
            return b"\r\n"
        method = self.rng.choice(("GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE",
                                  "OPTIONS", self.text(5)))  # fmt: skip
        version = self.rng.choice(("HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/9.9", ""))
        lines = [f"{method} {self.path()} {version}".rstrip(), "Host: 127.0.0.1"]
        lines += self.headers()
        if "Content-Length: 10" in lines:
            return ("\r\n".join(lines) + "\r\n\r\n0123456789").encode("utf-8", "surrogatepass")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass")


def _send(host: str, port: int, raw: bytes, timeout: float) -> str:
    """The status code answered ('closed' when the server closed without one)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # it may close early on a huge request; read what it answered
        data = b""
        while len(data) < 64:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return parts[1].decode()
    return "closed"


def _page_ok(host: str, port: int, timeout: float) -> bool:
    try:
        return _send(host, port, b"GET / HTTP/1.0\r\n\r\n", timeout) == "200"
    except OSError:
        return False


def run_http_fuzz(
    host: str,
    port: int,
    cases: int,
    seed: int,
    token: str | None = None,
    timeout: float = 10.0,
    alive: Callable[[], bool] | None = None,
    progress: bool = False,
) -> HttpFuzzResult:
    """Send `cases` hostile requests to the dashboard at `host:port`, one connection each."""
    gen = HttpCases(random.Random(seed), token)
    result = HttpFuzzResult()
    for case in tqdm(range(cases), desc="dashboard fuzz", disable=not progress):
        raw = gen.draw()
        result.cases += 1
        try:
            status = _send(host, port, raw, timeout)
        except TimeoutError:
            status = "hang"
        except OSError as e:
            status = f"error:{type(e).__name__}"
        result.by_status[status] += 1
        if status.startswith("5") or status == "hang" or status.startswith("error"):
            result.incidents.append({"case": case, "status": status, "request": repr(raw[:300])})
        if case % 50 == 49 or status == "hang":
            if not _page_ok(host, port, timeout) or (alive is not None and not alive()):
                result.incidents.append({"case": case, "status": "page gone", "request": ""})
                break
    return result


def run_connection_flood(
    host: str,
    port: int,
    connections: int,
    wait: float,
    alive: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Open `connections` connections that send half a request line and then nothing, and
    hold them: the server must close them itself (its idle timeout) and serve the page again
    within `wait` seconds while the flood is still held open. Returns what happened."""
    held: list[socket.socket] = []
    failed_connects = 0
    try:
        for _ in range(connections):
            try:
                s = socket.create_connection((host, port), timeout=10)
                s.sendall(b"GET / HT")
                held.append(s)
            except OSError:
                failed_connects += 1
        started = time.monotonic()
        served_after = None
        while time.monotonic() - started < wait:
            if _page_ok(host, port, 5.0):
                served_after = time.monotonic() - started
                break
            time.sleep(0.5)
        closed = 0
        for s in held:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed += 1
    finally:
        for s in held:
            s.close()
    return {
        "connections": connections,
        "failed_connects": failed_connects,
        "closed_by_server": closed,
        "page_served_after_s": served_after,
        "server_alive": alive is None or alive(),
        "ok": served_after is not None and (alive is None or alive()),
    }
