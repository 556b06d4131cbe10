"""Every conversion between wire messages and domain objects, in one place."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import json_format

from archsampler.config import StudyConfig
from archsampler.errors import InvalidArgumentError
from archsampler.importer import MAX_ROWS
from archsampler.importer import Row
from archsampler.importer import RowResult
from archsampler.signatures import SIGNATURE_KEY
from archsampler.signatures import parse_signature
from archsampler.spaces.base import ParamValue
from archsampler.storage import StudyRecord
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState
from archsampler_client.proto import archsampler_pb2 as pb

MAX_TEXT = 65_536  # an architecture's text
MAX_FIELD = 4_096  # checkpoint_uri, a failure reason, a metadata value
MAX_KEY = 256  # a metadata key
MAX_METADATA = 64  # metadata entries
MAX_METADATA_BYTES = 65_536  # all metadata keys and values together (UTF-8)
MAX_OBJECTIVE_VALUES = 8  # objective_values entries (as objectives per study)

_GOALS = {pb.GOAL_UNSPECIFIED: "maximize", pb.MAXIMIZE: "maximize", pb.MINIMIZE: "minimize"}
_GOAL_TO_PB = {"maximize": pb.MAXIMIZE, "minimize": pb.MINIMIZE}


def _to_dict(msg: Any, field: str) -> Any:
    try:
        return json_format.MessageToDict(msg, preserving_proto_field_name=True)
    except (ValueError, json_format.Error) as e:
        raise InvalidArgumentError(f"{field}: {e} (numbers must be finite)") from None


def _integral(value: Any) -> Any:
    """Numbers arrive as doubles on the wire: give whole numbers back their int type."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _user_space(msg: pb.UserSpace) -> dict[str, Any]:
    space = _to_dict(msg, "config.space.user")
    for param in space.get("params", []):
        if param.get("type") == "int":
            for key in ("low", "high", "step"):
                if key in param:
                    param[key] = _integral(param[key])
        if "condition" in param:
            param["condition"] = _integral(param["condition"])
    return space


def config_from_proto(msg: pb.StudyConfig) -> dict[str, Any]:
    """A StudyConfig message as the raw dict `normalise_config` validates (into a
    `StudyConfig`)."""
    space: dict[str, Any] = {}
    kind = msg.space.WhichOneof("kind")
    if kind == "builtin":
        space = {"builtin": msg.space.builtin}
    elif kind == "user":
        space = {"user": _user_space(msg.space.user)}
    if msg.goal not in _GOALS:
        raise InvalidArgumentError(f"config.goal {msg.goal} is not a known Goal")
    out = {
        "space": space,
        "strategy": msg.strategy,
        "strategy_options": _integral(_to_dict(msg.strategy_options, "config.strategy_options")),
        "goal": _GOALS[msg.goal],
        "seed": msg.seed,
    }
    if msg.HasField("stopping"):
        options = _integral(_to_dict(msg.stopping.options, "config.stopping.options"))
        out["stopping"] = {"rule": msg.stopping.rule, "options": options}
    for i, o in enumerate(msg.objectives):
        if o.goal not in _GOALS:
            raise InvalidArgumentError(f"config.objectives[{i}].goal {o.goal} is not a known Goal")
        out.setdefault("objectives", []).append({"name": o.name, "goal": _GOALS[o.goal]})
    for c in msg.metric_constraints:
        out.setdefault("metric_constraints", []).append(
            {"name": c.name, "op": c.op, "bound": c.bound}
        )
    if msg.max_retries:
        out["max_retries"] = msg.max_retries
    return out


def config_to_proto(config: StudyConfig) -> pb.StudyConfig:
    msg = pb.StudyConfig(strategy=config.strategy, goal=_GOAL_TO_PB[config.goal], seed=config.seed)
    space = config.space
    if "builtin" in space:
        msg.space.builtin = space["builtin"]
    else:
        json_format.ParseDict(space["user"], msg.space.user, ignore_unknown_fields=True)
    msg.strategy_options.update(config.strategy_options)
    if config.stopping is not None:
        msg.stopping.rule = config.stopping["rule"]
        msg.stopping.options.update(config.stopping["options"])
    for o in config.objectives or ():
        msg.objectives.add(name=o["name"], goal=_GOAL_TO_PB[o["goal"]])
    for c in config.metric_constraints or ():
        msg.metric_constraints.add(name=c["name"], op=c["op"], bound=c["bound"])
    msg.max_retries = config.max_retries
    return msg


