"""Typed results returned by the client (pydantic models, immutable)."""

from __future__ import annotations

import enum
from typing import Any

from google.protobuf import json_format
from pydantic import BaseModel
from pydantic import ConfigDict

from archsampler_client.proto import archsampler_pb2 as pb


class TrialState(enum.StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INFEASIBLE = "INFEASIBLE"
    STALE = "STALE"
    STOPPED = "STOPPED"
    QUEUED = "QUEUED"


_STATES = {pb.TrialState.Value(s.value): s for s in TrialState}


class WarmStart(BaseModel):
    """A warm-start hint on a proposed trial: the study's COMPLETED trial nearest to it
    (fewest differing decisions; ties: better value, then lower id) and the checkpoint that
    was reported with it ("" when none was)."""

    model_config = ConfigDict(frozen=True)

    trial_id: int
    arch: str
    distance: int
    checkpoint_uri: str
    value: float

    @classmethod
    def from_proto(cls, msg: pb.WarmStart) -> WarmStart:
        return cls.model_construct(
            trial_id=msg.trial_id,
            arch=msg.architecture,
            distance=msg.distance,
            checkpoint_uri=msg.checkpoint_uri,
            value=msg.value,
        )


def _warm_start(msg: pb.Trial) -> WarmStart | None:
    return WarmStart.from_proto(msg.warm_start) if msg.HasField("warm_start") else None


class Trial(BaseModel):
    """A proposed or told architecture and its outcome. `arch` is the canonical string.
    `warm_start`: on proposals, the nearest evaluated trial to start training from (None
    while the study has none)."""

    model_config = ConfigDict(frozen=True)

    id: int
    study: str
    number: int
    state: TrialState
    arch: str
    params: dict[str, Any]
    arch_hash: str
    value: float | None = None
    predicted_value: float | None = None
    region: str = ""
    client_id: str = ""
    checkpoint_uri: str = ""
    metadata: dict[str, str] = {}
    created_at: float = 0.0
    finished_at: float | None = None
    lease_expires_at: float | None = None
    warm_start: WarmStart | None = None
    values: dict[str, float] | None = None  # several objectives: {name: value}

    @classmethod
    def from_proto(cls, msg: pb.Trial) -> Trial:
        """The trial of a server answer. The proto already fixes every field's type, so the
        model is built without re-validation (on every call of a busy trainer)."""
        optional = {
            name: getattr(msg, name)
            for name in ("value", "predicted_value", "finished_at", "lease_expires_at")
            if msg.HasField(name)
        }
        state = _STATES.get(msg.state)
        if state is None:
            state = TrialState(pb.TrialState.Name(msg.state))  # ValueError names it
        return cls.model_construct(
            id=msg.id,
            study=msg.study,
            number=msg.number,
            state=state,
            arch=msg.architecture.text,
            params={
                k: getattr(v, v.WhichOneof("kind")) for k, v in msg.architecture.params.items()
            },
            arch_hash=msg.arch_hash,
            region=msg.region,
            client_id=msg.client_id,
            checkpoint_uri=msg.checkpoint_uri,
            metadata=dict(msg.metadata),
            created_at=msg.created_at,
            warm_start=_warm_start(msg),
            values=dict(msg.objective_values) or None,
            **optional,
        )


class StudyInfo(BaseModel):
    """A study's config and trial counts."""

    model_config = ConfigDict(frozen=True)

    name: str
    config: dict[str, Any]
    created_at: float
    trial_count: int
    completed_count: int
    pending_count: int
    namespace: str = ""

    @classmethod
    def from_proto(cls, msg: pb.Study) -> StudyInfo:
        return cls(
            name=msg.name,
            config=json_format.MessageToDict(msg.config, preserving_proto_field_name=True),
            created_at=msg.created_at,
            trial_count=msg.trial_count,
            completed_count=msg.completed_count,
            pending_count=msg.pending_count,
            namespace=msg.namespace,
        )
