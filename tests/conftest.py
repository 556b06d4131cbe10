"""Shared fixtures: benchmark tables (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archsampler.bench.tables import benchmarks_dir


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    """The `../shared/benchmarks` folder; skips the test with a clear reason when missing."""
    path = benchmarks_dir()
    if not (path / "nb201" / "nb201_cifar10.csv").is_file():
        pytest.skip(
            f"NAS benchmark tables not found at {path}; set ARCHSAMPLER_BENCHMARKS "
            "(CI always has them and fails instead of skipping)"
        )
    return path
