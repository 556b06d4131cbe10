"""A Katib `nas_config` as a user space, answered in the format of Katib's ENAS suggestion.

Katib's ENAS numbers every operation × every combination of its parameters' values
(categorical lists, int ranges `min..max` by `step`, double ranges `min, min + step, ... <=
max`) in declaration order: the first parameter varies slowest. A network of `num_layers`
layers is then, for layer l, the operation id followed by l skip flags (0/1) to the earlier
layers. Trial images written for ENAS read two assignments, both JSON with single quotes:

    architecture  [[3], [0, 1], [0, 0, 1], [2, 1, 0, 0]]
    nn_config     {'num_layers': 4, 'input_sizes': [32, 32, 3], 'output_sizes': [10],
                   'embedding': {'3': {'opt_id': 3, 'opt_type': 'convolution',
                                       'opt_params': {'filter_size': '3', ...}}, ...}}

The study's user space has one categorical param `layer_<l>_op` (the op ids as strings) per
layer and one int param `layer_<l>_skip_<j>` in 0..1 per earlier layer j.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from archsampler.errors import InvalidArgumentError
from archsampler.katib._proto import api_pb2 as kpb
from archsampler.katib.parsing import int_range
from archsampler.katib.parsing import number as _number
from archsampler.spaces.user_spec import MAX_CHOICES
from archsampler.spaces.user_spec import MAX_PARAMS
from archsampler.spaces.user_spec import MAX_TOTAL_CHOICES
from archsampler.spaces.user_spec import round_float

MAX_LAYERS = 22
"""Layers of a nas_config: 22 layers are 22 + 231 = 253 params (a user space has <= 256)."""
MAX_SIZES = 64
"""Entries of `input_sizes` / `output_sizes`."""
MAX_OPERATIONS = MAX_CHOICES
"""Operation ids (operations × parameter combinations): the choices of one categorical."""
MAX_TEXT = 256
"""Characters of an operation type or a categorical value."""
_QUOTES = ("'", '"')


@dataclass(frozen=True)
class Operation:
    """One operation id: its type and parameter values (ENAS's `embedding` entry)."""

    opt_id: int
    opt_type: str
    opt_params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"opt_id": self.opt_id, "opt_type": self.opt_type, "opt_params": self.opt_params}


def _text(value: str, where: str) -> str:
    if not value or len(value) > MAX_TEXT or any(q in value for q in _QUOTES):
        raise InvalidArgumentError(
            f"{where} {value[:40]!r} must be 1..{MAX_TEXT} characters without quotes "
            "(the ENAS format writes it inside single-quoted JSON)"
        )
    return value


def double_grid(low: float, high: float, step: float, where: str, limit: int) -> list[float]:
    """`low, low + step, ... <= high` (canonical floats), at most `limit` values."""
    if step <= 0:
        raise InvalidArgumentError(f"{where}.step must be > 0, got {step!r}")
    if high < low:
        raise InvalidArgumentError(f"{where}: min {low!r} is above max {high!r}")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > limit:
        raise InvalidArgumentError(
            f"{where}: min..max by step has {count} values; the limit is {limit}"
        )
    return [round_float(min(low + i * step, high)) for i in range(count)]


def _values(spec: Any, where: str) -> list[Any]:
    """The values one operation parameter takes, as ENAS lists them."""
    space = spec.feasible_space
    kind = spec.parameter_type
    if kind == kpb.CATEGORICAL:
        if not space.list:
            raise InvalidArgumentError(f"{where}.feasible_space.list is empty")
        return [_text(v, f"{where}.feasible_space.list value") for v in space.list]
    if kind == kpb.INT:
        low, high, step = int_range(space, where)
        count = (high - low) // step + 1
        if count > MAX_OPERATIONS:
            raise InvalidArgumentError(
                f"{where}: min..max by step has {count} values; the limit is {MAX_OPERATIONS}"
            )
        return list(range(low, high + 1, step))
    if kind == kpb.DOUBLE:
        if not space.step:
            raise InvalidArgumentError(f"{where}.feasible_space.step is required for DOUBLE")
        return double_grid(
            _number(space.min, f"{where}.feasible_space.min"),
            _number(space.max, f"{where}.feasible_space.max"),
            _number(space.step, f"{where}.feasible_space.step"),
            f"{where}.feasible_space",
            MAX_OPERATIONS,
        )
    if kind == kpb.DISCRETE:
        raise InvalidArgumentError(
            f"{where}: DISCRETE operation parameters are not numbered by Katib's ENAS (it "
            "skips them); use CATEGORICAL"
        )
    raise InvalidArgumentError(f"{where}.parameter_type must be CATEGORICAL, INT or DOUBLE")


