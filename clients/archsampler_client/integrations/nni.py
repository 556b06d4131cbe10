"""`ArchSamplerTuner`: an NNI tuner whose trials are archsampler proposals.

Install with `pip install 'archsampler-client[nni]'` (nni 3.0). Every parameter set NNI
asks for is ONE archsampler proposal (`generate_parameters`; `generate_multiple_parameters`
asks for a batch in one `Propose`), so no architecture pending or evaluated in the study
is proposed again. `receive_trial_result` reports the final metric (a number, or a dict's
`"default"`) as the value; `trial_end` with `success=False` reports a trial that never
sent one as failed ("NNI trial ended: failed / killed"), as does a trial that succeeded
without a final result. `import_data` tells (Tell) `[{"parameter": …, "value": …}]`.
Once the space is exhausted, `generate_parameters` raises `nni.NoMoreTrialError`.
Space conversion, nested choices included: see `_nni_space`.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
from nni import NoMoreTrialError
from nni.tuner import Tuner
from nni.utils import extract_scalar_reward

from archsampler_client.errors import ArchSamplerError
from archsampler_client.integrations._common import Adapter
from archsampler_client.integrations._nni_space import NniSpace

__all__ = ["ArchSamplerTuner"]

_GOALS = ("maximize", "minimize")


class ArchSamplerTuner(Adapter, Tuner):
    """An NNI `Tuner` backed by an archsampler study (single objective).

    Args:
        target_or_engine, strategy, strategy_options, seed, client_id, heartbeat_interval,
            **client_kwargs: see `_common.Adapter` (a target is `"host:port"`, a `Client`
            or the in-process Engine).
        study: the archsampler study name (default `nni-<first 12 hex digits of the
            space's hash>`).
        optimize_mode: `"maximize"` (NNI's default) or `"minimize"`.

    Raises:
        ValueError: `optimize_mode` is neither "maximize" nor "minimize".
    """

    def __init__(
        self,
        target_or_engine: Any,
        *,
        study: str | None = None,
        strategy: str = "",
        strategy_options: dict[str, Any] | None = None,
        optimize_mode: str = "maximize",
        seed: int = 0,
        client_id: str | None = None,
        heartbeat_interval: float | None = 600.0,
        **client_kwargs: Any,
    ) -> None:
        if optimize_mode not in _GOALS:
            raise ValueError(f"optimize_mode must be one of {_GOALS}, got {optimize_mode!r}")
        self._study = study
        self._goal = optimize_mode
        self._space: NniSpace | None = None
        self._handle: Any = None
        self._live: dict[int, int] = {}  # NNI parameter id -> archsampler trial id
        common = (strategy, strategy_options, seed, client_id, heartbeat_interval)
        self._setup("nni", target_or_engine, client_kwargs, *common)

    def _running(self) -> list[tuple[Any, int]]:
        return [(self._handle, i) for i in self._live.values()]

    @property
    def study_name(self) -> str | None:
        """The archsampler study name (None until the search space is known)."""
        if self._study is not None or self._space is None:
            return self._study
        return f"nni-{self._space.digest[:12]}"

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Convert NNI's search space; a changed space gets its own study (default name)."""
        space = NniSpace(search_space)
        with self._lock:
            self._space = space
            self._handle = self._create_study(self.study_name, space.spec, self._goal)

    def _ready(self) -> tuple[Any, NniSpace]:
        with self._lock:
            if self._space is None:
                raise RuntimeError("ArchSamplerTuner: update_search_space was never called")
            return self._handle, self._space

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        (params,) = self._propose([parameter_id])
        return params

    def generate_multiple_parameters(
        self, parameter_id_list: list[int], **kwargs: Any
    ) -> list[dict[str, Any]]:
        try:
            return self._propose(list(parameter_id_list))
        except NoMoreTrialError:  # fewer left than asked: one by one, up to the last
            return super().generate_multiple_parameters(parameter_id_list, **kwargs)

    def _propose(self, ids: list[int]) -> list[dict[str, Any]]:
        handle, space = self._ready()
        try:
            trials = handle.propose(len(ids), client_id=self._client_id)
        except ArchSamplerError as err:
            if err.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise NoMoreTrialError(str(err)) from err
            raise
        with self._lock:
            self._live.update(zip(ids, (t.id for t in trials), strict=False))
            self._heartbeat_running()
        return [space.parameters(t.params) for t in trials]

    def receive_trial_result(
        self, parameter_id: int, parameters: dict[str, Any], value: Any, **kwargs: Any
    ) -> None:
        handle, _ = self._ready()
        with self._lock:
            arch_id = self._live.pop(parameter_id, None)
        if arch_id is None:
            return  # not ours (a customized trial), or reported already
        meta = {"nni_parameter_id": str(parameter_id)}
        reward = extract_scalar_reward(value)
        if math.isfinite(reward):
            handle.report(arch_id, float(reward), metadata=meta)
        else:
            handle.report(arch_id, failed=f"NNI trial reported {reward}", metadata=meta)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        handle, _ = self._ready()
        with self._lock:
            arch_id = self._live.pop(parameter_id, None)
        if arch_id is None:
            return  # its final result was reported
        what = "succeeded without a final result" if success else "failed / killed"
        meta = {"nni_parameter_id": str(parameter_id)}
        handle.report(arch_id, failed=f"NNI trial ended: {what}", metadata=meta)

    def _on_exit(self) -> None:
        """NNI's dispatcher stops: give back every proposal NNI asked for but never ran
        (its manager may ask for more parameter sets than it submits): they turn STALE now,
        not after their lease, and their architectures may be proposed again."""
        with self._lock:
            unran, self._live = list(self._live.values()), {}
        handle = self._handle
        for arch_id in unran:
            try:
                handle.release(arch_id)
            except ArchSamplerError:  # reported or expired meanwhile: nothing to give back
                pass

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Tell each `{"parameter": …, "value": …}` (a value of None or non-finite: failed)."""
        handle, space = self._ready()
        meta = {"source": "nni import_data"}
        for entry in data:
            arch = space.encode(space.flat(entry["parameter"]))
            value = entry.get("value")
            reward = None if value is None else extract_scalar_reward(value)
            if reward is None or not math.isfinite(reward):
                handle.tell(arch, failed=f"imported value {value!r}", metadata=meta)
            else:
                handle.tell(arch, float(reward), metadata=meta)
