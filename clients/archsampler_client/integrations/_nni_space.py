"""An NNI search space (its JSON format) as an archsampler user space (`_space` codecs).

Each `{"_type", "_value"}` entry becomes one parameter named by its path joined with `.`;
inside a nested choice, the path goes through the chosen option's `_name`
(`layer0.Conv.kernel_size`):

- `choice` → `categorical` (values: the original objects); a nested choice (options
  `{"_name": …, …}`) → `categorical` over the names, each option's parameters getting the
  condition `parent == name` (value: `{"_name": name, <its parameters>}`);
- `randint [lower, upper)` → `int` `lower..upper-1`;
- `uniform [low, high]` / `loguniform` → `float` (`log`);
- `quniform [low, high, q]` / `qloguniform` → `int` grid index `k` (`log`), value
  `clip(k × q, low, high)`.

A `q*` value is `clip(round(x / q) × q, low, high)` as in NNI; with `qloguniform`, `low`
itself is proposed only when it is at least `q / 2`. The unbounded `normal`, `qnormal`,
`lognormal`, `qlognormal` raise `ValueError` naming the parameter.
"""

from __future__ import annotations

import math
from typing import Any

from archsampler_client.integrations import _space
from archsampler_client.integrations._space import Space

SUPPORTED = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform")


def _nested(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, dict) and "_name" in v for v in values)


class NniSpace(Space):
    """The archsampler user space of an NNI search space (nested choices → conditions).

    Raises:
        ValueError: an unsupported or malformed `_type` / `_value` (named by its path).
    """

    def __init__(self, search_space: dict[str, Any]) -> None:
        self.paths: dict[str, tuple[str, ...]] = {}
        self.named: set[str] = set()  # nested choices: their value is `{"_name": …}`
        params: list[_space.Param] = []
        self._add(search_space, (), "", None, params)
        super().__init__(params, search_space)

    def _add(
        self,
        space: dict[str, Any],
        path: tuple[str, ...],
        prefix: str,
        condition: dict[str, Any] | None,
        params: list[_space.Param],
    ) -> None:
        for key, entry in space.items():
            if key == "_name":
                continue
            name = f"{prefix}{key}"
            if not isinstance(entry, dict) or "_type" not in entry or "_value" not in entry:
                raise ValueError(f"NNI parameter {name!r}: needs '_type' and '_value'")
            kind, values = entry["_type"], entry["_value"]
            if kind not in SUPPORTED:
                raise ValueError(
                    f"NNI parameter {name!r}: _type {kind!r} is not supported by archsampler "
                    f"(bounded types only: {', '.join(SUPPORTED)})"
                )
            self.paths[name] = (*path, key)
            params.append(_param(name, kind, list(values), condition))
            if kind == "choice" and _nested(values):
                self.named.add(name)
                for option in values:
                    cond = {"param": name, "op": "==", "value": option["_name"]}
                    sub = f"{name}.{option['_name']}."
                    self._add(option, (*path, key), sub, cond, params)

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """The NNI parameters (nested as the search space) of a proposal's wire params."""
        out: dict[str, Any] = {}
        for name, value in self.decode(params).items():
            path = self.paths[name]
            _space.put(out, (*path, "_name") if name in self.named else path, value)
        return out

    def flat(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """NNI values by parameter name, from NNI parameters; inactive ones left out."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.condition is not None and out.get(p.condition["param"]) != p.condition["value"]:
                continue
            path = self.paths[p.name]
            value = _space.lookup(parameters, (*path, "_name") if p.name in self.named else path)
            if value is not _space.MISSING:
                out[p.name] = value
        return out


def _param(
    name: str, kind: str, values: list[Any], condition: dict[str, Any] | None
) -> _space.Param:
    if kind == "choice":
        options = [v["_name"] for v in values] if _nested(values) else values
        return _space.categorical(name, options, condition)
    if kind == "randint":
        return _space.integer(
            name, math.ceil(values[0]), math.ceil(values[1]) - 1, condition=condition
        )
    low, high = float(values[0]), float(values[1])
    if kind in ("uniform", "loguniform"):
        return _space.real(name, low, high, kind == "loguniform", condition)
    q, log = float(values[2]), kind == "qloguniform"
    first, last = round(low / q), round(high / q)
    first = max(first, 1) if log else first
    return _space.grid(
        name, first, last, q, low=low, high=high, log=log, cast=float, condition=condition
    )