def operations(nas: Any) -> list[Operation]:
    """Every operation id of `nas_config.operations`, numbered as Katib's ENAS does."""
    ops: list[Operation] = []
    declared = list(nas.operations.operation)
    if not declared:
        raise InvalidArgumentError("experiment.spec.nas_config.operations is empty")
    for i, op in enumerate(declared):
        where = f"experiment.spec.nas_config.operations.operation[{i}]"
        kind = _text(op.operation_type, f"{where}.operation_type")
        specs = list(op.parameter_specs.parameters)
        if not specs:
            raise InvalidArgumentError(f"{where}.parameter_specs is empty")
        names: list[str] = []
        grids: list[list[Any]] = []
        for j, spec in enumerate(specs):
            at = f"{where}.parameter_specs.parameters[{j}]"
            name = _text(spec.name, f"{at}.name")
            if name in names:
                raise InvalidArgumentError(f"{at}.name {name!r} is repeated")
            names.append(name)
            grids.append(_values(spec, at))
        count = math.prod(len(g) for g in grids)
        if len(ops) + count > MAX_OPERATIONS:
            raise InvalidArgumentError(
                f"{where}: the operations have more than {MAX_OPERATIONS} ids "
                f"(operation × parameter combinations); the limit is {MAX_OPERATIONS}"
            )
        for values in itertools.product(*grids):
            ops.append(Operation(len(ops), kind, dict(zip(names, values, strict=True))))
    return ops


class NasCodec:
    """Assignments <-> user-space params for one `nas_config`."""

    def __init__(self, nas: Any) -> None:
        graph = nas.graph_config
        where = "experiment.spec.nas_config.graph_config"
        if not 1 <= graph.num_layers <= MAX_LAYERS:
            raise InvalidArgumentError(
                f"{where}.num_layers must be in 1..{MAX_LAYERS}, got {graph.num_layers}"
            )
        for field in ("input_sizes", "output_sizes"):
            sizes = list(getattr(graph, field))
            if not 1 <= len(sizes) <= MAX_SIZES:
                raise InvalidArgumentError(
                    f"{where}.{field} needs 1..{MAX_SIZES} entries, got {len(sizes)}"
                )
        self.num_layers = int(graph.num_layers)
        self.input_sizes = [int(v) for v in graph.input_sizes]
        self.output_sizes = [int(v) for v in graph.output_sizes]
        self.ops = operations(nas)
        choices = self.num_layers * len(self.ops)
        if choices > MAX_TOTAL_CHOICES:
            raise InvalidArgumentError(
                f"experiment.spec.nas_config: {self.num_layers} layers × {len(self.ops)} "
                f"operation ids = {choices} choices; the limit is {MAX_TOTAL_CHOICES}"
            )
        assert self.num_layers * (self.num_layers + 1) // 2 <= MAX_PARAMS

    def space(self) -> dict[str, Any]:
        """The user space spec: per layer an op categorical, then its skip flags."""
        ids = [str(op.opt_id) for op in self.ops]
        params: list[dict[str, Any]] = []
        for layer in range(self.num_layers):
            params.append({"name": f"layer_{layer}_op", "type": "categorical", "choices": ids})
            for j in range(layer):
                params.append(
                    {"name": f"layer_{layer}_skip_{j}", "type": "int", "low": 0, "high": 1}
                )
        return {"params": params}

    def architecture(self, params: dict[str, Any]) -> list[list[int]]:
        """ENAS's `architecture` list of a study's params."""
        return [
            [int(params[f"layer_{layer}_op"])]
            + [int(params[f"layer_{layer}_skip_{j}"]) for j in range(layer)]
            for layer in range(self.num_layers)
        ]

    def to_assignments(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """`architecture` and `nn_config`, as Katib's ENAS writes them."""
        arch = self.architecture(params)
        embedding: dict[str, Any] = {}
        for layer in arch:
            embedding.setdefault(str(layer[0]), self.ops[layer[0]].as_dict())
        nn_config = {
            "num_layers": self.num_layers,
            "input_sizes": self.input_sizes,
            "output_sizes": self.output_sizes,
            "embedding": embedding,
        }
        return [("architecture", _single_quoted(arch)), ("nn_config", _single_quoted(nn_config))]

    def from_assignments(self, assignments: dict[str, str]) -> dict[str, Any]:
        """The study params of a trial's `architecture` assignment (validated)."""
        text = assignments.get("architecture")
        if text is None:
            raise InvalidArgumentError("the trial has no 'architecture' assignment")
        try:
            arch = json.loads(text.replace("'", '"'))
        except ValueError:
            raise InvalidArgumentError(f"architecture {text[:80]!r} is not a JSON list") from None
        if not isinstance(arch, list) or len(arch) != self.num_layers:
            raise InvalidArgumentError(
                f"architecture {text[:80]!r} must list {self.num_layers} layers"
            )
        params: dict[str, Any] = {}
        for layer, entry in enumerate(arch):
            if (
                not isinstance(entry, list)
                or len(entry) != layer + 1
                or not all(type(v) is int for v in entry)
                or not 0 <= entry[0] < len(self.ops)
                or any(v not in (0, 1) for v in entry[1:])
            ):
                raise InvalidArgumentError(
                    f"architecture layer {layer} must be [op id in 0..{len(self.ops) - 1}] "
                    f"followed by {layer} skip flags 0/1, got {str(entry)[:80]}"
                )
            params[f"layer_{layer}_op"] = str(entry[0])
            for j, flag in enumerate(entry[1:]):
                params[f"layer_{layer}_skip_{j}"] = flag
        return params


def _single_quoted(value: Any) -> str:
    """JSON with single quotes, as Katib's ENAS writes its assignments."""
    return json.dumps(value).replace('"', "'")