def study_to_proto(record: StudyRecord) -> pb.Study:
    return pb.Study(
        name=record.name,
        config=config_to_proto(StudyConfig.from_dict(record.config)),
        created_at=record.created_at,
        trial_count=record.trial_count,
        completed_count=record.completed_count,
        pending_count=record.pending_count,
        namespace=record.namespace,
    )


def params_from_proto(params: Any) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for name, value in params.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidArgumentError(f"architecture param {name[:64]!r} has no value")
        out[name] = getattr(value, kind)
    return out


# The oneof field of a ParamValue for each exact Python type (others: `_set_param`).
_PARAM_FIELDS = {bool: "bool_value", int: "int_value", float: "float_value", str: "string_value"}


def _set_param(msg: pb.ParamValue, value: ParamValue) -> None:
    """Write `value` into its oneof field of `msg` (cheaper than building and copying one)."""
    if isinstance(value, bool):
        msg.bool_value = value
    elif isinstance(value, int):
        msg.int_value = value
    elif isinstance(value, float):
        msg.float_value = value
    else:
        msg.string_value = str(value)


def trial_to_proto(trial: Trial) -> pb.Trial:
    """The wire form of a trial (None fields stay unset). On every Propose/Report: keep lean."""
    msg = pb.Trial(
        id=trial.id,
        study=trial.study_name,
        number=trial.number,
        state=int(trial.state),
        arch_hash=trial.arch_hash,
        region=trial.region,
        client_id=trial.client_id,
        checkpoint_uri=trial.checkpoint_uri,
        metadata=trial.metadata,
        created_at=trial.created_at,
        value=trial.value,
        predicted_value=trial.predicted_value,
        finished_at=trial.finished_at,
        lease_expires_at=trial.lease_expires_at,
    )
    msg.architecture.text = trial.arch
    if trial.values:
        msg.objective_values.update(trial.values)
    if trial.warm_start is not None:
        w = trial.warm_start
        msg.warm_start.trial_id = w.trial_id
        msg.warm_start.architecture = w.arch
        msg.warm_start.distance = w.distance
        msg.warm_start.checkpoint_uri = w.checkpoint_uri
        msg.warm_start.value = w.value
    params = msg.architecture.params
    for name, value in trial.params.items():
        field = _PARAM_FIELDS.get(type(value))
        if field is None:
            _set_param(params[name], value)
        else:
            setattr(params[name], field, value)
    return msg


def outcome_from_proto(msg: pb.ReportRequest | pb.TellRequest | pb.TellRow) -> Outcome:
    """The outcome fields of a Report or Tell request, validated."""
    kind = msg.WhichOneof("outcome")
    values = dict(getattr(msg, "objective_values", None) or {})
    if len(values) > MAX_OBJECTIVE_VALUES:
        raise InvalidArgumentError(
            f"objective_values has {len(values)} entries; the limit is {MAX_OBJECTIVE_VALUES}"
        )
    if values and kind not in (None, "stopped"):
        raise InvalidArgumentError(
            f"objective_values go with a completed or stopped report, not with {kind}"
        )
    if kind is None and not values:
        stop = ", stopped" if isinstance(msg, pb.ReportRequest) else ""
        raise InvalidArgumentError(
            f"set exactly one of value, failed, infeasible{stop} (or objective_values)"
        )
    if len(msg.checkpoint_uri) > MAX_FIELD:
        raise InvalidArgumentError(f"checkpoint_uri is longer than {MAX_FIELD} characters")
    metadata = metadata_from_proto(msg.metadata)
    if values:
        for name, v in values.items():
            if not math.isfinite(v):
                raise InvalidArgumentError(f"objective_values[{name[:64]!r}] must be finite")
        if kind == "stopped" and msg.stopped.HasField("value"):
            raise InvalidArgumentError("a stop with objective_values carries no stopped.value")
        outcome = _stopped(msg, metadata) if kind == "stopped" else None
        state = TrialState.STOPPED if kind == "stopped" else TrialState.COMPLETED
        # `value` becomes the first declared objective's once the study is known (storage).
        return Outcome(
            state,
            0.0,
            msg.checkpoint_uri,
            outcome.metadata if outcome else metadata,
            values={k: v + 0.0 for k, v in values.items()},
        )
    if kind == "value":
        if not math.isfinite(msg.value):
            raise InvalidArgumentError(f"value must be a finite number, got {msg.value}")
        # -0.0 == 0.0: store one zero, so a report and a Tell of it read back alike.
        return Outcome(TrialState.COMPLETED, msg.value + 0.0, msg.checkpoint_uri, metadata)
    if kind == "stopped":
        return _stopped(msg, metadata)
    reason = (msg.failed if kind == "failed" else msg.infeasible).reason
    if len(reason) > MAX_FIELD:
        raise InvalidArgumentError(f"{kind}.reason is longer than {MAX_FIELD} characters")
    metadata.setdefault("reason", reason)
    state = TrialState.FAILED if kind == "failed" else TrialState.INFEASIBLE
    retryable = kind == "failed" and msg.failed.retryable
    if retryable and not isinstance(msg, pb.ReportRequest):
        raise InvalidArgumentError("failed.retryable applies to reports of proposed trials")
    return Outcome(state, None, msg.checkpoint_uri, metadata, retryable)


