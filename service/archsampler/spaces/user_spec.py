"""The declarative spec of a user-defined search space (pydantic v2, strict).

A spec is a list of parameters (int / float / categorical), each optionally active only
when a condition on an *earlier* parameter holds, plus linear constraints
`sum(coef * value) <= / >= bound` over numeric parameters. An inactive parameter
contributes 0 to a constraint. Structure and types are checked field by field; the
cross-field rules (unique names, low < high, conditions, feasibility) are checked once
by `UserSpaceSpec` so every message carries its full path, e.g. `params[2].low: ...`.
Categorical choices are strings only (numbers would make `depth=3` ambiguous on the
wire); a choice must not contain `,` `=` or control characters, nor be empty (an empty
CSV cell means "inactive").
"""

from __future__ import annotations

import math
import re
from typing import Annotated
from typing import Any
from typing import Literal

import numpy as np
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator
from scipy.optimize import linprog

MAX_PARAMS = 256
MAX_CHOICES = 1024
"""Choices of one categorical param."""
MAX_TOTAL_CHOICES = 4096
"""Choices of all categorical params together (the width of the one-hot features)."""
MAX_CHOICE_LEN = 256
MAX_CONSTRAINTS = 256
MAX_CONSTRAINT_TERMS = 4096
"""Coefficients of all constraints together."""
MAX_CONDITION_VALUES = 4096
"""Values listed by all `in` conditions together."""
MAX_INT = 2**53
"""Bound on |low| and |high| of an int param (ints stay exact as floats and on the wire)."""
MAX_SPEC_BYTES = 262_144
"""Size of the normalised spec as compact JSON, so a study config always fits a message."""
MAX_NAME_LEN = 64
FLOAT_DIGITS = 12
"""Significant digits kept by `round_float` (canonical float form)."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_BAD_CHOICE = re.compile(r"[,=\x00-\x1f\x7f]")
_ORDER_OPS = ("<", "<=", ">", ">=")
_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

Scalar = str | int | float


def round_float(v: float) -> float:
    """`v` rounded to `FLOAT_DIGITS` significant digits, with -0.0 folded into 0.0."""
    return float(f"{v:.{FLOAT_DIGITS}g}") + 0.0


def _scalar(v: Any, where: str) -> Scalar:
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ValueError(f"{where}must be a string or a number, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{where}must be finite, got {v!r}")
    return v


class Condition(BaseModel):
    """`param op value`: the parameter is active only when this holds (and `param` is active)."""

    model_config = _CONFIG
    param: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in"]
    value: Any

    @field_validator("value")
    @classmethod
    def _value(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            if not v or len(v) > MAX_CHOICES:
                raise ValueError(f"a list value needs 1..{MAX_CHOICES} items, got {len(v)}")
            return tuple(_scalar(x, f"item {i} ") for i, x in enumerate(v))
        return _scalar(v, "")

    def holds(self, parent: Scalar) -> bool:
        """Whether the condition is true for the parent's value."""
        v = self.value
        if self.op == "in":
            return parent in v
        if self.op == "==":
            return parent == v
        if self.op == "!=":
            return parent != v
        if self.op == "<":
            return parent < v
        if self.op == "<=":
            return parent <= v
        if self.op == ">":
            return parent > v
        return parent >= v

    def describe(self) -> str:
        """The condition as text, e.g. `depth >= 3`."""
        v = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.param} {self.op} {v!r}"


class _Param(BaseModel):
    model_config = _CONFIG
    name: str
    condition: Condition | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or len(v) > MAX_NAME_LEN:
            raise ValueError(f"must be 1..{MAX_NAME_LEN} characters, got {len(v)}")
        if not _NAME.fullmatch(v):
            raise ValueError(f"{v!r} must match [A-Za-z_][A-Za-z0-9_.-]*")
        return v


