"""`ArchSamplerSampler`: an Optuna sampler whose trials are archsampler proposals.

Install with `pip install 'archsampler-client[optuna]'`. Every Optuna trial whose space is
known is ONE archsampler `Propose`: all its parameters come from that proposal
(`sample_relative`), so the archsampler strategy sees whole architectures, and the
service's guarantee — never an architecture that is pending or evaluated in the study —
holds across threads (`n_jobs > 1`) and across processes sharing one Optuna storage.
When the trial finishes, `after_trial` reports it to archsampler: COMPLETE as its value,
PRUNED (Optuna's pruners) as STOPPED with its last intermediate value, FAIL (and a PRUNED
trial with no intermediate value) as a failure with a reason. The archsampler trial lives
in the Optuna trial's system attrs under `"archsampler"`: `{"study", "trial_id",
"optuna_trial_id"}` (plus `"told": true` for results imported with Tell, or
`"skipped": reason`).

The space comes from one of two places:

- **Given** (`search_space=` a dict of Optuna distributions): every trial is proposed. A
  parameter outside it (or with another distribution) raises a clear `ValueError` from
  `trial.suggest_*`, which fails that trial.
- **Define-by-run** (no `search_space`): the space is the union of the distributions that
  the Optuna study's trials have used (the latest distribution wins for a name). A trial
  before anything is known, and the parameters a trial suggests beyond its proposal's
  space, are sampled by `independent_sampler` (Optuna's `RandomSampler` by default). Such
  a trial's proposal, if any, is reported as failed ("space grew"), and its result is told
  (Tell) to the archsampler study of the grown space. Each space has its own archsampler
  study, named `<study>-<first 12 hex digits of the space's hash>`, so no proposal is ever
  interpreted in a space other than the one it was drawn from.

Enqueued trials (`study.enqueue_trial`, `RetryFailedTrialCallback`) keep their fixed
values: they are not proposed; their results are told. Running trials' proposals are
kept alive by heartbeats. Once every architecture of a finite space has been proposed,
`trial.suggest_*` raises the server's RESOURCE_EXHAUSTED error (`ArchSamplerError`): the
trial fails and `study.optimize` stops with it.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from archsampler_client.errors import AlreadyExistsError
from archsampler_client.errors import InvalidArgumentError
from archsampler_client.integrations._common import Adapter
from archsampler_client.integrations._optuna_space import UserSpace

SYSTEM_ATTR = "archsampler"
"""The Optuna system attr holding a trial's archsampler study and trial id."""

__all__ = ["SYSTEM_ATTR", "ArchSamplerSampler"]


@dataclass
class _Proposal:
    """An archsampler trial proposed for one Optuna trial (kept in this process)."""

    handle: Any
    space: UserSpace
    trial_id: int
    values: dict[str, Any]
    grown: list[str] = field(default_factory=list)


