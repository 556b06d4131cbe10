"""Katib tests: a real `archsampler serve --katib-port` in a child process, and Katib's stubs.

`test_katib_client.py` imports no server code, so it also runs in a virtualenv that has only
kubeflow-katib (its own generated stubs, protobuf < 5) and archsampler-client; `.ci/run`
does that, with `--confcutdir tests/katib` and `ARCHSAMPLER_KATIB_STUBS=kubeflow` (then
Katib's own stubs are required). Without them (the dev venv: protobuf 7, where
kubeflow-katib cannot be installed) the same tests run on the server's stubs of the same
vendored api.proto. The server comes from `ARCHSAMPLER_SERVER_BIN`, else the `archsampler`
script next to this interpreter:

    ARCHSAMPLER_SERVER_BIN=.venv/bin/archsampler ARCHSAMPLER_KATIB_STUBS=kubeflow \\
        build/venv-katib/bin/pytest tests/katib/test_katib_client.py --confcutdir tests/katib
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from katib_support import REQUIRE_ALL
from katib_support import KatibServer
from katib_support import katib_api
from katib_support import server_command
from katib_support import wait_for


def pytest_report_header(config: pytest.Config) -> str:
    import google.protobuf
    import grpc

    try:
        origin = katib_api().origin
    except BaseException as err:  # noqa: BLE001 - a header never fails the run
        origin = f"unavailable ({err})"
    return (
        f"katib stubs: {origin}; protobuf {google.protobuf.__version__}, grpcio {grpc.__version__}"
    )


@pytest.fixture(scope="module")
def katib_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KatibServer]:
    """`archsampler serve --port 0 --katib-port 0` over a fresh SQLite file (child process)."""
    command = server_command()
    if command is None:
        message = "no archsampler server: set ARCHSAMPLER_SERVER_BIN to its `archsampler` script"
        if REQUIRE_ALL:
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("katib-server")
    log = workdir / "server.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ARCHSAMPLER_") and k != "PYTHONPATH"
    }
    args = [*command, "serve", "--host", "127.0.0.1", "--port", "0", "--katib-port", "0"]
    args += ["--db", "studies.db", "--default-strategy", "random"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        lines = wait_for(proc, log, ("archsampler listening on ", "katib suggestion service on "))
        yield KatibServer(*lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
