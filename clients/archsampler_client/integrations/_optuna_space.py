"""Optuna distributions as an archsampler user space, and values across the two.

Each Optuna parameter becomes one user-space parameter (the JSON form `CreateStudy`
takes), named as in Optuna when the name is valid there, else a sanitised name with a
short hash of the original:

- `IntDistribution(low, high, step, log)` → `int` with the same bounds, step and log;
- `FloatDistribution(low, high, log)` → `float`; with a `step`, → `int` grid index
  `0..n-1` (value = low + index × step), so the proposal lands exactly on Optuna's grid;
- `CategoricalDistribution(choices)` → `categorical` over string tokens: `str(choice)`
  when every token is a valid, distinct archsampler choice (so `None`, `True`, `3`, `0.5`
  read naturally), else `#0`, `#1`, …; a token always maps back to the original choice
  object by position, so non-string choices round-trip faithfully (as far as Optuna's
  storage keeps them apart: it cannot tell `True` from `1` or `1.0` in one list).

Single-valued distributions are left out: Optuna fixes them without asking a sampler.
A space's `digest` hashes Optuna's own JSON of every distribution, so two spaces share a
digest exactly when Optuna sees them as equal.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.distributions import distribution_to_json

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_BAD_CHOICE = re.compile(r"[,=\x00-\x1f\x7f]")


def wire_name(name: str) -> str:
    """The archsampler name of an Optuna parameter (stable across processes)."""
    if _NAME.match(name):
        return name
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:48]
    if not safe or not (safe[0].isalpha() or safe[0] == "_"):
        safe = "p_" + safe
    return f"{safe}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _tokens(choices: tuple[Any, ...]) -> list[str]:
    natural = [str(c) for c in choices]
    valid = all(0 < len(t) <= 256 and not _BAD_CHOICE.search(t) for t in natural)
    if valid and len(set(natural)) == len(natural):
        return natural
    return [f"#{i}" for i in range(len(choices))]


class _Param:
    """One parameter's codec: Optuna value ↔ wire value, plus its user-space spec."""

    def __init__(self, name: str, dist: BaseDistribution) -> None:
        self.name = name
        self.dist = dist
        self.wire = wire_name(name)
        self.tokens: list[str] = []
        if isinstance(dist, CategoricalDistribution):
            self.tokens = _tokens(dist.choices)
            self.spec: dict[str, Any] = {"type": "categorical", "choices": self.tokens}
        elif isinstance(dist, IntDistribution):
            self.spec = {"type": "int", "low": dist.low, "high": dist.high}
            self.spec |= {"step": dist.step} if dist.step != 1 else {}
            self.spec |= {"log": True} if dist.log else {}
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            last = round((dist.high - dist.low) / dist.step)
            self.spec = {"type": "int", "low": 0, "high": last}
        elif isinstance(dist, FloatDistribution):
            self.spec = {"type": "float", "low": dist.low, "high": dist.high}
            self.spec |= {"log": True} if dist.log else {}
        else:
            raise TypeError(f"parameter {name!r}: unsupported distribution {dist!r}")
        self.spec = {"name": self.wire, **self.spec}

    def decode(self, v: Any) -> Any:
        """The Optuna value of a proposed wire value."""
        d = self.dist
        if isinstance(d, CategoricalDistribution):
            return d.choices[self.tokens.index(str(v))]
        if isinstance(d, IntDistribution):
            return int(v)
        assert isinstance(d, FloatDistribution)
        if d.step is not None:  # in decimal, so 0 + 7 x 0.05 is 0.35, not 0.35000000000000003
            return min(float(Decimal(str(d.low)) + int(v) * Decimal(str(d.step))), d.high)
        return min(max(float(v), d.low), d.high)

    def encode(self, v: Any) -> Any:
        """The wire value of an Optuna value (for Tell)."""
        d = self.dist
        if isinstance(d, CategoricalDistribution):
            return self.tokens[int(d.to_internal_repr(v))]
        if isinstance(d, IntDistribution):
            return int(v)
        assert isinstance(d, FloatDistribution)
        if d.step is not None:
            return int(round((float(v) - d.low) / d.step))
        return float(v)


class UserSpace:
    """The archsampler user space of a set of Optuna distributions.

    Args:
        distributions: Optuna parameter name → distribution; single-valued ones are
            dropped (Optuna fixes them itself).

    Raises:
        TypeError: a distribution Optuna no longer uses (the deprecated `Uniform…` ones are
            converted by Optuna before a sampler sees them).
        ValueError: two parameter names map to the same archsampler name.
    """

    def __init__(self, distributions: dict[str, BaseDistribution]) -> None:
        kept = {n: d for n, d in sorted(distributions.items()) if not d.single()}
        self.distributions: dict[str, BaseDistribution] = kept
        self._params = [_Param(n, d) for n, d in kept.items()]
        wires = [p.wire for p in self._params]
        if len(set(wires)) != len(wires):
            raise ValueError(f"parameter names collide once made archsampler names: {wires}")
        self._by_wire = {p.wire: p for p in self._params}
        self._by_name = {p.name: p for p in self._params}
        self.spec: dict[str, Any] = {"params": [p.spec for p in self._params]}
        doc = json.dumps({n: distribution_to_json(d) for n, d in kept.items()}, sort_keys=True)
        self.digest = hashlib.sha256(doc.encode()).hexdigest()

    def __bool__(self) -> bool:
        return bool(self._params)

    def __contains__(self, item: tuple[str, BaseDistribution]) -> bool:
        """Whether `(name, distribution)` is one of this space's parameters, as is."""
        name, dist = item
        return name in self.distributions and self.distributions[name] == dist

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        """Optuna values of a proposal's params (wire names → Optuna names)."""
        return {self._by_wire[w].name: self._by_wire[w].decode(v) for w, v in params.items()}

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        """The wire architecture of Optuna values; KeyError names a missing parameter."""
        out = {}
        for p in self._params:
            if p.name not in values:
                raise KeyError(p.name)
            out[p.wire] = p.encode(values[p.name])
        return out