@dataclass
class _Learned:
    """The define-by-run space of one Optuna study, merged from its trials."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    space: UserSpace = field(default_factory=lambda: UserSpace({}))


class ArchSamplerSampler(Adapter, BaseSampler):
    """An Optuna sampler backed by an archsampler study (single objective).

    Args:
        target_or_engine: `"host:port"` of an archsampler server (a `Client` is built with
            `client_kwargs`), or any object with the SDK's study API — `create_study(name,
            space=, strategy=, strategy_options=, goal=, seed=)` returning a study with
            `propose`, `report` and `tell` (a `Client`, or the in-process Engine).
        study: the archsampler study name. With `search_space` it is used as is; without,
            it is the prefix of one study per space. Default: the Optuna study's name.
        strategy: archsampler strategy (`lanas`, `nao`, `evolution`, `random`; "" = the
            server's default).
        strategy_options: options of the strategy.
        search_space: Optuna parameter name → distribution; see the module docstring.
        independent_sampler: samples what no proposal covers in define-by-run mode and the
            free parameters of enqueued trials (default: an unseeded `RandomSampler`).
        seed: seed of the archsampler studies (part of their config: every process must
            pass the same).
        client_id: sent with each Propose (default `optuna-<host>-<pid>`).
        heartbeat_interval: seconds between heartbeats of the running trials' proposals,
            from a daemon thread, so a trial longer than the server's lease (default 1 h)
            never goes STALE (None: no heartbeats).
        **client_kwargs: `Client` arguments (`timeout`, `retries`, `token`,
            `credentials`, …) when `target_or_engine` is a string.

    Thread safety: one sampler serves every thread of `study.optimize(n_jobs=...)`.
    """

    def __init__(
        self,
        target_or_engine: Any,
        *,
        study: str | None = None,
        strategy: str = "",
        strategy_options: dict[str, Any] | None = None,
        search_space: dict[str, BaseDistribution] | None = None,
        independent_sampler: BaseSampler | None = None,
        seed: int = 0,
        client_id: str | None = None,
        heartbeat_interval: float | None = 600.0,
        **client_kwargs: Any,
    ) -> None:
        self._prefix = study
        self._fixed = UserSpace(search_space) if search_space is not None else None
        if self._fixed is not None and not self._fixed:
            raise ValueError("search_space has no parameter with more than one value")
        self._independent = independent_sampler or RandomSampler()
        common = (strategy, strategy_options, seed, client_id, heartbeat_interval)
        self._setup("optuna", target_or_engine, client_kwargs, *common)

    _RUNTIME = (*Adapter._RUNTIME, "_studies", "_proposals", "_inferred", "_learned")

    def _init_runtime(self) -> None:
        """The lock and the per-process caches (rebuilt after unpickling)."""
        super()._init_runtime()
        self._studies: dict[str, Any] = {}
        self._proposals: dict[int, _Proposal] = {}
        self._inferred: dict[int, UserSpace] = {}
        self._learned: dict[int, _Learned] = {}

    def _running(self) -> list[tuple[Any, int]]:
        return [(p.handle, p.trial_id) for p in self._proposals.values()]

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    # -- the space ---------------------------------------------------------------------
    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self._raise_error_if_multi_objective(study)
        space = self._fixed if self._fixed is not None else self._learn(study)
        with self._lock:
            self._inferred[trial._trial_id] = space
        return dict(space.distributions)

    def _learn(self, study: Study, extra: FrozenTrial | None = None) -> UserSpace:
        """The define-by-run space: every distribution the study's trials used (+ `extra`)."""
        trials = study.get_trials(deepcopy=False)
        with self._lock:
            learned = self._learned.setdefault(study._study_id, _Learned())
            before = dict(learned.distributions)
            for t in [*trials, *([extra] if extra is not None else [])]:
                if t.number in learned.finished:
                    continue
                learned.distributions.update(t.distributions)
                if t.state.is_finished():
                    learned.finished.add(t.number)
            if learned.distributions != before:
                learned.space = UserSpace(learned.distributions)
            return learned.space

    def _study_name(self, study: Study, space: UserSpace) -> str:
        if self._prefix is not None and self._fixed is not None:
            return self._prefix
        prefix = self._prefix or re.sub(r"[^A-Za-z0-9_.-]", "_", study.study_name)[:100]
        return f"{prefix}-{space.digest[:12]}"

    def _handle(self, study: Study, space: UserSpace) -> Any:
        """The archsampler study of `space` (created on first use, then cached)."""
        name = self._study_name(study, space)
        with self._lock:
            handle = self._studies.get(name)
        if handle is None:
            goal = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
            handle = self._create_study(name, space.spec, goal)
            with self._lock:
                handle = self._studies.setdefault(name, handle)
        return handle

    # -- sampling ----------------------------------------------------------------------
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        with self._lock:
            space = self._inferred.pop(trial._trial_id, None)
        if not search_space or trial.system_attrs.get("fixed_params"):
            return {}  # nothing known yet, or an enqueued trial: told afterwards
        if space is None or space.distributions != search_space:
            space = UserSpace(search_space)
        handle = self._handle(study, space)
        (proposed,) = handle.propose(1, client_id=self._client_id)
        study._storage.set_trial_system_attr(
            trial._trial_id,
            SYSTEM_ATTR,
            {"study": handle.name, "trial_id": proposed.id, "optuna_trial_id": trial._trial_id},
        )
        values = space.decode(proposed.params)
        with self._lock:
            self._proposals[trial._trial_id] = _Proposal(handle, space, proposed.id, values)
            self._heartbeat_running()
        return values

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if self._fixed is not None and (param_name, param_distribution) not in self._fixed:
            known = self._fixed.distributions.get(param_name)
            what = f"has {known}, not {param_distribution}" if known else "has no such parameter"
            raise ValueError(
                f"ArchSamplerSampler: parameter {param_name!r}: the search_space given to the "
                f"sampler {what}. Add it to search_space, or leave search_space unset to let "
                "the space grow (one archsampler study per space)."
            )
        with self._lock:
            proposal = self._proposals.get(trial._trial_id)
            if proposal is not None:
                proposal.grown.append(param_name)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    # -- results -----------------------------------------------------------------------
    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        outcome = _outcome(trial, state, values)
        with self._lock:
            proposal = self._proposals.pop(trial._trial_id, None)
            self._inferred.pop(trial._trial_id, None)
        if proposal is None:
            attr = trial.system_attrs.get(SYSTEM_ATTR) or {}
            if attr.get("optuna_trial_id") == trial._trial_id and "trial_id" in attr:
                # Proposed in another process (ask there, tell here): report by id.
                self._client.study(attr["study"]).report(attr["trial_id"], **outcome)
                return
        elif not proposal.grown:
            proposal.handle.report(proposal.trial_id, **outcome)
            return
        else:
            reason = f"space grew: the Optuna trial also suggested {sorted(proposal.grown)}"
            proposal.handle.report(proposal.trial_id, failed=reason, metadata=outcome["metadata"])
        self._tell(study, trial, proposal, outcome)

    def _tell(
        self, study: Study, trial: FrozenTrial, proposal: _Proposal | None, outcome: dict
    ) -> None:
        """Import a trial no proposal covers into the study of its space (Tell)."""
        if not trial.params:  # failed before its first suggestion: no architecture
            attr = {"optuna_trial_id": trial._trial_id, "skipped": "no parameters"}
            study._storage.set_trial_system_attr(trial._trial_id, SYSTEM_ATTR, attr)
            return
        space = self._fixed if self._fixed is not None else self._learn(study, extra=trial)
        attr: dict[str, Any] = {"optuna_trial_id": trial._trial_id}
        if "stopped" in outcome:  # Tell imports final results only: a pruned trial failed
            outcome = {"failed": outcome["stopped"], "metadata": outcome["metadata"]}
        try:
            arch = space.encode({**(proposal.values if proposal else {}), **trial.params})
            handle = self._handle(study, space)
            told = handle.tell(arch, **outcome)
            attr |= {"study": handle.name, "trial_id": told.id, "told": True}
        except KeyError as missing:
            attr["skipped"] = f"the trial has no value for {missing} of the study's space"
        except (AlreadyExistsError, InvalidArgumentError) as err:
            attr["skipped"] = f"Tell refused: {err}"
        if "skipped" in attr:
            warnings.warn(
                f"Optuna trial {trial.number} not stored in archsampler: {attr['skipped']}",
                stacklevel=2,
            )
        study._storage.set_trial_system_attr(trial._trial_id, SYSTEM_ATTR, attr)


def _outcome(trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> dict:
    """The `report` / `tell` keywords of a finished Optuna trial (reason in metadata)."""
    meta = {"optuna_trial_number": str(trial.number), "optuna_state": state.name}
    if state == TrialState.COMPLETE:
        assert values is not None
        if len(values) != 1:
            raise ValueError("ArchSamplerSampler supports single-objective studies only")
        value = float(values[0])
        if math.isfinite(value):
            return {"value": value, "metadata": meta}
        reason = f"Optuna trial {trial.number} returned {value} (not finite)"
    elif state == TrialState.PRUNED:
        step = trial.last_step
        if step is None:
            reason = "pruned by Optuna before any intermediate value"
        else:
            last = float(trial.intermediate_values[step])
            reason = f"pruned by Optuna at step {step} (value {last})"
            if math.isfinite(last):  # STOPPED with its last value: partial evidence
                return {"value": last, "stopped": reason[:4000], "metadata": meta}
    else:
        reason = str(trial.system_attrs.get("fail_reason") or "") or (
            f"Optuna trial {trial.number} failed: the objective raised, or returned a value "
            "Optuna rejects"
        )
    return {"failed": reason[:4000], "metadata": meta}
