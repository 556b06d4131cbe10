"""Assertions shared by the test suites: an SDK call fails with a precise status."""

from __future__ import annotations

from typing import Any
from typing import Callable

import grpc

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