def _stopped(msg: pb.ReportRequest, metadata: dict[str, str]) -> Outcome:
    stop = msg.stopped
    if len(stop.reason) > MAX_FIELD:
        raise InvalidArgumentError(f"stopped.reason is longer than {MAX_FIELD} characters")
    if stop.reason:
        metadata.setdefault("reason", stop.reason)
    value = None
    if stop.HasField("value"):
        if not math.isfinite(stop.value):
            raise InvalidArgumentError(f"stopped.value must be a finite number, got {stop.value}")
        value = stop.value + 0.0
    return Outcome(TrialState.STOPPED, value, msg.checkpoint_uri, metadata)


def tell_rows_from_proto(rows: Any) -> list[Row]:
    """The rows of a TellMany request; a row whose fields are out of bounds carries its
    error (reported with its line number)."""
    if not 1 <= len(rows) <= MAX_ROWS:
        raise InvalidArgumentError(f"give 1..{MAX_ROWS} rows per request, got {len(rows)}")
    out = []
    for i, row in enumerate(rows, 1):
        line = row.line or i
        try:
            if len(row.architecture.text) > MAX_TEXT:
                raise InvalidArgumentError(f"architecture text is longer than {MAX_TEXT}")
            params = params_from_proto(row.architecture.params)
            out.append(Row(line, row.architecture.text, params, outcome_from_proto(row)))
        except InvalidArgumentError as e:
            out.append(Row(line, error=str(e)))
    return out


def tell_result_to_proto(result: RowResult) -> pb.TellManyResult:
    msg = pb.TellManyResult(line=result.line, created=result.created, error=result.error)
    if result.trial is not None:
        msg.trial.CopyFrom(trial_to_proto(result.trial))
    return msg


def metadata_from_proto(metadata: Any) -> dict[str, str]:
    """A trial's metadata map, within its bounds (entries, key and value length, total)."""
    if len(metadata) > MAX_METADATA:
        raise InvalidArgumentError(f"metadata has more than {MAX_METADATA} entries")
    total = 0
    for key, value in metadata.items():
        if key == SIGNATURE_KEY:
            parse_signature(value)  # its own bounds: up to 1,024 finite numbers
        elif not key or len(key) > MAX_KEY or len(value) > MAX_FIELD:
            raise InvalidArgumentError(
                f"metadata key {key[:40]!r}: keys need 1..{MAX_KEY} characters, values "
                f"<= {MAX_FIELD}"
            )
        total += len(key.encode()) + len(value.encode())
    if total > MAX_METADATA_BYTES:
        raise InvalidArgumentError(
            f"metadata holds {total} bytes; the limit is {MAX_METADATA_BYTES} in all"
        )
    return dict(metadata)


def states_from_proto(states: Any) -> list[TrialState]:
    out = []
    for s in states:
        try:
            out.append(TrialState(s))
        except ValueError:
            raise InvalidArgumentError(f"unknown trial state {s}") from None
    return out
