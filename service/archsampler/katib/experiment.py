"""A Katib Experiment as an archsampler study: name, config, and its assignment codec.

`parameter_specs` become a user space, one param per Katib parameter in the same order:

| Katib | study param | assignment value |
| --- | --- | --- |
| DOUBLE min/max (distribution UNIFORM or unset) | float low/high | `repr` of the float |
| DOUBLE min/max, LOG_UNIFORM | float, log | same |
| DOUBLE min/max/step | categorical `min, min + step, ... <= max` (<= 1,024) | the value |
| INT min/max[/step] (LOG_UNIFORM: log) | int low/high/step (max onto the grid) | the int |
| DISCRETE list (numbers) | categorical of the numbers as written | the number as written |
| CATEGORICAL list | categorical | the value |

A range with min == max becomes a one-choice categorical. NORMAL / LOG_NORMAL distributions
are refused. A `nas_config` becomes the space of `archsampler.katib.enas`. The objective
type sets the study goal; the algorithm settings `strategy` and `seed` pick the strategy and
its seed, every other setting is a strategy option (its value read as JSON when it parses,
else as a string). Every error is INVALID_ARGUMENT naming the Experiment field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from typing import Protocol

from archsampler.errors import InvalidArgumentError
from archsampler.katib._proto import api_pb2 as kpb
from archsampler.katib.enas import NasCodec
from archsampler.katib.enas import double_grid
from archsampler.katib.parsing import int_range
from archsampler.katib.parsing import integer as _integer
from archsampler.katib.parsing import number as _number
from archsampler.spaces.user_spec import MAX_CHOICES
from archsampler.spaces.user_spec import MAX_NAME_LEN
from archsampler.spaces.user_spec import round_float
from archsampler.study import check_name

STUDY_PREFIX = "katib-"
MAX_SETTINGS = 64
MAX_SETTING_VALUE = 4096
RESERVED_SETTINGS = ("strategy", "seed")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SETTINGS = "experiment.spec.algorithm.algorithm_settings"


class Codec(Protocol):
    """Study params <-> a Katib trial's parameter assignments."""

    def space(self) -> dict[str, Any]: ...

    def to_assignments(self, params: dict[str, Any]) -> list[tuple[str, str]]: ...

    def from_assignments(self, assignments: dict[str, str]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class KatibStudy:
    """What an Experiment maps to: the study name and config, and how to read its trials."""

    name: str
    config: dict[str, Any]
    codec: Codec
    metric: str


def _format(value: float) -> str:
    return repr(round_float(value))


class HpoCodec:
    """Katib `parameter_specs` <-> a user space (see the module docstring)."""

    def __init__(self, specs: list[Any]) -> None:
        if not specs:
            raise InvalidArgumentError(
                "experiment.spec.parameter_specs is empty and there is no nas_config"
            )
        self.params: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            where = f"experiment.spec.parameter_specs.parameters[{i}]"
            name = spec.name
            if not (len(name) <= MAX_NAME_LEN and _PARAM_NAME.fullmatch(name)):
                raise InvalidArgumentError(
                    f"{where}.name {name[:80]!r} must be 1..{MAX_NAME_LEN} characters matching "
                    "[A-Za-z_][A-Za-z0-9_.-]*"
                )
            if name in seen:
                raise InvalidArgumentError(f"{where}.name {name!r} is repeated")
            seen.add(name)
            self.params.append(self._param(name, spec, where))

    @staticmethod
    def _param(name: str, spec: Any, where: str) -> dict[str, Any]:
        space = spec.feasible_space
        kind = spec.parameter_type
        if space.distribution in (kpb.NORMAL, kpb.LOG_NORMAL):
            raise InvalidArgumentError(
                f"{where}.feasible_space.distribution {kpb.Distribution.Name(space.distribution)} "
                "is not supported; use UNIFORM or LOG_UNIFORM"
            )
        log = space.distribution == kpb.LOG_UNIFORM
        if kind in (kpb.CATEGORICAL, kpb.DISCRETE):
            values = list(space.list)
            if not values:
                raise InvalidArgumentError(f"{where}.feasible_space.list is empty")
            if kind == kpb.DISCRETE:
                for v in values:
                    _number(v, f"{where}.feasible_space.list value")
            return {"name": name, "type": "categorical", "choices": values}
        if kind == kpb.DOUBLE:
            low = _number(space.min, f"{where}.feasible_space.min")
            high = _number(space.max, f"{where}.feasible_space.max")
            if high < low:
                raise InvalidArgumentError(f"{where}: min {low!r} is above max {high!r}")
            if space.step:
                step = _number(space.step, f"{where}.feasible_space.step")
                grid = double_grid(low, high, step, f"{where}.feasible_space", MAX_CHOICES)
                return {"name": name, "type": "categorical", "choices": [_format(v) for v in grid]}
            if low == high:
                return {"name": name, "type": "categorical", "choices": [_format(low)]}
            return {"name": name, "type": "float", "low": low, "high": high, "log": log}
        if kind == kpb.INT:
            low, high, step = int_range(space, where)
            high = low + (high - low) // step * step
            if low == high:
                return {"name": name, "type": "categorical", "choices": [str(low)]}
            return {
                "name": name,
                "type": "int",
                "low": low,
                "high": high,
                "step": step,
                "log": log,
            }
        raise InvalidArgumentError(
            f"{where}.parameter_type must be DOUBLE, INT, DISCRETE or CATEGORICAL"
        )

    def space(self) -> dict[str, Any]:
        return {"params": self.params}

    def to_assignments(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for p in self.params:
            value = params[p["name"]]
            out.append((p["name"], _format(value) if p["type"] == "float" else str(value)))
        return out

    def from_assignments(self, assignments: dict[str, str]) -> dict[str, Any]:
        names = [p["name"] for p in self.params]
        if sorted(assignments) != sorted(names):
            raise InvalidArgumentError(
                f"assignments name {sorted(assignments)[:20]}; the experiment has {names[:20]}"
            )
        params: dict[str, Any] = {}
        for p in self.params:
            text = assignments[p["name"]]
            if p["type"] == "int":
                params[p["name"]] = _integer(text, f"assignment {p['name']!r}")
            elif p["type"] == "float":
                params[p["name"]] = _number(text, f"assignment {p['name']!r}")
            else:
                params[p["name"]] = text
        return params


def _settings(settings: list[Any], default_strategy: str) -> tuple[str, int, dict[str, Any]]:
    """(strategy, seed, strategy options) of the algorithm settings."""
    if len(settings) > MAX_SETTINGS:
        raise InvalidArgumentError(f"{_SETTINGS}: {len(settings)} settings; the limit is 64")
    strategy, seed, options = default_strategy, 0, {}
    seen: set[str] = set()
    for i, setting in enumerate(settings):
        where = f"{_SETTINGS}[{i}]"
        name, text = setting.name, setting.value
        if not name or len(name) > MAX_NAME_LEN:
            raise InvalidArgumentError(f"{where}.name must be 1..{MAX_NAME_LEN} characters")
        if len(text) > MAX_SETTING_VALUE:
            raise InvalidArgumentError(
                f"{where} {name!r}: the value is longer than {MAX_SETTING_VALUE} characters"
            )
        if name in seen:
            raise InvalidArgumentError(f"{where}: setting {name!r} is repeated")
        seen.add(name)
        if name == "strategy":
            strategy = text
        elif name == "seed":
            try:
                seed = int(text)
            except ValueError:
                seed = -1
            if not 0 <= seed < 2**63:
                raise InvalidArgumentError(
                    f"{where} 'seed' must be an integer in 0..2^63-1, got {text[:40]!r}"
                )
        else:
            try:
                options[name] = json.loads(text)
            except ValueError:
                options[name] = text
    return strategy, seed, options


def study_name(experiment_name: str) -> str:
    """The study an Experiment maps to: `katib-<experiment name>` (validated)."""
    if not experiment_name:
        raise InvalidArgumentError("experiment.name must not be empty")
    return check_name("experiment.name (prefixed 'katib-')", STUDY_PREFIX + experiment_name)


def katib_study(experiment: Any, default_strategy: str) -> KatibStudy:
    """The study (name, config, codec, objective metric) of a Katib `Experiment` message.

    The config is not validated here beyond Katib's own fields: `normalise_config` (run when
    the study is created, or by `ValidateAlgorithmSettings`) checks space and strategy.
    """
    name = study_name(experiment.name)
    spec = experiment.spec
    objective = spec.objective
    if objective.type not in (kpb.MAXIMIZE, kpb.MINIMIZE):
        raise InvalidArgumentError("experiment.spec.objective.type must be MAXIMIZE or MINIMIZE")
    if not objective.objective_metric_name:
        raise InvalidArgumentError("experiment.spec.objective.objective_metric_name is empty")
    nas = spec.nas_config
    is_nas = spec.HasField("nas_config") and (
        nas.graph_config.num_layers or len(nas.operations.operation)
    )
    if is_nas and spec.parameter_specs.parameters:
        raise InvalidArgumentError("experiment.spec: set parameter_specs or nas_config, not both")
    codec: Codec = NasCodec(nas) if is_nas else HpoCodec(list(spec.parameter_specs.parameters))
    strategy, seed, options = _settings(list(spec.algorithm.algorithm_settings), default_strategy)
    config = {
        "space": {"user": codec.space()},
        "strategy": strategy,
        "strategy_options": options,
        "goal": "maximize" if objective.type == kpb.MAXIMIZE else "minimize",
        "seed": seed,
    }
    return KatibStudy(name, config, codec, objective.objective_metric_name)


def config_error(err: InvalidArgumentError) -> InvalidArgumentError:
    """`normalise_config`'s error, named by the Experiment field it comes from."""
    text = str(err)
    if text.startswith("config.strategy: "):
        return InvalidArgumentError(f"{_SETTINGS}: {text.removeprefix('config.strategy: ')}")
    return InvalidArgumentError(f"experiment.spec (as a study space): {text}")
