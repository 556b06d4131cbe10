"""Start a real archsampler server on loopback: in a thread, or as a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from archsampler.config import Settings
from archsampler.server.app import RunningServer
from archsampler.server.app import start_server
from archsampler_client import Client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A server in this process, on its own uvloop event loop in a daemon thread."""

    def __init__(self, db: str | Path, **settings: Any) -> None:
        self.settings = Settings(host="127.0.0.1", port=0, db=str(db), **settings)
        self.running: RunningServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def target(self) -> str:
        assert self.running is not None, "server not started"
        return f"127.0.0.1:{self.running.port}"

    def start(self) -> ServerThread:
        import uvloop

        started = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            self._loop = uvloop.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self.running = self._loop.run_until_complete(start_server(self.settings))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)
                started.set()
                return
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="archsampler-server", daemon=True)
        self._thread.start()
        started.wait(60)
        if errors:
            raise errors[0]
        return self

    def stop(self, grace: float = 5.0) -> None:
        if self._loop is None or self.running is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.running.stop(grace), self._loop)
        future.result(timeout=grace + 30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=30)
        self.running = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc), e.g. a server's training child."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def spawned_children(pid: int) -> list[int]:
    """Children of `pid` that multiprocessing spawned to run Python code (strategy hosts,
    training children), not its resource tracker."""
    found = []
    for child in child_pids(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue  # exited meanwhile
    return found


class ServerProcess:
    """`archsampler serve` as a child process: can be killed (SIGKILL) and restarted.

    `env` adds `ARCHSAMPLER_*` settings; `log` names a file that receives the server's log
    (its stderr), appended across restarts.
    """

    def __init__(
        self,
        db: str | Path,
        port: int | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        log: str | Path | None = None,
        **env: str,
    ) -> None:
        self.db = str(db)
        self.port = port or free_port()
        self.credentials = credentials  # to wait for a TLS server (ARCHSAMPLER_TLS_* in env)
        self.log = None if log is None else Path(log)
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        cmd = [
            sys.executable,
            "-m",
            "archsampler",
            "serve",
            "--port",
            str(self.port),
            "--db",
            self.db,
        ]
        if self.log is None:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL)
        else:
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=log
                )
        try:
            with Client(self.target, credentials=self.credentials) as client:
                client.wait_ready(timeout=timeout)
        except BaseException:
            self.stop(kill=True)  # never leave a half-started server behind
            raise
        return self

    def stop(self, kill: bool = False) -> int:
        """SIGTERM (graceful) or SIGKILL the server; returns its exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def terminate(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM; `(exit code, seconds to exit)`, or `(None, timeout)` after a SIGKILL
        when it had not exited within `timeout` seconds."""
        assert self.proc is not None, "server not started"
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=60)
            code = None
        seconds = time.monotonic() - start
        self.proc = None
        return code, seconds

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
