"""SQLAlchemy tables. SQL stays portable between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from archsampler.storage.base import DEFAULT_NAMESPACE

SCHEMA_VERSION = 5
"""v2: studies.namespace, v3: intermediate_values, v4: trials.values_json, v5: the
lease sweep's index."""
# (`storage.migrations`)


class Base(DeclarativeBase):
    pass


class SchemaVersionModel(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class StudyModel(Base):
    __tablename__ = "studies"
    __table_args__ = (Index("ix_studies_namespace", "namespace", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    # The tenant that owns the study; names stay unique across namespaces.
    namespace: Mapped[str] = mapped_column(
        String(128), nullable=False, default=DEFAULT_NAMESPACE, server_default=DEFAULT_NAMESPACE
    )
    config_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    # Bumped in every transaction that changes a trial; finished trials record it in
    # `finished_seq`, so a strategy catches up by reading `finished_seq > last seen`.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


LEASE_INDEX = "ix_trials_state_lease"


class TrialModel(Base):
    __tablename__ = "trials"
    __table_args__ = (
        # An architecture is live (pending or finished) at most once per study.
        UniqueConstraint("study_id", "dedup_key", name="uq_trials_study_dedup"),
        UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
        Index("ix_trials_study_state", "study_id", "state"),
        Index("ix_trials_study_finished_seq", "study_id", "finished_seq"),
        Index("ix_trials_study_request", "study_id", "request_id"),
        # The lease sweep (every few seconds, holding the write lock): expired PENDING
        # trials found without reading every trial of every study.
        Index(LEASE_INDEX, "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    arch: Mapped[str] = mapped_column(Text, nullable=False)
    arch_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    dedup_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    params_json: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    region: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    client_id: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    checkpoint_uri: Mapped[str] = mapped_column(Text, nullable=False, default="")
    metadata_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Several objectives: {name: value} as reported (`value` holds the first objective).
    values_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class IntermediateValueModel(Base):
    """A trial's value at one step of its training (early stopping reads them)."""

    __tablename__ = "intermediate_values"
    __table_args__ = (Index("ix_intermediate_study_step", "study_id", "step"),)

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), nullable=False
    )
    value: Mapped[float] = mapped_column(Float, nullable=False)
