"""Optional test dependencies: skip where a developer lacks one, fail where CI needs all."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def import_or_skip(name: str, install: str) -> ModuleType:
    """Import module `name`; when it is missing, skip the calling test module with the
    command that installs it, or raise when CI requires every resource
    (`ARCHSAMPLER_REQUIRE_ALL=1`)."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        if os.environ.get("ARCHSAMPLER_REQUIRE_ALL") == "1":
            raise
        pytest.skip(f"{err}: {install}", allow_module_level=True)


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail when CI requires every resource (ARCHSAMPLER_REQUIRE_ALL=1)."""
    if os.environ.get("ARCHSAMPLER_REQUIRE_ALL") == "1":
        pytest.fail(f"required resource missing: {reason}")
    pytest.skip(reason)