class IntParam(_Param):
    """Integers `low, low + step, ..., high`; `log` samples log-uniformly (needs low >= 1)."""

    type: Literal["int"]
    low: int = Field(ge=-MAX_INT, le=MAX_INT)
    high: int = Field(ge=-MAX_INT, le=MAX_INT)
    step: int = 1
    log: bool = False

    @property
    def n_values(self) -> int:
        return (self.high - self.low) // self.step + 1

    def to_unit(self, v: float) -> float:
        """Position of `v` in [0, 1] (log scale when `log`)."""
        if self.log:
            return math.log(v / self.low) / math.log(self.high / self.low)
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> int:
        """Nearest grid value to unit position `u` (clipped to [0, 1])."""
        u = min(max(u, 0.0), 1.0)
        if self.log:
            return min(max(round(self.low * (self.high / self.low) ** u), self.low), self.high)
        return self.low + round(u * (self.high - self.low) / self.step) * self.step

    def sample(self, rng: np.random.Generator) -> int:
        """A uniform (or log-uniform) grid value."""
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return min(max(round(v), self.low), self.high)
        return self.low + self.step * int(rng.integers(self.n_values))


class FloatParam(_Param):
    """Reals in [low, high]; `log` samples log-uniformly (needs low > 0)."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False

    def to_unit(self, v: float) -> float:
        """Position of `v` in [0, 1] (log scale when `log`); exact for any finite range."""
        if self.log:
            return (math.log(v) - math.log(self.low)) / _log_span(self.low, self.high)
        span = self.high - self.low
        if math.isfinite(span):
            return (v - self.low) / span
        return (v / 2 - self.low / 2) / (self.high / 2 - self.low / 2)  # |high - low| > max

    def from_unit(self, u: float) -> float:
        """The value at unit position `u`, in canonical (rounded) form, within [low, high]."""
        u = min(max(u, 0.0), 1.0)
        if self.log:
            try:
                v = math.exp(math.log(self.low) + u * _log_span(self.low, self.high))
            except OverflowError:
                v = self.high
        else:
            span = self.high - self.low
            v = self.low + u * span if math.isfinite(span) else (1 - u) * self.low + u * self.high
        return min(max(round_float(v), self.low), self.high)

    def sample(self, rng: np.random.Generator) -> float:
        """A uniform (or log-uniform) value in canonical form."""
        return self.from_unit(float(rng.random()))


def _log_span(low: float, high: float) -> float:
    ratio = high / low
    return math.log(ratio) if math.isfinite(ratio) else math.log(high) - math.log(low)


class CategoricalParam(_Param):
    """One of `choices` (distinct non-empty strings)."""

    type: Literal["categorical"]
    choices: list[str] = Field(min_length=1, max_length=MAX_CHOICES)

    @field_validator("choices")
    @classmethod
    def _choices(cls, v: list[str]) -> list[str]:
        for i, c in enumerate(v):
            if not c or len(c) > MAX_CHOICE_LEN or _BAD_CHOICE.search(c):
                raise ValueError(
                    f"choice {i} {c[:64]!r} must be 1..{MAX_CHOICE_LEN} characters without "
                    "',', '=' or control characters"
                )
        if len(set(v)) < len(v):
            seen: set[str] = set()
            repeated: set[str] = set()
            for c in v:
                (repeated if c in seen else seen).add(c)
            dups = sorted(repeated)[:10]
            raise ValueError(f"choices must be distinct; repeated: {dups}")
        return v

    def sample(self, rng: np.random.Generator) -> str:
        """A uniform choice."""
        return self.choices[int(rng.integers(len(self.choices)))]


Param = Annotated[IntParam | FloatParam | CategoricalParam, Field(discriminator="type")]
PARAM_TYPES = ("int", "float", "categorical")


class Constraint(BaseModel):
    """`sum(coefficients[name] * value[name]) op bound`; an inactive param counts as 0."""

    model_config = _CONFIG
    coefficients: dict[str, float] = Field(min_length=1, max_length=MAX_PARAMS)
    op: Literal["<=", ">="]
    bound: float

    def scale_exponent(self, params: dict[str, Any]) -> int:
        """`f` such that the bound and every term `coef * value` over the params' ranges
        are below 2**f in magnitude (and f >= 1): rows scaled by 2**-f never overflow."""
        f = max(1, math.frexp(self.bound)[1])
        for name, coef in self.coefficients.items():
            p = params[name]
            f = max(f, math.frexp(coef)[1] + math.frexp(float(max(-p.low, p.high)))[1])
        return f

    def describe(self) -> str:
        """The constraint as text, e.g. `1*depth + 2*width <= 6`."""
        lhs = " + ".join(f"{c:g}*{n}" for n, c in self.coefficients.items())
        return f"{lhs} {self.op} {self.bound:g}"


class UserSpaceSpec(BaseModel):
    """A whole user space: parameters in declaration order plus linear constraints."""

    model_config = _CONFIG
    params: list[Param] = Field(min_length=1, max_length=MAX_PARAMS)
    constraints: list[Constraint] = Field(default=[], max_length=MAX_CONSTRAINTS)

    @model_validator(mode="after")
    def _semantics(self) -> UserSpaceSpec:
        errors = (
            _size_errors(self.params, self.constraints)
            or _param_errors(self.params)
            or _constraint_errors(self.params, self.constraints)
        )
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _size_errors(params: list[Any], constraints: list[Constraint]) -> list[str]:
    """The limits on the whole space (each part is bounded by its own field)."""
    errors = []
    choices = sum(len(p.choices) for p in params if p.type == "categorical")
    if choices > MAX_TOTAL_CHOICES:
        errors.append(
            f"params: {choices} categorical choices in all; the limit is {MAX_TOTAL_CHOICES}"
        )
    terms = sum(len(c.coefficients) for c in constraints)
    if terms > MAX_CONSTRAINT_TERMS:
        errors.append(
            f"constraints: {terms} coefficients in all; the limit is {MAX_CONSTRAINT_TERMS}"
        )
    listed = sum(
        len(p.condition.value)
        for p in params
        if p.condition is not None and isinstance(p.condition.value, tuple)
    )
    if listed > MAX_CONDITION_VALUES:
        errors.append(
            f"params: the 'in' conditions list {listed} values in all; the limit is "
            f"{MAX_CONDITION_VALUES}"
        )
    return errors


def _param_errors(params: list[Any]) -> list[str]:
    errors: list[str] = []
    index: dict[str, int] = {}
    for i, p in enumerate(params):
        at = f"params[{i}]"
        if p.name in index:
            errors.append(
                f"{at}.name: duplicate name {p.name!r} (first at params[{index[p.name]}])"
            )
        if p.type != "categorical":
            if not p.low < p.high:
                errors.append(f"{at}.low: must be < high, got low={p.low!r} high={p.high!r}")
            elif p.log and p.low <= 0:
                errors.append(f"{at}.low: must be > 0 when log is true, got {p.low!r}")
        if p.type == "int" and p.low < p.high:
            if p.step < 1:
                errors.append(f"{at}.step: must be >= 1, got {p.step}")
            elif (p.high - p.low) % p.step:
                errors.append(
                    f"{at}.step: high - low ({p.high - p.low}) is not a multiple of {p.step}"
                )
            elif p.log and p.step != 1:
                errors.append(f"{at}.step: must be 1 when log is true")
        if p.condition is not None:
            errors += _condition_errors(at, p.condition, params, index)
        index.setdefault(p.name, i)
    return errors


def _condition_errors(at: str, c: Condition, params: list[Any], index: dict[str, int]):
    at = f"{at}.condition"
    if c.param not in index:
        later = any(p.name == c.param for p in params)
        where = "a later param" if later else "an unknown param"
        return [f"{at}.param: {c.param!r} is {where}; a condition must name an earlier param"]
    parent = params[index[c.param]]
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    if (c.op == "in") != isinstance(c.value, tuple):
        return [f"{at}.value: op 'in' takes a list and the other ops a single value"]
    if parent.type == "categorical":
        if c.op in _ORDER_OPS:
            return [f"{at}.op: {c.op!r} needs a numeric param; {c.param!r} is categorical"]
        bad = [v for v in values if v not in parent.choices]
        if bad:
            return [f"{at}.value: {bad!r} not among the choices of {c.param!r}"]
    elif any(isinstance(v, str) for v in values):
        return [f"{at}.value: {c.param!r} is {parent.type}; compare it with numbers"]
    return []


def _constraint_errors(params: list[Any], constraints: list[Constraint]) -> list[str]:
    by_name = {p.name: p for p in params}
    errors: list[str] = []
    for k, con in enumerate(constraints):
        for name in con.coefficients:
            p = by_name.get(name)
            if p is None:
                errors.append(f"constraints[{k}].coefficients.{name}: unknown param")
            elif p.type == "categorical":
                errors.append(
                    f"constraints[{k}].coefficients.{name}: categorical params cannot be "
                    "constrained; only int and float"
                )
    if errors or not constraints:
        return errors
    return _feasibility_errors(params, constraints)


MAX_INTEGER_INDEX = 2**30
"""Int params with more values than this are relaxed to reals in the feasibility check."""


def _feasibility_errors(params: list[Any], constraints: list[Constraint]) -> list[str]:
    """LP check over the box (for a conditional param, the hull of {0} and its range).

    Unconditional ints are solved for their grid index (exact integers). Every other
    column `x` is scaled to `z = x * 2**-e` in [-1, 1] and every row by `2**-f`
    (`Constraint.scale_exponent`), both exact powers of two, so ranges and coefficients
    up to the float maximum neither overflow nor lose the solver's precision.
    """
    names = sorted({n for c in constraints for n in c.coefficients})
    col = {n: j for j, n in enumerate(names)}
    by_name = {p.name: p for p in params}
    bounds, integrality, exps = [], [], []
    for n in names:
        p = by_name[n]
        if p.condition is None and p.type == "int" and p.n_values <= MAX_INTEGER_INDEX:
            bounds.append((0, p.n_values - 1))  # solve for the grid index: exact integers
            integrality.append(1)
            exps.append(0)
            continue
        lo, hi = (p.low, p.high) if p.condition is None else (min(p.low, 0), max(p.high, 0))
        e = math.frexp(float(max(-lo, hi)))[1]
        bounds.append((math.ldexp(lo, -e), math.ldexp(hi, -e)))
        integrality.append(0)
        exps.append(e)
    A = np.zeros((len(constraints), len(names)))
    b = np.zeros(len(constraints))
    for k, con in enumerate(constraints):
        sign = 1.0 if con.op == "<=" else -1.0
        f = con.scale_exponent(by_name)
        b[k] = sign * math.ldexp(con.bound, -f)
        for n, coef in con.coefficients.items():
            p, j = by_name[n], col[n]
            if integrality[j]:
                A[k, j] += sign * math.ldexp(coef, -f) * p.step
                b[k] -= sign * math.ldexp(coef, -f) * p.low
            else:
                A[k, j] += sign * math.ldexp(coef, exps[j] - f)
        lo = sum(min(A[k, j] * bounds[j][0], A[k, j] * bounds[j][1]) for j in range(len(names)))
        if lo > b[k] + 1e-9:
            return [f"constraints[{k}]: {con.describe()} cannot hold for any values in range"]
    res = linprog(
        np.zeros(len(names)),
        A_ub=A,
        b_ub=b,
        bounds=bounds,
        integrality=integrality,
        method="highs",
    )
    if res.status == 2:
        return ["constraints: infeasible; no values within the params' ranges satisfy them all"]
    return []


def render_error(err: ValidationError) -> str:
    """Pydantic errors as `path: message` joined by `; ` (discriminator tags dropped)."""
    parts = []
    for e in err.errors():
        loc = list(e["loc"])
        if len(loc) > 2 and loc[0] == "params" and loc[2] in PARAM_TYPES:
            del loc[2]
        path = ""
        for item in loc:
            path += f"[{item}]" if isinstance(item, int) else (f".{item}" if path else str(item))
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)
