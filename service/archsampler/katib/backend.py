"""The study calls the Katib service makes, in one place, over the server's `StudyService`.

Blocking calls run in the server's executor; propose / report await the writer's futures on
the running loop, exactly as the ArchSampler servicer does.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from typing import Callable
from typing import Sequence
from typing import TypeVar

from archsampler.study import StudyService
from archsampler.study import normalise_config
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

T = TypeVar("T")
PAGE = 1000


class StudyBackend:
    """Async study operations for the Katib servicer (studies of namespace `default`)."""

    def __init__(self, service: StudyService, executor: ThreadPoolExecutor) -> None:
        self.service = service
        self.executor = executor

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def ensure_study(self, name: str, config: dict[str, Any]) -> float:
        """Create study `name`, or load it when its config is equal (else ALREADY_EXISTS);
        its creation time (a study deleted and created again has another)."""
        record, _ = await self._run(self.service.create_study, name, config)
        return float(record.created_at)

    async def trials(self, study: str, states: Sequence[TrialState] = ()) -> list[Trial]:
        """Every trial of `study` (in `states`, when given), in id order."""

        def read() -> list[Trial]:
            found: list[Trial] = []
            while True:
                after = found[-1].id if found else 0
                page = self.service.list_trials(study, states=states, after_id=after, limit=PAGE)
                found.extend(page)
                if len(page) < PAGE:
                    return found

        return await self._run(read)

    def hash_of(self, study: str, params: dict[str, Any]) -> str:
        """The canonical hash of `params` in the study's space (validates them)."""
        space = self.service.space(study)
        return space.canonical_hash(space.from_params(params))

    async def arch_hash(self, study: str, params: dict[str, Any]) -> str:
        return await self._run(self.hash_of, study, params)

    async def propose(self, study: str, count: int, request_id: str) -> list[Trial]:
        loop = asyncio.get_running_loop()
        return list(await self.service.propose(study, count, "katib", request_id, loop))

    async def report(self, study: str, trial_id: int, outcome: Outcome) -> Trial:
        return await self.service.report(study, trial_id, outcome, asyncio.get_running_loop())

    async def tell(self, study: str, params: dict[str, Any], outcome: Outcome) -> Trial:
        return await self._run(self.service.tell, study, "", params, outcome)

    async def heartbeat(self, study: str, trial_id: int) -> Trial:
        return await self._run(self.service.heartbeat, study, trial_id)

    async def validate(self, config: dict[str, Any]) -> None:
        """Check a study config as `create_study` would, creating nothing."""
        await self._run(normalise_config, config, self.service.default_strategy)
