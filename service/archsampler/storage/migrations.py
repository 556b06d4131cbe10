"""Schema versions and the steps between them, for SQLite and PostgreSQL alike.

`schema_version` holds one row per version a database has reached. Opening a database runs
every step from its version up to `SCHEMA_VERSION`, each in the same transaction as the row
that records it, under a lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an exclusive lock on
`schema_version`), so replicas starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine

from archsampler.errors import StorageError
from archsampler.storage.base import DEFAULT_NAMESPACE
from archsampler.storage.models import LEASE_INDEX
from archsampler.storage.models import SCHEMA_VERSION
from archsampler.storage.models import IntermediateValueModel
from archsampler.storage.models import SchemaVersionModel


def _v1_to_v2(conn: Connection) -> None:
    """v2: every study belongs to a namespace; existing studies to the default one."""
    conn.exec_driver_sql(
        "ALTER TABLE studies ADD COLUMN namespace VARCHAR(128) NOT NULL "
        f"DEFAULT '{DEFAULT_NAMESPACE}'"
    )
    conn.exec_driver_sql("CREATE INDEX ix_studies_namespace ON studies (namespace, id)")


def _v2_to_v3(conn: Connection) -> None:
    """v3: intermediate values of trials (early stopping)."""
    IntermediateValueModel.__table__.create(conn, checkfirst=True)


def _v3_to_v4(conn: Connection) -> None:
    """v4: the objective values of trials of studies with several objectives."""
    conn.exec_driver_sql("ALTER TABLE trials ADD COLUMN values_json TEXT")


def _v4_to_v5(conn: Connection) -> None:
    """v5: an index for the lease sweep (expired PENDING trials), which read every trial."""
    conn.exec_driver_sql(f"CREATE INDEX {LEASE_INDEX} ON trials (state, lease_expires_at)")


# version -> the step that takes a database from it to the next version
STEPS: dict[int, Callable[[Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}


def upgrade(engine: Engine) -> int:
    """Bring the database behind `engine` (tables created) to `SCHEMA_VERSION`.

    A database without a version row is new (its tables were just created at the current
    version). Returns the version found before upgrading (0 for a new database).

    Raises:
        StorageError: the database is newer than this server.
    """
    version = SchemaVersionModel.__table__
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE schema_version IN EXCLUSIVE MODE")
        found = conn.scalar(select(func.max(version.c.version)))
        if found is None:
            conn.execute(insert(version).values(version=SCHEMA_VERSION))
            return 0
        if found > SCHEMA_VERSION:
            raise StorageError(
                f"database schema v{found} is newer than this server (v{SCHEMA_VERSION});"
                " upgrade archsampler"
            )
        for step in range(found, SCHEMA_VERSION):
            STEPS[step](conn)
            conn.execute(insert(version).values(version=step + 1))
        return int(found)
