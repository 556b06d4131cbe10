"""Helpers of the Katib tests (no server code: they also run beside kubeflow-katib)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REQUIRE_ALL = os.environ.get("ARCHSAMPLER_REQUIRE_ALL") == "1"
STARTUP_SECONDS = 120.0


@dataclass(frozen=True)
class KatibApi:
    """The generated Katib modules a test client uses, and where they come from."""

    pb2: ModuleType
    grpc: ModuleType
    origin: str


def katib_api() -> KatibApi:
    """Katib's own stubs (kubeflow-katib) when installed, else the server's (see above)."""
    try:
        from kubeflow.katib import katib_api_pb2
        from kubeflow.katib import katib_api_pb2_grpc
    except ImportError as err:
        if os.environ.get("ARCHSAMPLER_KATIB_STUBS") == "kubeflow":
            pytest.fail(f"ARCHSAMPLER_KATIB_STUBS=kubeflow but kubeflow-katib is missing: {err}")
        from archsampler.katib._proto import api_pb2
        from archsampler.katib._proto import api_pb2_grpc

        return KatibApi(api_pb2, api_pb2_grpc, "archsampler.katib._proto (vendored api.proto)")
    return KatibApi(katib_api_pb2, katib_api_pb2_grpc, "kubeflow.katib (kubeflow-katib)")


def server_command() -> list[str] | None:
    if os.environ.get("ARCHSAMPLER_SERVER_BIN"):
        return shlex.split(os.environ["ARCHSAMPLER_SERVER_BIN"])
    beside = Path(sys.executable).parent / "archsampler"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("archsampler")
    return [found] if found else None


@dataclass(frozen=True)
class KatibServer:
    """A running server: its ArchSampler and Katib addresses."""

    target: str
    katib_target: str


def wait_for(proc: subprocess.Popen[bytes], log: Path, prefixes: tuple[str, ...]) -> list[str]:
    """The addresses the server prints after each of `prefixes`."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = {}
        for line in log.read_text(errors="replace").splitlines():
            for prefix in prefixes:
                if line.startswith(prefix):
                    found[prefix] = line.removeprefix(prefix).strip()
        if len(found) == len(prefixes):
            return [found[p] for p in prefixes]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"server {proc.args} did not start (exit {proc.poll()}):\n{tail}")
