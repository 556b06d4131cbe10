"""Framework-neutral parameter codecs: a platform's parameters as an archsampler user space.

Every integration (Optuna, Ray Tune, NNI) turns its own search-space format into a list
of `Param` codecs built by the factories here, and a `Space` of them gives the user-space
spec `CreateStudy` takes plus the two conversions each integration needs: a proposal's
wire params → the platform's values (`decode`), and the platform's values → a wire
architecture for Tell (`encode`).

- `categorical(name, choices)` → `categorical` over string tokens: `str(choice)` when every
  token is a valid, distinct archsampler choice (so `None`, `True`, `3`, `0.5` read
  naturally), else `#0`, `#1`, …; a token maps back to the original object by position.
- `integer(name, low, high, step, log)` → `int` with the same bounds, step and log.
- `real(name, low, high, log)` → `float`.
- `grid(name, first, last, q, ...)` → `int` index `k` in `first..last` (log-uniform when
  `log`), value `offset + k × q` computed in decimal (so 7 × 0.05 is 0.35) and clipped to
  `[low, high]`: every quantized distribution lands exactly on its platform's grid, and two
  distinct proposals are two distinct values.

A parameter may carry a `condition` on an earlier one (`{"param": <name>, "op": "==",
"value": <choice>}`, names as the platform spells them); it is active only when it holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_BAD_CHOICE = re.compile(r"[,=\x00-\x1f\x7f]")


def wire_name(name: str) -> str:
    """The archsampler name of a platform parameter (stable across processes)."""
    if _NAME.match(name):
        return name
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:48]
    if not safe or not (safe[0].isalpha() or safe[0] == "_"):
        safe = "p_" + safe
    return f"{safe}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def choice_tokens(choices: Sequence[Any]) -> list[str]:
    """Wire tokens of categorical choices: natural strings when valid and distinct, else `#i`."""
    natural = [str(c) for c in choices]
    valid = all(0 < len(t) <= 256 and not _BAD_CHOICE.search(t) for t in natural)
    if valid and len(set(natural)) == len(natural):
        return natural
    return [f"#{i}" for i in range(len(choices))]


class Param:
    """One parameter's codec: platform value ↔ wire value, plus its user-space spec.

    Built by `categorical`, `integer`, `real` or `grid` (picklable, like every codec);
    `spec` is the JSON `CreateStudy` takes for it, with the wire name and, once in a
    `Space`, the wire form of its condition.
    """

    def __init__(
        self, name: str, spec: dict[str, Any], condition: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self.wire = wire_name(name)
        self.condition = condition
        self.spec: dict[str, Any] = {"name": self.wire, **spec}

    def decode(self, v: Any) -> Any:
        """The platform value of a proposed wire value."""
        return v

    def encode(self, v: Any) -> Any:
        """The wire value of a platform value (for Tell)."""
        return v


class _Categorical(Param):
    def __init__(self, name: str, choices: Sequence[Any], condition: dict | None) -> None:
        self.choices = tuple(choices)
        self.tokens = choice_tokens(self.choices)
        super().__init__(name, {"type": "categorical", "choices": self.tokens}, condition)

    def decode(self, v: Any) -> Any:
        return self.choices[self.tokens.index(str(v))]

    def encode(self, v: Any) -> Any:
        for i, c in enumerate(self.choices):
            if c == v or (c != c and v != v):  # NaN matches NaN here, as in Optuna
                return self.tokens[i]
        raise ValueError(f"parameter {self.name!r}: {v!r} is not one of {list(self.choices)}")


class _Integer(Param):
    def decode(self, v: Any) -> Any:
        return int(v)

    def encode(self, v: Any) -> Any:
        return int(v)


class _Real(Param):
    def __init__(self, name: str, low: float, high: float, log: bool, condition: dict | None):
        self.low, self.high = low, high
        spec: dict[str, Any] = {"type": "float", "low": float(low), "high": float(high)}
        super().__init__(name, spec | ({"log": True} if log else {}), condition)

    def decode(self, v: Any) -> Any:
        return min(max(float(v), self.low), self.high)

    def encode(self, v: Any) -> Any:
        return float(v)


class _Grid(Param):
    def __init__(self, name: str, spec: dict[str, Any], condition: dict | None, **how: Any):
        self.q, self.offset, self.low, self.high, self.cast = (
            how["q"],
            how["offset"],
            how["low"],
            how["high"],
            how["cast"],
        )
        super().__init__(name, spec, condition)

    def decode(self, k: Any) -> Any:  # in decimal, so 0 + 7 x 0.05 is 0.35
        v = Decimal(str(self.offset)) + int(k) * Decimal(str(self.q))
        return self.cast(min(max(float(v), self.low), self.high))

    def encode(self, v: Any) -> Any:
        return int(round((float(v) - self.offset) / self.q))


def categorical(
    name: str, choices: Sequence[Any], condition: dict[str, Any] | None = None
) -> Param:
    """A choice among `choices` (any objects; each maps back to itself by position)."""
    return _Categorical(name, choices, condition)


def integer(
    name: str,
    low: int,
    high: int,
    step: int = 1,
    log: bool = False,
    condition: dict[str, Any] | None = None,
) -> Param:
    """Integers `low, low + step, …, high` (log-uniform when `log`)."""
    spec: dict[str, Any] = {"type": "int", "low": int(low), "high": int(high)}
    spec |= {"step": int(step)} if step != 1 else {}
    spec |= {"log": True} if log else {}
    return _Integer(name, spec, condition)


def real(
    name: str, low: float, high: float, log: bool = False, condition: dict[str, Any] | None = None
) -> Param:
    """Reals in `[low, high]` (log-uniform when `log`)."""
    return _Real(name, low, high, log, condition)


def grid(
    name: str,
    first: int,
    last: int,
    q: float,
    *,
    offset: float = 0.0,
    low: float = -math.inf,
    high: float = math.inf,
    log: bool = False,
    cast: Callable[[float], Any] = float,
    condition: dict[str, Any] | None = None,
) -> Param:
    """Values `clip(offset + k × q, low, high)` for `k` in `first..last` (log-uniform in `k`).

    Raises:
        ValueError: the grid is empty, or `log` with `first < 1`.
    """
    if last < first:
        raise ValueError(f"parameter {name!r}: no multiple of q={q} between its bounds")
    if log and first < 1:
        raise ValueError(f"parameter {name!r}: a log-scale grid needs values >= q={q}")
    spec: dict[str, Any] = {"type": "int", "low": int(first), "high": int(last)}
    spec |= {"log": True} if log else {}
    how = {"q": q, "offset": offset, "low": low, "high": high, "cast": cast}
    return _Grid(name, spec, condition, **how)


class Space:
    """The archsampler user space of a list of parameter codecs.

    Args:
        params: the codecs, parents before the parameters whose condition names them.
        digest_doc: what identifies the space on its platform (any JSON-able value);
            `digest` is its SHA-256, so equal platform spaces share a digest.

    Raises:
        ValueError: two parameter names map to the same archsampler name, or a condition
            names no earlier parameter.
    """

    def __init__(self, params: Sequence[Param], digest_doc: Any = None) -> None:
        self.params = list(params)
        self._by_wire = {p.wire: p for p in self.params}
        if len(self._by_wire) != len(self.params):
            wires = [p.wire for p in self.params]
            raise ValueError(f"parameter names collide once made archsampler names: {wires}")
        self._by_name = {p.name: p for p in self.params}
        seen: dict[str, Param] = {}
        for p in self.params:
            if p.condition is not None:
                parent = seen.get(p.condition["param"])
                if parent is None:
                    raise ValueError(f"parameter {p.name!r}: condition on an unknown parameter")
                value = p.condition["value"]
                wire_value = parent.encode(value) if p.condition["op"] == "==" else value
                p.spec["condition"] = {**p.condition, "param": parent.wire, "value": wire_value}
            seen[p.name] = p
        self.spec: dict[str, Any] = {"params": [p.spec for p in self.params]}
        doc = json.dumps(digest_doc, sort_keys=True, default=repr)
        self.digest = hashlib.sha256(doc.encode()).hexdigest()

    def __bool__(self) -> bool:
        return bool(self.params)

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        """Platform values of a proposal's params (wire names → platform names); inactive
        parameters are absent."""
        return {self._by_wire[w].name: self._by_wire[w].decode(v) for w, v in params.items()}

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        """The wire architecture of platform values. A conditional parameter may be absent;
        KeyError names a missing unconditional one."""
        out = {}
        for p in self.params:
            if p.name in values:
                out[p.wire] = p.encode(values[p.name])
            elif p.condition is None:
                raise KeyError(p.name)
        return out


MISSING: Any = object()
"""What `lookup` returns for a path that is not in the config."""


def put(config: dict[str, Any], path: Sequence[Any], value: Any) -> None:
    """Set `config[path[0]][path[1]]… = value`, creating the dicts on the way."""
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def lookup(config: Any, path: Sequence[Any]) -> Any:
    """`config[path[0]][path[1]]…`, or `MISSING` where the path does not exist."""
    for key in path:
        if not isinstance(config, dict) or key not in config:
            return MISSING
        config = config[key]
    return config
