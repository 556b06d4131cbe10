"""Shared fixtures: benchmark tables (skipped with a reason when absent)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from archsampler.bench.tables import benchmarks_dir
from archsampler.testing.optional import skip_or_fail


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


EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days",
             "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", cwd=d)  # fmt: skip


def _make_leaf(d: Path, name: str, ca: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions)
    _openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
             f"/CN={name}", cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
             cwd=d)  # fmt: skip


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CA, server cert (127.0.0.1, localhost), client cert, client cert of a rogue CA."""
    if shutil.which("openssl") is None:
        skip_or_fail("the openssl command line tool is needed to make test certificates")
    d = tmp_path_factory.mktemp("certs")
    _make_ca(d, "ca")
    _make_ca(d, "rogue-ca")
    leaf = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
    server_ext = leaf + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    _make_leaf(d, "server", "ca", server_ext)
    _make_leaf(d, "client", "ca", leaf + "extendedKeyUsage=clientAuth\n")
    _make_leaf(d, "rogue", "rogue-ca", leaf + "extendedKeyUsage=clientAuth\n")
    return d
