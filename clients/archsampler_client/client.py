"""Synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterator
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
from archsampler_client.keepalive import KeepAlive
from archsampler_client.models import StudyInfo
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.session import Session

T = TypeVar("T")


class Study(StudyOps):
    """A study handle on a `Client`: every method blocks and returns its result."""

    def propose(
        self, count: int = 1, client_id: str = "", request_id: str | None = None
    ) -> list[Trial]:
        return super().propose(count, client_id, request_id)

    def trials(self, states: list[str] | None = None, page_size: int = 100) -> Iterator[Trial]:
        """Iterate over all trials in id order, fetching pages lazily."""
        token = ""
        while True:
            page, token = self.trials_page(page_size, token, states)
            yield from page
            if not token:
                return

    def keep_alive(self, trial: Trial | int, every: float | None = None) -> KeepAlive:
        """`with study.keep_alive(trial):` heartbeats the trial from a background thread
        while the block runs (every `every` s; default a third of the server's lease)."""
        return KeepAlive(self, trial, every)

    def to_dataframe(self, states: list[str] | None = None) -> Any:
        """All trials as a pandas DataFrame (see `archsampler_client.export`)."""
        return export.to_dataframe(self.trials(states))


class StudiesAPI:
    """The study calls a blocking client offers: `Client` and the in-process `Engine`
    (`archsampler.Engine`) share them; `_study_type` is the handle they return."""

    _study_type: type[Study]

    def _invoke(self, rpc: str, request: Any, parse: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def create_study(
        self,
        name: str,
        space: req.Space,
        strategy: str = "",
        *,
        strategy_options: dict[str, Any] | None = None,
        goal: str = "maximize",
        seed: int = 0,
        seed_from: str = "",
        stopping: dict[str, Any] | None = None,
        max_retries: int = 0,
        objectives: dict[str, str] | list[dict[str, str]] | None = None,
        metric_constraints: list[dict[str, Any]] | None = None,
    ) -> Study:
        """Create a study, or load it when it exists with the same config. `seed_from`:
        copy that study's finished trials into it (same space and goal; idempotent).
        `stopping`: an early-stopping rule, `{"rule": "median" | "asha" | "curve",
        "options": {...}}` (README "Early stopping"). `objectives`: several objectives,
        `{"accuracy": "maximize", "params": "minimize"}` (then report `values=`), with
        optional `metric_constraints` `[{"name": "params", "op": "<=", "bound": 1e6}]`."""
        msg = req.create_study(
            name,
            space,
            strategy,
            strategy_options,
            goal,
            seed,
            seed_from,
            stopping,
            max_retries,
            objectives,
            metric_constraints,
        )
        self._invoke("CreateStudy", msg, lambda r: r)
        return self._study_type(self, name)

    def study(self, name: str) -> Study:
        """A handle on an existing study (no call is made)."""
        return self._study_type(self, name)

    def studies_page(
        self, page_size: int = 100, page_token: str = ""
    ) -> tuple[list[StudyInfo], str]:
        """One page of the studies the caller may see: `(studies, next_page_token)`."""
        msg = pb.ListStudiesRequest(page_size=page_size, page_token=page_token)
        return self._invoke("ListStudies", msg, _studies_page)

    def list_studies(self) -> list[StudyInfo]:
        """Every study the caller may see (all pages), in creation order."""
        out, token = self.studies_page()
        while token:
            page, token = self.studies_page(page_token=token)
            out.extend(page)
        return out


class Client(StudiesAPI, ClientBase):
    """Blocking client for an archsampler server. Arguments: see `ClientBase`."""

    _grpc = grpc
    _session_type = Session
    _study_type = Study

    def _invoke(self, rpc: str, request: Any, parse: Callable[[Any], T]) -> T:
        method = getattr(self._get_stub(), rpc)
        attempt = 0
        while True:
            try:
                return parse(method(request, timeout=self.timeout, metadata=self.metadata))
            except grpc.RpcError as err:
                if not _retry.should_retry(err, attempt, self.retries):
                    raise from_rpc_error(err) from None
                time.sleep(_retry.delay(attempt))
                attempt += 1

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the channel is connected; ArchSamplerError(UNAVAILABLE) on timeout."""
        self._get_stub()
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            from archsampler_client.errors import UnavailableError

            raise UnavailableError(
                grpc.StatusCode.UNAVAILABLE, f"no server at {self.target} after {timeout} s"
            ) from None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
