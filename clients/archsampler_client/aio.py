"""asyncio client: the same methods as `Client`, awaitable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from typing import Callable
from typing import TypeVar

import grpc

from archsampler_client import _requests as req
from archsampler_client import _retry
from archsampler_client import export
from archsampler_client._base import ClientBase
from archsampler_client._study import StudyOps
from archsampler_client._study import studies_page as _studies_page
from archsampler_client.errors import from_rpc_error
from archsampler_client.keepalive import AsyncKeepAlive
from archsampler_client.models import StudyInfo
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.session import AsyncSession

T = TypeVar("T")


class AsyncStudy(StudyOps):
    """A study handle on an `AsyncClient`: every method is awaitable."""

    async def trials(
        self, states: list[str] | None = None, page_size: int = 100
    ) -> AsyncIterator[Trial]:
        """Iterate over all trials in id order, fetching pages lazily."""
        token = ""
        while True:
            page, token = await self.trials_page(page_size, token, states)
            for trial in page:
                yield trial
            if not token:
                return

    def keep_alive(self, trial: Trial | int, every: float | None = None) -> AsyncKeepAlive:
        """`async with study.keep_alive(trial):` heartbeats the trial from an asyncio task
        while the block runs (every `every` s; default a third of the server's lease)."""
        return AsyncKeepAlive(self, trial, every)

    async def to_dataframe(self, states: list[str] | None = None) -> Any:
        """All trials as a pandas DataFrame (see `archsampler_client.export`)."""
        return export.to_dataframe([t async for t in self.trials(states)])


class AsyncClient(ClientBase):
    """Non-blocking client (grpc.aio). Arguments: see `ClientBase`."""

    _grpc = grpc.aio
    _session_type = AsyncSession

    async def _invoke(self, rpc: str, request: Any, parse: Callable[[Any], T]) -> T:
        method = getattr(self._get_stub(), rpc)
        attempt = 0
        while True:
            try:
                return parse(await method(request, timeout=self.timeout, metadata=self.metadata))
            except grpc.RpcError as err:
                if not _retry.should_retry(err, attempt, self.retries):
                    raise from_rpc_error(err) from None
                await asyncio.sleep(_retry.delay(attempt))
                attempt += 1

    async def create_study(
        self, name: str, space: req.Space, strategy: str = "", **config: Any
    ) -> AsyncStudy:
        """Create a study, or load it when it exists with the same config; the keyword
        arguments are `Client.create_study`'s (`strategy_options`, `goal`, `seed`,
        `seed_from`, `stopping`, `max_retries`, `objectives`, `metric_constraints`)."""
        msg = req.create_study(name, space, strategy, **config)
        await self._invoke("CreateStudy", msg, lambda r: r)
        return AsyncStudy(self, name)

    def study(self, name: str) -> AsyncStudy:
        return AsyncStudy(self, name)

    async def studies_page(
        self, page_size: int = 100, page_token: str = ""
    ) -> tuple[list[StudyInfo], str]:
        """One page of the studies the caller may see: `(studies, next_page_token)`."""
        msg = pb.ListStudiesRequest(page_size=page_size, page_token=page_token)
        return await self._invoke("ListStudies", msg, _studies_page)

    async def list_studies(self) -> list[StudyInfo]:
        """Every study the caller may see (all pages), in creation order."""
        out, token = await self.studies_page()
        while token:
            page, token = await self.studies_page(page_token=token)
            out.extend(page)
        return out

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._stub = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
