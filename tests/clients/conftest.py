"""Client tests against a real server running in another process (and maybe another venv).

These tests import only the client package, so they also run in a virtualenv that has
nothing but `archsampler-client` at its oldest supported grpcio / protobuf / pydantic
(`.ci/run` does that). The server is started as a child process from
`ARCHSAMPLER_SERVER_BIN` (a command line, e.g. `.venv/bin/archsampler`); without it, the
`archsampler` script next to this interpreter or on PATH. Run standalone with
`--confcutdir tests/clients`, which keeps pytest from loading tests/conftest.py (it imports
the server package):

    ARCHSAMPLER_SERVER_BIN=.venv/bin/archsampler \\
        .venv-oldest/bin/pytest tests/clients --confcutdir tests/clients
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("ARCHSAMPLER_REQUIRE_ALL") == "1"
STARTUP_SECONDS = 120.0


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail when CI requires every resource (ARCHSAMPLER_REQUIRE_ALL=1)."""
    if REQUIRE_ALL:
        pytest.fail(f"required resource missing: {reason}")
    pytest.skip(reason)


def pytest_report_header(config: pytest.Config) -> str:
    import google.protobuf
    import grpc
    import pydantic
    from google.protobuf.internal import api_implementation

    return (
        f"archsampler-client runtimes: protobuf {google.protobuf.__version__} "
        f"({api_implementation.Type()}), grpcio {grpc.__version__}, "
        f"pydantic {pydantic.VERSION}"
    )


def server_command() -> list[str] | None:
    """The command that runs `archsampler` (see the module docstring), or None."""
    if os.environ.get("ARCHSAMPLER_SERVER_BIN"):
        return shlex.split(os.environ["ARCHSAMPLER_SERVER_BIN"])
    beside = Path(sys.executable).parent / "archsampler"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("archsampler")
    return [found] if found else None


@pytest.fixture(scope="session")
def server_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`host:port` of a fresh server (SQLite in a temp dir) in a child process."""
    command = server_command()
    if command is None:
        skip_or_fail(
            "no archsampler server to test the client against: set ARCHSAMPLER_SERVER_BIN "
            "to the `archsampler` script of a venv that has the server installed"
        )
    workdir = tmp_path_factory.mktemp("server")
    log = workdir / "server.log"
    # The server reads ARCHSAMPLER_* variables (and a .env in its cwd): start it clean. It runs
    # in its own venv: a PYTHONPATH that swaps this venv's protobuf must not reach it.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ARCHSAMPLER_") and k != "PYTHONPATH"
    }
    args = [*command, "serve", "--host", "127.0.0.1", "--port", "0", "--db", "studies.db"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        target = _wait_listening(proc, log)
        yield target
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes], log: Path) -> str:
    """The address of the "archsampler listening on HOST:PORT" line the server prints."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("archsampler listening on "):
                return line.removeprefix("archsampler listening on ").strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"server {proc.args} did not start (exit {proc.poll()}):\n{tail}")
