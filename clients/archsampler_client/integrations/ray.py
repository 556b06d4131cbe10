"""`ArchSamplerSearch`: a Ray Tune searcher whose trials are archsampler proposals.

Install with `pip install 'archsampler-client[ray]'`. Every Tune trial is ONE archsampler
`Propose` (`suggest`), so the service's guarantee — never an architecture that is pending
or evaluated in the study — holds for concurrent trials (`ConcurrencyLimiter`,
`max_concurrent_trials`) and across a restored Tuner. When a trial ends,
`on_trial_complete` reports it: its last `metric` as the value when the trial finished by
itself; as STOPPED with its last value (partial evidence, never a final value) when it
was **stopped early** (by a scheduler's STOP or a `Stopper`); as failed, with the reason in
the trial's metadata, when it raised, never reported the metric or reported a non-finite
value. A result that meets `final_at` (e.g. ASHA's `{"training_iteration": max_t}`) or a
`stop={metric: bound}` dict of the run is final even when stopped. Every report carries
`tune_trial_id` and `training_iteration` in its metadata.

`add_evaluated_point` imports a known result (Tell). `save` / `restore` write and read a
JSON state (study, metric, mode, the running trials' archsampler ids, the Tune space
pickled as Ray pickles it): a Tuner restored with `Tuner.restore` reports its resumed
trials to the same archsampler trials and proposes only new architectures. Space
conversion: see `_ray_space`. Once the space is exhausted (RESOURCE_EXHAUSTED),
`suggest` returns `Searcher.FINISHED`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

import grpc
from ray import cloudpickle
from ray.tune.search import UNDEFINED_METRIC_MODE
from ray.tune.search import UNDEFINED_SEARCH_SPACE
from ray.tune.search import Searcher

from archsampler_client.errors import ArchSamplerError
from archsampler_client.integrations._common import Adapter
from archsampler_client.integrations._ray_space import TuneSpace

__all__ = ["ArchSamplerSearch"]

_STATE_VERSION = 1
_GOALS = {"max": "maximize", "min": "minimize"}


class ArchSamplerSearch(Adapter, Searcher):
    """A Ray Tune `Searcher` backed by an archsampler study (single objective).

    Args:
        target_or_engine, strategy, strategy_options, seed, client_id, heartbeat_interval,
            **client_kwargs: see `_common.Adapter` (a target is `"host:port"`, a `Client`
            or the in-process Engine).
        study: the archsampler study name (default `tune-<first 12 hex digits of the
            space's hash>`).
        space: a Tune param space (nested dict of domains); default: the Tuner's
            `param_space`, passed through `set_search_properties`.
        metric: the result key to optimise (default: `TuneConfig(metric=...)`).
        mode: `"min"` or `"max"` (default: `TuneConfig(mode=...)`).
        final_at: result key → bound; a stopped trial whose last result reaches a bound
            is final (reported as a value), e.g. `{"training_iteration": max_t}`.

    Raises:
        ValueError: `mode` is neither "min" nor "max", or the space has a domain
            archsampler cannot propose (`grid_search`, `sample_from`, `randn`).
    """

    def __init__(
        self,
        target_or_engine: Any,
        *,
        study: str | None = None,
        strategy: str = "",
        strategy_options: dict[str, Any] | None = None,
        space: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        final_at: dict[str, float] | None = None,
        seed: int = 0,
        client_id: str | None = None,
        heartbeat_interval: float | None = 600.0,
        **client_kwargs: Any,
    ) -> None:
        if mode is not None and mode not in _GOALS:
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        super().__init__(metric=metric, mode=mode)
        self._study = study
        self._config = space
        self._space = TuneSpace(space) if space else None
        self._final_at = dict(final_at or {})
        self._live: dict[str, int] = {}  # Tune trial id -> archsampler trial id
        self._seen: dict[str, Any] = {}  # Tune trial id -> last iteration passed as a result
        common = (strategy, strategy_options, seed, client_id, heartbeat_interval)
        self._setup("tune", target_or_engine, client_kwargs, *common)

    _RUNTIME = (*Adapter._RUNTIME, "_handle")

    def _init_runtime(self) -> None:
        """The lock and the study handle (rebuilt after unpickling: Tune pickles searchers)."""
        super()._init_runtime()
        self._handle: Any = None

    def _running(self) -> list[tuple[Any, int]]:
        return [(self._handle, i) for i in self._live.values()] if self._handle else []

    @property
    def study_name(self) -> str | None:
        """The archsampler study name (None until the space is known)."""
        if self._study is not None or self._space is None:
            return self._study
        return f"tune-{self._space.digest[:12]}"

    # -- configuration -----------------------------------------------------------------
    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        if self._space is not None and TuneSpace(config).digest != self._space.digest:
            return False  # Tune then refuses a param_space with domains (ours wins)
        if self._space is None:
            self._config, self._space = config, TuneSpace(config)
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        stop = spec.get("stop")
        if isinstance(stop, Mapping):
            self._final_at = {**stop, **self._final_at}
        return True

    def _study_handle(self) -> Any:
        if self._space is None:
            raise RuntimeError(
                UNDEFINED_SEARCH_SPACE.format(cls=type(self).__name__, space="space")
            )
        if not self._metric or self._mode not in _GOALS:
            raise RuntimeError(
                UNDEFINED_METRIC_MODE.format(
                    cls=type(self).__name__, metric=self._metric, mode=self._mode
                )
            )
        with self._lock:
            if self._handle is None:
                self._handle = self._create_study(
                    self.study_name, self._space.spec, _GOALS[self._mode]
                )
            return self._handle

    # -- the searcher contract ---------------------------------------------------------
    def suggest(self, trial_id: str) -> dict | None:
        handle = self._study_handle()
        assert self._space is not None
        try:
            (proposed,) = handle.propose(1, client_id=self._client_id)
        except ArchSamplerError as err:
            if err.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return Searcher.FINISHED
            raise
        with self._lock:
            self._live[trial_id] = proposed.id
            self._heartbeat_running()
        return self._space.config(proposed.params)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        with self._lock:
            self._seen[trial_id] = result.get("training_iteration")

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        with self._lock:
            arch_id = self._live.pop(trial_id, None)
            seen = self._seen.pop(trial_id, None)
        if arch_id is None:
            return  # not ours, or already reported (Tune may repeat the call)
        outcome = self._outcome(trial_id, result, error, seen)
        self._study_handle().report(arch_id, **outcome)

    def add_evaluated_point(
        self,
        parameters: dict,
        value: float,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list[float] | None = None,
    ) -> None:
        handle = self._study_handle()
        assert self._space is not None
        arch = self._space.encode(self._space.flat(parameters))
        meta = {"source": "add_evaluated_point"}
        if error or pruned:
            reason = "errored" if error else "pruned"
            handle.tell(arch, failed=f"evaluated point {reason}", metadata=meta)
        elif value is None or not math.isfinite(value):
            handle.tell(arch, failed=f"evaluated point returned {value}", metadata=meta)
        else:
            handle.tell(arch, float(value), metadata=meta)

    def _outcome(
        self, trial_id: str, result: dict | None, error: bool, seen: Any
    ) -> dict[str, Any]:
        """The `report` keywords of a finished Tune trial (reason in metadata)."""
        result = result or {}
        it = result.get("training_iteration")
        meta = {"tune_trial_id": trial_id, "training_iteration": str(it)}
        value = result.get(self._metric or "")
        if error:
            reason = f"Ray Tune trial {trial_id} errored"
        elif not result:
            reason = f"Ray Tune trial {trial_id} ended before its first result"
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            reason = f"Ray Tune trial {trial_id} reported {self._metric}={value!r}"
        elif it != seen and not self._reached_final(result):
            reason = f"stopped early at iteration {it} ({self._metric}={value})"
            # STOPPED with its last value: partial evidence, never a final (COMPLETED) value
            return {"value": float(value), "stopped": reason[:4000], "metadata": meta}
        else:
            return {"value": float(value), "metadata": meta}
        return {"failed": reason[:4000], "metadata": meta}

    def _reached_final(self, result: dict) -> bool:
        """Whether a stopped trial's last result meets a `final_at` / `stop` bound."""
        for key, bound in self._final_at.items():
            v = result.get(key)
            if isinstance(v, (int, float)) and isinstance(bound, (int, float)) and v >= bound:
                return True
        return False

    # -- checkpointing -----------------------------------------------------------------
    def save(self, checkpoint_path: str) -> None:
        with self._lock:
            state = {
                "version": _STATE_VERSION,
                "study": self.study_name,
                "metric": self._metric,
                "mode": self._mode,
                "final_at": self._final_at,
                "live": dict(self._live),
                "seen": dict(self._seen),
                "space": base64.b64encode(cloudpickle.dumps(self._config)).decode(),
            }
        with open(checkpoint_path, "w") as f:
            json.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            state = json.load(f)
        if state.get("version") != _STATE_VERSION:
            raise ValueError(
                f"{checkpoint_path}: searcher state version {state.get('version')!r}, "
                f"this version reads {_STATE_VERSION}"
            )
        config = cloudpickle.loads(base64.b64decode(state["space"]))
        if self._space is not None and TuneSpace(config).digest != self._space.digest:
            raise ValueError(f"{checkpoint_path}: saved for another search space")
        with self._lock:
            self._config = config
            self._space = TuneSpace(config) if config else None
            self._study = state["study"]
            self._metric, self._mode = state["metric"], state["mode"]
            self._final_at = state["final_at"]
            self._live = {k: int(v) for k, v in state["live"].items()}
            self._seen = dict(state["seen"])
            self._handle = None
