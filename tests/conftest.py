"""Shared fixtures: benchmark tables (skipped with a reason when absent)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from archsampler.bench.tables import benchmarks_dir

REQUIRE_ALL = os.environ.get("ARCHSAMPLER_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail when CI requires every resource (ARCHSAMPLER_REQUIRE_ALL=1)."""
    if REQUIRE_ALL:
        pytest.fail(f"required resource missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    """The `../shared/benchmarks` folder; skips the test with a clear reason when missing."""
    path = benchmarks_dir()
    if not (path / "nb201" / "nb201_cifar10.csv").is_file():
        skip_or_fail(
            f"NAS benchmark tables not found at {path}; set ARCHSAMPLER_BENCHMARKS "
            "(CI always has them and fails instead of skipping)"
        )
    return path


@pytest.fixture()
def server(tmp_path: Path):
    """A real server on loopback (in-process thread) over a fresh SQLite file."""
    from archsampler.testing import ServerThread

    with ServerThread(tmp_path / "study.db") as srv:
        yield srv


@pytest.fixture()
def client(server):
    """A blocking client connected to `server`."""
    from archsampler_client import Client

    with Client(server.target, retries=2) as c:
        yield c


@pytest.fixture()
def postgres_url():
    """A fresh, empty PostgreSQL database on the server named by ARCHSAMPLER_TEST_POSTGRES_URL.

    Start one with `bash scripts/postgres.sh` (it prints the URL).
    """
    url = os.environ.get("ARCHSAMPLER_TEST_POSTGRES_URL")
    if not url:
        skip_or_fail(
            "no PostgreSQL server: run scripts/postgres.sh and set "
            "ARCHSAMPLER_TEST_POSTGRES_URL to the URL it prints"
        )
    from sqlalchemy import create_engine
    from sqlalchemy import text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path: Path) -> str:
    """Each storage backend in turn: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "archsampler.db")
    return request.getfixturevalue("postgres_url")
