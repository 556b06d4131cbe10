"""Optuna's multivariate TPE as a bench searcher, through ask/tell.

Each parameter of the space becomes one Optuna distribution: NAS-Bench-201 gets one
categorical per edge (`to_params` keys); a user space gets categorical / int / float
from its spec, asked define-by-run so a conditional parameter is asked only when active
(TPE then uses `group=True`). TPE may ask for an architecture it has already seen (same
canonical hash): the cached value is told back at once and the ask is NOT counted as a new
evaluation (the lookup is free and a trainer would not retrain it). Parameters that do
not form a valid architecture are told as failed and not counted either.
"""

from __future__ import annotations

import warnings
from typing import Any

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace

MAX_CONSECUTIVE_REPEATS = 2000
"""Asks in a row that give nothing new before the search counts as exhausted."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise RuntimeError(
            "the 'tpe' baseline needs optuna; install the bench extra: "
            "pip install 'archsampler[bench]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _user_params(space: SearchSpace) -> list[Any] | None:
    """The declared parameters of a user space (None for built-in spaces)."""
    spec = space.spec()
    if "user" not in spec:
        return None
    from archsampler.spaces.user_spec import UserSpaceSpec

    return list(UserSpaceSpec.model_validate(spec["user"]).params)


def distribution(param: Any) -> Any:
    """The Optuna distribution of one user-space parameter."""
    dist = _optuna().distributions
    if param.type == "categorical":
        return dist.CategoricalDistribution(tuple(param.choices))
    if param.type == "int":
        step = 1 if param.log else param.step
        return dist.IntDistribution(param.low, param.high, log=param.log, step=step)
    return dist.FloatDistribution(param.low, param.high, log=param.log)


class TPESearcher:
    """Asks Optuna's `TPESampler(multivariate=True, seed=seed)` for unseen architectures.

    Args:
        space: NAS-Bench-201 or a user space.
        seed: the sampler seed.
        **options: extra `TPESampler` keyword arguments (e.g. `n_startup_trials`).
    """

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        optuna = _optuna()
        self.space = space
        self.params = _user_params(space)
        if self.params is None and space.name != "nb201":
            raise ValueError(
                f"the tpe baseline supports nb201 and user spaces, not {space.name!r}"
            )
        if self.params is not None and any(p.condition for p in self.params):
            # Conditional parameters make the search space dynamic; grouping keeps TPE
            # multivariate within each set of co-occurring parameters.
            options.setdefault("group", True)
        sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed, **options)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self._fail = optuna.trial.TrialState.FAIL
        self.cache: dict[str, float | None] = {}
        self.repeats = 0
        self._open: Any = None

    def ask(self) -> Arch | None:
        for _ in range(MAX_CONSECUTIVE_REPEATS):
            trial = self.study.ask()
            try:
                arch = self.space.from_params(self._suggest(trial))
            except InvalidArchitectureError:
                self.study.tell(trial, state=self._fail)
                continue
            key = self.space.canonical_hash(arch)
            if key in self.cache:
                self.repeats += 1
                self._tell(trial, self.cache[key])
                continue
            self._open = (trial, key)
            return arch
        return None

    def _suggest(self, trial: Any) -> dict[str, Any]:
        """Parameters of one trial, define-by-run so inactive user params are never asked."""
        if self.params is None:
            from archsampler.spaces.nb201 import OPS
            from archsampler.spaces.nb201 import PARAM_NAMES

            return {name: trial.suggest_categorical(name, OPS) for name in PARAM_NAMES}
        values: dict[str, Any] = {}
        for p in self.params:
            c = p.condition
            if c is not None and (c.param not in values or not c.holds(values[c.param])):
                continue
            d = distribution(p)
            if p.type == "categorical":
                values[p.name] = trial.suggest_categorical(p.name, d.choices)
            elif p.type == "int":
                values[p.name] = trial.suggest_int(p.name, d.low, d.high, step=d.step, log=d.log)
            else:
                values[p.name] = trial.suggest_float(p.name, d.low, d.high, log=d.log)
        return values

    def tell(self, arch: Arch, value: float | None) -> None:
        trial, key = self._open
        self._open = None
        self.cache[key] = value
        self._tell(trial, value)

    def _tell(self, trial: Any, value: float | None) -> None:
        if value is None:
            self.study.tell(trial, state=self._fail)
        else:
            self.study.tell(trial, value)
