"""Build request messages from pythonic arguments (shared by the sync and async clients)."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from archsampler_client.proto import archsampler_pb2 as pb

Space = str | dict[str, Any] | Path


def space_spec(space: Space) -> pb.SpaceSpec:
    """A built-in name (`"nb201"`, `"nb101"`, `"darts"`, `"darts_rnn"`, `"mlp"`), a user-space
    dict, or a path to a user-space JSON file."""
    if isinstance(space, Path) or (isinstance(space, str) and space.endswith(".json")):
        space = json.loads(Path(space).read_text())
    if isinstance(space, str):
        return pb.SpaceSpec(builtin=space)
    spec = pb.SpaceSpec()
    json_format.ParseDict(space, spec.user)
    return spec


def create_study(
    name: str,
    space: Space,
    strategy: str = "",
    strategy_options: dict[str, Any] | None = None,
    goal: str = "maximize",
    seed: int = 0,
    seed_from: str = "",
    stopping: dict[str, Any] | None = None,
    max_retries: int = 0,
    objectives: dict[str, str] | list[dict[str, str]] | None = None,
    metric_constraints: list[dict[str, Any]] | None = None,
) -> pb.CreateStudyRequest:
    goals = {"maximize": pb.MAXIMIZE, "minimize": pb.MINIMIZE}
    if goal not in goals:
        raise ValueError(f"goal must be 'maximize' or 'minimize', got {goal!r}")
    config = pb.StudyConfig(
        space=space_spec(space),
        strategy=strategy,
        goal=goals[goal],
        seed=seed,
        max_retries=max_retries,
    )
    config.strategy_options.update(strategy_options or {})
    if stopping:  # {"rule": "median" | "asha" | "curve" | "none", "options": {...}}
        unknown = sorted(set(stopping) - {"rule", "options"})
        if unknown:
            raise ValueError(f"stopping takes 'rule' and 'options', not {unknown}")
        config.stopping.rule = str(stopping.get("rule", ""))
        config.stopping.options.update(stopping.get("options") or {})
    if isinstance(objectives, dict):  # {"accuracy": "maximize", "params": "minimize"}
        objectives = [{"name": k, "goal": g} for k, g in objectives.items()]
    for o in objectives or ():
        goal_name = o.get("goal", "maximize")
        if goal_name not in goals:
            raise ValueError(f"objective goal must be 'maximize' or 'minimize', got {goal_name!r}")
        config.objectives.add(name=str(o["name"]), goal=goals[goal_name])
    for c in metric_constraints or ():
        config.metric_constraints.add(
            name=str(c["name"]), op=str(c["op"]), bound=float(c["bound"])
        )
    return pb.CreateStudyRequest(name=name, config=config, seed_from=seed_from)


def propose(study: str, count: int, client_id: str, request_id: str | None) -> pb.ProposeRequest:
    return pb.ProposeRequest(
        study=study,
        count=count,
        client_id=client_id,
        request_id=request_id if request_id is not None else uuid.uuid4().hex,
    )


def _outcome(
    msg: pb.ReportRequest | pb.TellRequest,
    value: float | None,
    failed: str | None,
    infeasible: str | None,
    checkpoint_uri: str,
    metadata: dict[str, str] | None,
) -> None:
    given = [x is not None for x in (value, failed, infeasible)]
    if sum(given) != 1:
        raise ValueError("give exactly one of value=, failed=, infeasible=")
    if value is not None:
        msg.value = float(value)
    elif failed is not None:
        msg.failed.reason = failed
    else:
        msg.infeasible.reason = infeasible or ""
    msg.checkpoint_uri = checkpoint_uri
    msg.metadata.update(metadata or {})


def report(
    study: str,
    trial_id: int,
    value: float | None,
    failed: str | None,
    infeasible: str | None,
    checkpoint_uri: str,
    metadata: dict[str, str] | None,
    stopped: str | bool | None = None,
    retryable: bool = False,
    values: dict[str, float] | None = None,
) -> pb.ReportRequest:
    msg = pb.ReportRequest(study=study, trial_id=trial_id)
    if values is not None:  # several objectives: one value per objective
        if value is not None or failed is not None or infeasible is not None:
            raise ValueError("values= goes alone (or with stopped=), not with value= / failed=")
        msg.objective_values.update({k: float(v) for k, v in values.items()})
        if stopped is not None and stopped is not False:
            msg.stopped.reason = "" if stopped is True else str(stopped)
        msg.checkpoint_uri = checkpoint_uri
        msg.metadata.update(metadata or {})
        return msg
    if retryable and failed is None:
        raise ValueError("retryable=True goes with failed=reason")
    if stopped is None or stopped is False:
        _outcome(msg, value, failed, infeasible, checkpoint_uri, metadata)
        if retryable:  # (never touch `failed` otherwise: it would become the outcome)
            msg.failed.retryable = True
        return msg
    if failed is not None or infeasible is not None:
        raise ValueError("stopped= goes with value= (or nothing), not failed= / infeasible=")
    msg.stopped.reason = "" if stopped is True else str(stopped)
    if value is not None:
        msg.stopped.value = float(value)
    msg.checkpoint_uri = checkpoint_uri
    msg.metadata.update(metadata or {})
    return msg


def report_intermediate(
    study: str, trial_id: int, step: int, value: float
) -> pb.ReportIntermediateRequest:
    return pb.ReportIntermediateRequest(
        study=study, trial_id=trial_id, step=step, value=float(value)
    )


def architecture(arch: str | dict[str, Any]) -> pb.Architecture:
    if isinstance(arch, str):
        return pb.Architecture(text=arch)
    msg = pb.Architecture()
    for name, v in arch.items():
        if isinstance(v, bool):
            msg.params[name].bool_value = v
        elif isinstance(v, int):
            msg.params[name].int_value = v
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise ValueError(f"param {name!r} is not finite")
            msg.params[name].float_value = v
        else:
            msg.params[name].string_value = str(v)
    return msg


def tell(
    study: str,
    arch: str | dict[str, Any],
    value: float | None,
    failed: str | None,
    infeasible: str | None,
    checkpoint_uri: str,
    metadata: dict[str, str] | None,
    values: dict[str, float] | None = None,
) -> pb.TellRequest:
    msg = pb.TellRequest(study=study, architecture=architecture(arch))
    if values is None:
        _outcome(msg, value, failed, infeasible, checkpoint_uri, metadata)
        return msg
    if value is not None or failed is not None or infeasible is not None:
        raise ValueError("values= goes alone, not with value= / failed= / infeasible=")
    msg.objective_values.update({k: float(v) for k, v in values.items()})
    msg.checkpoint_uri = checkpoint_uri
    msg.metadata.update(metadata or {})
    return msg


def list_trials(
    study: str, page_size: int, page_token: str, states: list[str] | None
) -> pb.ListTrialsRequest:
    return pb.ListTrialsRequest(
        study=study,
        page_size=page_size,
        page_token=page_token,
        states=[pb.TrialState.Value(s) for s in (states or [])],
    )


def enqueue(study: str, archs: list[str | dict[str, Any]]) -> pb.EnqueueRequest:
    return pb.EnqueueRequest(study=study, architectures=[architecture(a) for a in archs])
