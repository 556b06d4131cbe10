"""Assertions shared by the test suites: an SDK call fails with a precise status; calls
leave no reference cycles of the service's behind."""

from __future__ import annotations

import gc
import os
from collections import Counter
from pathlib import Path
from typing import Any
from typing import Callable

import grpc

import archsampler
from archsampler_client import ArchSamplerError


def expect_error(
    code: grpc.StatusCode, fn: Callable[..., Any], *args: Any, match: str = "", **kwargs: Any
) -> ArchSamplerError:
    """Call `fn(*args, **kwargs)`; it must raise `ArchSamplerError` with `code` and a message
    containing `match` (case-insensitive). Returns the error."""
    try:
        fn(*args, **kwargs)
    except ArchSamplerError as error:
        assert error.code == code, error
        assert match.lower() in error.details.lower(), error.details
        return error
    raise AssertionError(f"expected {code.name}, the call succeeded")


def service_garbage(calls: Callable[[], Any]) -> Counter:
    """What the garbage collector finds after `calls()` (made against a service in this
    process) that the service left: objects of its own types and frames of its code, and
    grpc's per-call server state. Message types are the client's too and not counted."""
    service = str(Path(archsampler.__file__).parent) + os.sep  # frames of the service's code
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        calls()
        gc.collect()
        found: Counter = Counter()
        for obj in gc.garbage:
            kind, module = type(obj), type(obj).__module__
            if module.startswith("archsampler.") and not module.endswith("_pb2"):
                found[kind.__qualname__] += 1
            elif kind.__name__ == "frame" and obj.f_code.co_filename.startswith(service):
                found[f"frame {obj.f_code.co_name}"] += 1
            elif kind.__name__ in ("_ServicerContext", "RPCState"):
                found[kind.__name__] += 1
        return found
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
