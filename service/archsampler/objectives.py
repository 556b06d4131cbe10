"""Several objectives: validating a study's declared objectives and metric constraints, the
values a report carries, and the Pareto front of a study's trials."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from archsampler.config import GOALS
from archsampler.config import StudyConfig
from archsampler.errors import InvalidArgumentError
from archsampler.pareto import pareto_mask

MAX_OBJECTIVES = 8
MAX_CONSTRAINTS = 8
VALUE_BOUND = 1e300
"""Reported objective values and constraint bounds are finite with |v| <= 1e300."""
MAX_FRONT = 1000
"""Trials a GetBest returns on the front at most (the first by id)."""
OPS = ("<=", ">=")
NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def normalise_objectives(
    objectives: Any, constraints: Any, strategy: str, multi_objective: bool
) -> tuple[tuple[dict[str, Any], ...] | None, tuple[dict[str, Any], ...] | None]:
    """Validate `config.objectives` and `config.metric_constraints`; their stored form.

    Raises:
        InvalidArgumentError: naming the field and the bound broken, or the strategy when it
            cannot optimise several objectives.
    """
    if not objectives:
        if constraints:
            raise InvalidArgumentError(
                "config.metric_constraints needs config.objectives (constraints bound reported "
                "objectives)"
            )
        return None, None
    if not isinstance(objectives, (list, tuple)):
        raise InvalidArgumentError("config.objectives must be a list of {name, goal}")
    if not 2 <= len(objectives) <= MAX_OBJECTIVES:
        raise InvalidArgumentError(
            f"config.objectives has {len(objectives)} entries; give 2..{MAX_OBJECTIVES} "
            "(one objective: use config.goal)"
        )
    out: list[dict[str, Any]] = []
    for i, o in enumerate(objectives):
        if not isinstance(o, Mapping) or set(o) - {"name", "goal"}:
            raise InvalidArgumentError(f"config.objectives[{i}] must be {{name, goal}}")
        name = o.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise InvalidArgumentError(
                f"config.objectives[{i}].name must be 1..64 chars of [A-Za-z0-9_.-], "
                f"got {str(name)[:70]!r}"
            )
        goal = o.get("goal") or "maximize"
        if goal not in GOALS:
            raise InvalidArgumentError(
                f"config.objectives[{i}].goal must be one of {list(GOALS)}, got {goal!r:.40}"
            )
        if any(p["name"] == name for p in out):
            raise InvalidArgumentError(f"config.objectives: name {name!r} appears twice")
        out.append({"name": name, "goal": goal})
    if not multi_objective:
        raise InvalidArgumentError(
            f"config.strategy {strategy!r} optimises one objective; with config.objectives "
            "use lanas, evolution or random"
        )
    return tuple(out), _constraints(constraints, [o["name"] for o in out])


def _constraints(constraints: Any, names: list[str]) -> tuple[dict[str, Any], ...] | None:
    if not constraints:
        return None
    if not isinstance(constraints, (list, tuple)) or len(constraints) > MAX_CONSTRAINTS:
        raise InvalidArgumentError(
            f"config.metric_constraints must be a list of at most {MAX_CONSTRAINTS} "
            "{name, op, bound}"
        )
    out: list[dict[str, Any]] = []
    for i, c in enumerate(constraints):
        if not isinstance(c, Mapping) or set(c) - {"name", "op", "bound"}:
            raise InvalidArgumentError(
                f"config.metric_constraints[{i}] must be {{name, op, bound}}"
            )
        if c.get("name") not in names:
            raise InvalidArgumentError(
                f"config.metric_constraints[{i}].name must be one of the objectives {names}, "
                f"got {str(c.get('name'))[:70]!r}"
            )
        if c.get("op") not in OPS:
            raise InvalidArgumentError(
                f"config.metric_constraints[{i}].op must be one of {list(OPS)}, "
                f"got {str(c.get('op'))[:10]!r}"
            )
        bound = c.get("bound")
        ok = isinstance(bound, (int, float)) and not isinstance(bound, bool)
        if not ok or not math.isfinite(bound) or abs(bound) > VALUE_BOUND:
            raise InvalidArgumentError(
                f"config.metric_constraints[{i}].bound must be a finite number with "
                f"|bound| <= {VALUE_BOUND:g}, got {bound!r:.40}"
            )
        out.append({"name": c["name"], "op": c["op"], "bound": float(bound)})
    return tuple(out)


def check_values(
    config: StudyConfig, values: Mapping[str, float] | None, has_value: bool, field: str
) -> dict[str, float] | None:
    """Validate the objective values of a report against its study's objectives.

    `has_value`: the report also set the single `value` (or a stop value). Returns the values
    (None for a single-objective study).

    Raises:
        InvalidArgumentError: naming what is missing, extra, or out of bounds.
    """
    names = config.objective_names
    values = dict(values or {})
    if not names:
        if values:
            raise InvalidArgumentError(
                f"{field}: this study has one objective; report `value`, not objective values "
                f"(got {sorted(values)[:8]})"
            )
        return None
    if has_value:
        raise InvalidArgumentError(
            f"{field}: this study has several objectives {names}; report objective_values, "
            "not a single value"
        )
    missing = [n for n in names if n not in values]
    extra = sorted(set(values) - set(names))
    if missing or extra:
        raise InvalidArgumentError(
            f"{field} must have exactly the objectives {names}: missing {missing}, "
            f"unknown {[e[:64] for e in extra[:8]]}"
        )
    for name in names:
        v = values[name]
        if not math.isfinite(v) or abs(v) > VALUE_BOUND:
            raise InvalidArgumentError(
                f"{field}[{name!r}] must be finite with |v| <= {VALUE_BOUND:g}, got {v!r}"
            )
    return {n: float(values[n]) + 0.0 for n in names}


def maximising(config: StudyConfig, values: Mapping[str, float]) -> tuple[float, ...]:
    """The objective vector in the study's order, each in the maximising sign."""
    return tuple(
        s * values[n] for n, s in zip(config.objective_names, config.objective_signs, strict=True)
    )


def pareto_front(
    config: StudyConfig, trials: Sequence[Any], limit: int | None = MAX_FRONT
) -> list[Any]:
    """The trials (with `.values`) on the Pareto front of the feasible ones, in input order;
    at most `limit`. Infeasible trials (a metric constraint violated) are never on it."""
    rows = [t for t in trials if t.values and config.feasible(t.values)]
    if not rows:
        return []
    V = np.array([maximising(config, t.values) for t in rows])
    mask = pareto_mask(V)
    front = [t for t, keep in zip(rows, mask, strict=True) if keep]
    return front if limit is None else front[:limit]
