"""Early stopping: should a PENDING trial stop, given its intermediate values and its peers'?

A study's `stopping` config names one rule (values compared in the study's goal direction):

- `median` (the median stopping rule, Golovin et al. 2017; Optuna's MedianPruner
  semantics): after `warmup_steps`, stop when the trial's best value so far is worse than
  the median of the values that finished trials (COMPLETED or STOPPED) reported at the same
  step, once at least `startup_trials` of them reported that step.
- `asha` (asynchronous successive halving, Li et al. 2020): rungs at
  `min_step * reduction_factor**k`; a trial reporting a rung step continues only when its
  value there is in the top 1/`reduction_factor` of every trial's value at that rung (with
  fewer than `reduction_factor` values: only when it is the best). Steps between rungs
  continue.
- `curve` (learning-curve extrapolation): after `min_points` values, fit
  `y = a - b * step**-c` and stop when the value predicted at `max_step` (plus `margin`) is
  worse than the best COMPLETED value.
- `none`: never stop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archsampler.errors import InvalidArgumentError

RULES = ("none", "median", "asha", "curve")
MAX_STEP = 1_000_000_000
MAX_VALUES_PER_TRIAL = 10_000
# option -> (type, default, low, high) for each rule; None default = required
OPTIONS: dict[str, dict[str, tuple[type, Any, float, float]]] = {
    "none": {},
    "median": {
        "startup_trials": (int, 5, 1, 10_000),
        "warmup_steps": (int, 0, 0, MAX_STEP),
    },
    "asha": {
        "min_step": (int, 1, 1, MAX_STEP),
        "reduction_factor": (int, 3, 2, 100),
    },
    "curve": {
        "max_step": (int, None, 1, MAX_STEP),
        "min_points": (int, 3, 3, 1_000),
        "margin": (float, 0.0, -1e300, 1e300),
    },
}

Points = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class Decision:
    stop: bool
    reason: str


CONTINUE = Decision(False, "")


def normalise_stopping(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A validated `{"rule", "options"}` with defaults filled in; None for no stopping.

    Raises:
        InvalidArgumentError: unknown rule or option, or an option out of its bounds.
    """
    if not raw:
        return None
    unknown = sorted(set(raw) - {"rule", "options"})
    if unknown:
        raise InvalidArgumentError(f"config.stopping: unknown fields {unknown}")
    rule = raw.get("rule") or "none"
    if rule not in RULES:
        raise InvalidArgumentError(
            f"config.stopping.rule must be one of {list(RULES)}, got {rule!r}"
        )
    given = dict(raw.get("options") or {})
    spec = OPTIONS[rule]
    extra = sorted(set(given) - set(spec))
    if extra:
        raise InvalidArgumentError(
            f"config.stopping.options: rule {rule!r} has no options {extra}; "
            f"it takes {sorted(spec)}"
        )
    options: dict[str, Any] = {}
    for name, (kind, default, low, high) in spec.items():
        value = given.get(name, default)
        where = f"config.stopping.options.{name}"
        if value is None:
            raise InvalidArgumentError(f"{where} is required for rule {rule!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgumentError(f"{where} must be a number, got {value!r}")
        if kind is int:
            if float(value) != int(value):
                raise InvalidArgumentError(f"{where} must be an integer, got {value!r}")
            value = int(value)
        if not (low <= value <= high) or not math.isfinite(value):
            raise InvalidArgumentError(f"{where} must be in [{low:g}, {high:g}], got {value!r}")
        options[name] = kind(value)
    if rule == "none":
        return None
    return {"rule": rule, "options": options}


class Peers:
    """What a rule may ask about the rest of the study (read from storage)."""

    def __init__(
        self,
        values_at: Callable[[int, bool], list[float]],
        best_completed: Callable[[], float | None],
    ) -> None:
        self.values_at = values_at  # (step, finished only) -> other trials' values there
        self.best_completed = best_completed


def decide(
    stopping: Mapping[str, Any] | None, sign: float, points: Points, peers: Peers
) -> Decision:
    """The rule's answer for a trial with `points` ((step, value), step order); `sign` is +1
    when the study maximises, -1 when it minimises."""
    if not stopping or not points:
        return CONTINUE
    rule, options = stopping["rule"], stopping["options"]
    if rule == "median":
        return _median(options, sign, points, peers)
    if rule == "asha":
        return _asha(options, sign, points, peers)
    if rule == "curve":
        return _curve(options, sign, points, peers)
    return CONTINUE


def _median(options: Mapping[str, Any], sign: float, points: Points, peers: Peers) -> Decision:
    step = points[-1][0]
    if step < options["warmup_steps"]:
        return CONTINUE
    others = peers.values_at(step, True)
    if len(others) < options["startup_trials"]:
        return CONTINUE
    best = max(sign * v for _, v in points)
    median = float(np.median([sign * v for v in others]))
    if best < median:
        return Decision(
            True,
            f"median rule: best value {sign * best:.6g} by step {step} is worse than the "
            f"median {sign * median:.6g} of {len(others)} finished trials at that step",
        )
    return CONTINUE


def _asha(options: Mapping[str, Any], sign: float, points: Points, peers: Peers) -> Decision:
    step, value = points[-1]
    r, eta = options["min_step"], options["reduction_factor"]
    if step < r:
        return CONTINUE
    rung = round(math.log(step / r, eta))
    if r * eta**rung != step:  # not a rung step
        return CONTINUE
    competing = sorted((sign * v for v in peers.values_at(step, False)), reverse=True)
    competing_all = sorted([*competing, sign * value], reverse=True)
    keep = max(len(competing_all) // eta, 1)
    threshold = competing_all[keep - 1]
    if sign * value < threshold:
        return Decision(
            True,
            f"asha: value {value:.6g} at rung {rung} (step {step}) is not in the top {keep} "
            f"of {len(competing_all)} trials there",
        )
    return CONTINUE


def _power_law(s: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(s, -c)


def _curve(options: Mapping[str, Any], sign: float, points: Points, peers: Peers) -> Decision:
    if len(points) < options["min_points"]:
        return CONTINUE
    best = peers.best_completed()
    if best is None:
        return CONTINUE
    from scipy.optimize import curve_fit

    steps = np.array([max(s, 1) for s, _ in points], dtype=float)
    ys = np.array([sign * v for _, v in points], dtype=float)
    try:
        (a, b, c), _ = curve_fit(
            _power_law,
            steps,
            ys,
            p0=(float(ys[-1]), float(ys[-1] - ys[0]) or 1e-3, 0.5),
            bounds=((-np.inf, -np.inf, 0.01), (np.inf, np.inf, 3.0)),
            maxfev=2000,
        )
    except (RuntimeError, ValueError):
        return CONTINUE  # no fit: no evidence to stop on
    predicted = float(_power_law(np.array([float(options["max_step"])]), a, b, c)[0])
    if not math.isfinite(predicted):
        return CONTINUE
    if predicted + options["margin"] < sign * best:
        return Decision(
            True,
            f"curve: predicted {sign * predicted:.6g} at step {options['max_step']} is worse "
            f"than the best completed value {best:.6g}",
        )
    return CONTINUE
