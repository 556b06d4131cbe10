"""The service layer: studies, their strategies and the proposal/report workflow.

Everything here is synchronous and thread-safe; the gRPC servicer runs it in worker
threads so the event loop never blocks on the database or on a strategy.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from typing import Any
from typing import Callable
from typing import Sequence

from archsampler import importer
from archsampler.committer import GroupCommitter
from archsampler.committer import Waiter
from archsampler.config import GOALS
from archsampler.config import StudyConfig
from archsampler.errors import AlreadyExistsError
from archsampler.errors import FailedPreconditionError
from archsampler.errors import InvalidArchitectureError
from archsampler.errors import InvalidArgumentError
from archsampler.errors import NotFoundError
from archsampler.objectives import MAX_FRONT
from archsampler.objectives import check_values
from archsampler.objectives import normalise_objectives
from archsampler.objectives import pareto_front as objectives_front
from archsampler.predictor.manager import ModelManager
from archsampler.spaces import SearchSpace
from archsampler.spaces import make_space
from archsampler.spaces.base import Arch
from archsampler.spaces.base import ParamValue
from archsampler.stopping import CONTINUE
from archsampler.stopping import MAX_STEP
from archsampler.stopping import MAX_VALUES_PER_TRIAL
from archsampler.stopping import Decision
from archsampler.stopping import Peers
from archsampler.stopping import decide
from archsampler.stopping import normalise_stopping
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.storage import StudyRecord
from archsampler.storage.base import DEFAULT_NAMESPACE
from archsampler.storage.config_diff import first_difference
from archsampler.strategies import make_strategy
from archsampler.trial import EVIDENCE
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # whole name: `fullmatch` (`$` admits "\n")
MAX_PROPOSE = 1000
NAMESPACE_TTL = 5.0  # seconds a study's namespace is trusted from the cache


_VALID_NAMES: set[str] = set()  # names seen valid (a bounded cache: every Propose checks 3)


def check_name(kind: str, name: str) -> str:
    """Validate a study or client name: 1..128 chars of [A-Za-z0-9_.-]."""
    if name in _VALID_NAMES:
        return name
    if not name:
        raise InvalidArgumentError(f"{kind} must not be empty")
    if len(name) > 128:
        raise InvalidArgumentError(f"{kind} is {len(name)} characters; the limit is 128")
    if not NAME_RE.fullmatch(name):
        raise InvalidArgumentError(f"{kind} {name[:40]!r} may only use [A-Za-z0-9_.-]")
    if len(_VALID_NAMES) >= 100_000:
        _VALID_NAMES.clear()
    _VALID_NAMES.add(name)
    return name


def normalise_config(config: dict[str, Any], default_strategy: str) -> StudyConfig:
    """Validate a raw study config (a request's) and return its canonical form (stored as
    `to_dict()` and compared on create).

    Raises:
        InvalidArgumentError: unknown space, strategy, option or goal.
    """
    fields = {"space", "strategy", "strategy_options", "goal", "seed", "stopping", "max_retries"}
    fields |= {"objectives", "metric_constraints"}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise InvalidArgumentError(f"unknown study config fields {unknown}")
    if not config.get("space"):
        raise InvalidArgumentError("config.space is required (a built-in name or a user space)")
    space = make_space(config["space"])
    goal = config.get("goal") or "maximize"
    if goal not in GOALS:
        raise InvalidArgumentError(f"config.goal must be one of {list(GOALS)}, got {goal!r}")
    seed = int(config.get("seed") or 0)
    name = config.get("strategy") or default_strategy
    options = dict(config.get("strategy_options") or {})
    try:
        strategy = make_strategy(name, space, seed=seed, options=options)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"config.strategy: {e}") from None
    objectives, constraints = normalise_objectives(
        config.get("objectives"), config.get("metric_constraints"), name, strategy.multi_objective
    )
    return StudyConfig(
        space=space.spec(),
        strategy=name,
        strategy_options=options,
        goal=goal,
        seed=seed,
        stopping=normalise_stopping(config.get("stopping")),
        objectives=objectives,
        metric_constraints=constraints,
        max_retries=_max_retries(config.get("max_retries")),
    )


MAX_RETRIES = 100
MAX_ENQUEUE = 1_000


def _max_retries(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise InvalidArgumentError(
            f"config.max_retries must be an integer in 0..{MAX_RETRIES}, got {value!r}"
        )
    return value


class StudyService:
    """Studies and trials over a `Storage`; one `StudyRuntime` cached per study."""

    def __init__(
        self,
        storage: SQLStorage,
        *,
        default_strategy: str = "lanas",
        lease_seconds: float = 3600.0,
        models: ModelManager | None = None,
        strategy_processes: int = 0,
    ) -> None:
        self.storage = storage
        self.default_strategy = default_strategy
        self.lease_seconds = lease_seconds
        self.models = models
        self.committer = GroupCommitter(storage, lease_seconds, models, strategy_processes)
        self._spaces: dict[tuple[str, float], SearchSpace] = {}
        # study -> (namespace, monotonic time it expires); see `namespace_of`
        self._namespaces: dict[str, tuple[str, float]] = {}

    def close(self) -> None:
        """Stop the writer thread after it has answered everything queued."""
        self.committer.close()
        if self.models is not None:
            self.models.close()

    # -- studies ------------------------------------------------------------------------
    def create_study(
        self,
        name: str,
        config: dict[str, Any],
        namespace: str = DEFAULT_NAMESPACE,
        check_existing: Callable[[str], None] | None = None,
        seed_from: str = "",
    ) -> tuple[StudyRecord, bool]:
        """Create `name` in `namespace`, or load it (`Storage.create_study`); then, with
        `seed_from`, copy that study's finished trials into it (`importer.seed`: same space
        and goal, idempotent). The caller checks that `seed_from` may be read."""
        check_name("study name", name)
        canonical = normalise_config(config, self.default_strategy)
        if seed_from:
            self._check_seed(name, canonical, seed_from)
        record, created = self.storage.create_study(
            name, canonical.to_dict(), namespace, check_existing=check_existing
        )
        self._remember_namespace(name, record.namespace)
        if seed_from and importer.seed(self.storage, seed_from, name):
            record = self.storage.get_study(name)
        return record, created

    def _check_seed(self, name: str, config: StudyConfig, source: str) -> None:
        """Refuse a seed source that is missing, the study itself, too big, or of another
        space or goal (before anything is created)."""
        check_name("seed_from", source)
        if source == name:
            raise InvalidArgumentError(f"seed_from names the study itself ({name!r})")
        try:
            record = self.storage.get_study(source)
        except NotFoundError:
            raise NotFoundError(f"seed_from: study {source!r} not found") from None
        theirs = StudyConfig.from_dict(record.config)
        diff = first_difference(theirs.space, config.space, "space")
        if diff is not None:
            raise FailedPreconditionError(
                f"seed_from: study {source!r} searches another space ({diff[:300]}); a seed "
                "needs the same space"
            )
        if theirs.goal != config.goal:
            raise FailedPreconditionError(
                f"seed_from: study {source!r} has goal {theirs.goal} and this study "
                f"{config.goal}; a seed needs the same goal"
            )
        if record.trial_count > importer.MAX_SEED:
            raise FailedPreconditionError(
                f"seed_from: study {source!r} has {record.trial_count} trials; a seed source "
                f"may hold at most {importer.MAX_SEED}"
            )

    def get_study(self, name: str) -> StudyRecord:
        return self.storage.get_study(check_name("study name", name))

    def config(self, name: str) -> StudyConfig:
        """The config of study `name`."""
        return StudyConfig.from_dict(self.get_study(name).config)

    def list_studies(
        self, *, namespace: str | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[StudyRecord]:
        return self.storage.list_studies(namespace=namespace, after_id=after_id, limit=limit)

    def cached_namespace(self, name: str) -> str | None:
        """The namespace of study `name` if known and fresh, else None (no I/O)."""
        found = self._namespaces.get(name)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def namespace_of(self, name: str) -> str:
        """The namespace of study `name`, cached for `NAMESPACE_TTL` seconds (a study deleted
        and created again in another namespace by another replica is seen within it).

        Raises:
            NotFoundError: no such study.
        """
        cached = self.cached_namespace(name)
        if cached is not None:
            return cached
        namespace = self.storage.study_namespace(check_name("study name", name))
        self._remember_namespace(name, namespace)
        return namespace

    def _remember_namespace(self, name: str, namespace: str) -> None:
        if len(self._namespaces) >= 100_000:
            self._namespaces.clear()
        self._namespaces[name] = (namespace, time.monotonic() + NAMESPACE_TTL)

    def delete_study(self, name: str, check_existing: Callable[[str], None] | None = None) -> None:
        """Delete `name` (`Storage.delete_study`) and forget what is cached of it."""
        self._namespaces.pop(name, None)
        self.storage.delete_study(check_name("study name", name), check_existing=check_existing)
        self._namespaces.pop(name, None)
        self.committer.forget(name)
        if self.models is not None:
            self.models.forget(name)

    def space(self, name: str) -> SearchSpace:
        """The search space of study `name` (cached)."""
        record = self.storage.get_study(check_name("study name", name))
        key = (name, record.created_at)
        space = self._spaces.get(key)
        if space is None:
            space = self._spaces[key] = make_space(StudyConfig.from_dict(record.config).space)
        return space

    # -- trials -------------------------------------------------------------------------
    def propose(
        self,
        study: str,
        count: int,
        client_id: str = "",
        request_id: str = "",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Queue a proposal of `count` PENDING trials; the future resolves after commit.

        With `loop` (called from that loop's thread) the future is one of that loop.
        """
        self._check_propose(study, count, client_id, request_id)
        return self.committer.propose(study, count, client_id, request_id, loop)

    @staticmethod
    def _check_propose(study: str, count: int, client_id: str, request_id: str) -> None:
        check_name("study name", study)
        if not 1 <= count <= MAX_PROPOSE:
            raise InvalidArgumentError(f"count must be in 1..{MAX_PROPOSE}, got {count}")
        if client_id:
            check_name("client_id", client_id)
        if request_id:
            check_name("request_id", request_id)

    def report_and_propose(
        self,
        trial_id: int,
        outcome: Outcome,
        study: str,
        count: int,
        client_id: str = "",
        request_id: str = "",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Report trial `trial_id` of `study`, then propose; the future resolves to
        `(reported trial, new trials)` after both commit. The report commits first and the
        proposal learns from it; a failed report proposes nothing, a failed proposal leaves
        the report committed."""
        self._check_propose(study, count, client_id, request_id)
        return self.committer.step(trial_id, outcome, study, count, client_id, request_id, loop)

    def report(
        self,
        study: str,
        trial_id: int,
        outcome: Outcome,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Queue an outcome for trial `trial_id` of `study`; the future (on `loop` when given)
        resolves after commit."""
        check_name("study name", study)
        return self.committer.report(study, trial_id, outcome, loop)

    def expire_leases(self) -> int:
        """Mark expired PENDING trials STALE so their architectures may be proposed again."""
        expired = self.storage.expire_leases()
        if expired:
            self.committer.mark_pending_stale()
        return expired

    def heartbeat(self, study: str, trial_id: int) -> Trial:
        check_name("study name", study)
        return self.storage.heartbeat(study, trial_id, self.lease_seconds)

    # -- intermediate values and early stopping ------------------------------------------
    def report_intermediate(
        self, study: str, trial_id: int, step: int, value: float
    ) -> tuple[Trial, Decision]:
        """Record `value` at `step` of a PENDING trial; the stopping rule's answer after it."""
        check_name("study name", study)
        if not 0 <= step <= MAX_STEP:
            raise InvalidArgumentError(f"step must be in 0..{MAX_STEP}, got {step}")
        if not math.isfinite(value):
            raise InvalidArgumentError(f"value must be a finite number, got {value}")
        trial = self.storage.add_intermediate(
            study, trial_id, step, value + 0.0, MAX_VALUES_PER_TRIAL
        )
        return trial, self._decide(study, trial_id)

    def should_stop(self, study: str, trial_id: int) -> Decision:
        """The stopping rule's answer for a PENDING trial now."""
        check_name("study name", study)
        trial = self.storage.get_trial(study, trial_id)
        if trial.state != TrialState.PENDING:
            raise FailedPreconditionError(
                f"trial {trial_id} is {trial.state.name}; only a PENDING trial can stop"
            )
        return self._decide(study, trial_id)

    def intermediate_values(self, study: str, trial_id: int) -> list[tuple[int, float]]:
        return self.storage.intermediate_values(check_name("study name", study), trial_id)

    def _decide(self, study: str, trial_id: int) -> Decision:
        config = StudyConfig.from_dict(self.storage.get_study(study).config)
        if config.stopping is None:
            return CONTINUE
        storage = self.storage

        def values_at(step: int, finished: bool) -> list[float]:
            states = tuple(EVIDENCE) if finished else ()
            return storage.values_at_step(study, step, trial_id, states)

        def best_completed() -> float | None:
            try:
                return storage.best_trial(study, config.maximize).value
            except NotFoundError:
                return None

        points = storage.intermediate_values(study, trial_id)
        return decide(config.stopping, config.sign, points, Peers(values_at, best_completed))

    def release(self, study: str, trial_id: int) -> Trial:
        """Give back a PENDING trial: STALE now, its architecture proposable again."""
        check_name("study name", study)
        trial = self.storage.release(study, trial_id)
        self.committer.mark_pending_stale()
        return trial

    def tell(
        self, study: str, text: str, params: dict[str, ParamValue], outcome: Outcome
    ) -> Trial:
        """Import a finished result for an architecture the service never proposed."""
        space = self.space(study)
        arch = self.architecture(space, text, params)
        config = self.config(study)
        values = None
        if outcome.values is not None or (
            config.objectives and outcome.state == TrialState.COMPLETED
        ):
            values = check_values(
                config, outcome.values, outcome.values is None, "objective_values"
            )
        trial = NewTrial(
            arch=space.to_string(arch),
            arch_hash=space.canonical_hash(arch),
            params=space.to_params(arch),
            state=outcome.state,
            value=values[config.objective_names[0]] if values else outcome.value,
            checkpoint_uri=outcome.checkpoint_uri,
            metadata=outcome.metadata,
            values=values,
        )
        try:
            return self.storage.add_trials(study, [trial])[0]
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"architecture {trial.arch[:120]!r} is already pending or evaluated in study "
                f"{study!r}"
            ) from None

    def enqueue(
        self, study: str, archs: Sequence[tuple[str, dict[str, ParamValue]]]
    ) -> tuple[list[Trial], list[tuple[int, str]]]:
        """Queue architectures to be proposed first, in order, once each: `(QUEUED trials,
        [(index, reason)] of those skipped)`. Any invalid one refuses the whole call."""
        if not 1 <= len(archs) <= MAX_ENQUEUE:
            raise InvalidArgumentError(
                f"give 1..{MAX_ENQUEUE} architectures to enqueue, got {len(archs)}"
            )
        space = self.space(study)
        new: list[NewTrial] = []
        for i, (text, params) in enumerate(archs):
            try:
                arch = self.architecture(space, text, params)
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"architectures[{i}]: {e}") from None
            new.append(
                NewTrial(
                    arch=space.to_string(arch),
                    arch_hash=space.canonical_hash(arch),
                    params=space.to_params(arch),
                    state=TrialState.QUEUED,
                    metadata={"source": "enqueue"},
                )
            )
        with self.storage.batch() as batch:
            made = batch.insert(study, new)
        queued = [t for t in made if t is not None]
        skipped = [
            (i, f"architecture {new[i].arch[:120]!r} is already queued, pending or evaluated")
            for i, t in enumerate(made)
            if t is None
        ]
        return queued, skipped

    def tell_many(
        self, study: str, rows: Sequence[importer.Row], validate_only: bool = False
    ) -> list[importer.RowResult]:
        """Import finished results in bulk (`importer.import_rows`: all rows validated, then
        one transaction; idempotent)."""
        if self.config(study).objectives:
            raise InvalidArgumentError(
                f"study {study!r} has several objectives and TellMany rows carry one value; "
                "import them with Tell and objective_values"
            )
        return importer.import_rows(
            self.storage,
            self.space(study),
            study,
            rows,
            self.architecture,
            validate_only=validate_only,
        )

    @staticmethod
    def architecture(space: SearchSpace, text: str, params: dict[str, ParamValue]) -> Arch:
        """Parse an architecture given as text, params or both (which must agree)."""
        if not text and not params:
            raise InvalidArchitectureError("architecture is empty: set text or params")
        from_text = space.from_string(text) if text else None
        from_params = space.from_params(params) if params else None
        if from_text is not None and from_params is not None:
            if space.canonical_hash(from_text) != space.canonical_hash(from_params):
                raise InvalidArchitectureError(
                    "architecture text and params describe different architectures"
                )
        return from_text if from_text is not None else from_params

    def predict(
        self, study: str, archs: Sequence[tuple[str, dict[str, ParamValue]]]
    ) -> tuple[list[float], int]:
        """Predicted values (study units) of architectures, and the model version used.

        Raises:
            FailedPreconditionError: the study has no model yet.
        """
        if not 1 <= len(archs) <= MAX_PROPOSE:
            raise InvalidArgumentError(
                f"give 1..{MAX_PROPOSE} architectures to predict, got {len(archs)}"
            )
        space = self.space(study)
        parsed = [self.architecture(space, text, params) for text, params in archs]
        handle = self.models.get(study) if self.models is not None else None
        if handle is None:
            raise FailedPreconditionError(
                f"study {study!r} has no trained model yet: "
                + (self.models.no_model_reason(study) if self.models else "models are off")
            )
        return [float(v) for v in handle.predict(parsed)], handle.version

    def list_trials(
        self,
        study: str,
        *,
        states: Sequence[TrialState] = (),
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Trial]:
        return self.storage.list_trials(
            check_name("study name", study), states=states, after_id=after_id, limit=limit
        )

    def pareto_front(self, study: str) -> list[Trial] | None:
        """The Pareto front of a study with several objectives (None for one objective):
        its COMPLETED feasible trials no other dominates, in id order (at most
        `objectives.MAX_FRONT`). Read a page of 1,000 trials at a time, each page merged
        into the running front, so memory stays O(front + page)."""
        config = self.config(study)
        if not config.objectives:
            return None
        front: list[Trial] = []
        after = 0
        while True:
            page = self.storage.list_trials(
                study, states=(TrialState.COMPLETED,), after_id=after, limit=1000
            )
            if not page:
                break
            after = page[-1].id
            front = objectives_front(config, front + page, limit=None)
        return sorted(front, key=lambda t: t.id)[:MAX_FRONT]

    def best(self, study: str) -> Trial:
        return self.storage.best_trial(study, self.config(study).maximize)
