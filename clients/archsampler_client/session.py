"""Sessions: Propose / Report / Heartbeat over one long-lived `Session` stream.

A trainer that proposes and reports many trials saves a new RPC per request: the calls
keep their unary semantics (acknowledged only after commit, request ids on Propose) and
their errors, and an UNAVAILABLE stream is reopened and the call resent, as the unary
calls are retried. `report_and_propose` does a trainer's loop step (report, then propose
the next) in one message. One call is in flight per session at a time; use one session per
trainer (thread or task). Open with `study.session()`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any
from typing import Callable
from typing import TypeVar

import grpc

from archsampler_client import _requests as req
from archsampler_client import _retry
from archsampler_client._study import _trial
from archsampler_client._study import _trials
from archsampler_client.errors import ArchSamplerError
from archsampler_client.errors import error_for
from archsampler_client.errors import from_rpc_error
from archsampler_client.errors import status_code
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb

T = TypeVar("T")


def _reported_and_new(resp: pb.ReportAndProposeResponse) -> tuple[Trial, list[Trial]]:
    return Trial.from_proto(resp.reported), [Trial.from_proto(t) for t in resp.trials]


def _unpack(resp: pb.SessionResponse, kind: str, parse: Callable[[Any], T]) -> T:
    which = resp.WhichOneof("result")
    if which == "error":
        raise error_for(status_code(resp.error.code), resp.error.message)
    if which != kind:
        raise ArchSamplerError(
            grpc.StatusCode.UNKNOWN, f"session answered {which!r} to a {kind!r} call"
        )
    return parse(getattr(resp, kind))


class SessionOps:
    """The calls of a session; `_call` sends one and parses its answer."""

    def __init__(self, client: Any, study: str) -> None:
        self.client = client
        self.study = study

    def propose(self, count: int = 1, client_id: str = "", request_id: str | None = None) -> Any:
        """As `Study.propose`: `count` new PENDING trials (a request id is set per call)."""
        msg = req.propose(self.study, count, client_id, request_id)
        return self._call(pb.SessionRequest(propose=msg), "propose", _trials)

    def report(
        self,
        trial_id: int,
        value: float | None = None,
        *,
        failed: str | None = None,
        infeasible: str | None = None,
        checkpoint_uri: str = "",
        metadata: dict[str, str] | None = None,
        stopped: str | bool | None = None,
        retryable: bool = False,
        values: dict[str, float] | None = None,
    ) -> Any:
        """As `Study.report`: exactly one of `value`, `failed=` (`retryable=`),
        `infeasible=`, or `values=` in a study with several objectives (or `stopped=`, with
        or without a value)."""
        msg = req.report(
            self.study,
            trial_id,
            value,
            failed,
            infeasible,
            checkpoint_uri,
            metadata,
            stopped,
            retryable,
            values,
        )
        return self._call(pb.SessionRequest(report=msg), "report", _trial)

    def report_intermediate(self, trial_id: int, step: int, value: float) -> Any:
        """As `Study.report_intermediate`: returns whether the trial should stop."""
        msg = req.report_intermediate(self.study, trial_id, step, value)
        return self._call(
            pb.SessionRequest(report_intermediate=msg),
            "report_intermediate",
            lambda r: r.should_stop,
        )

    def should_stop(self, trial_id: int) -> Any:
        """As `Study.should_stop`."""
        msg = pb.ShouldStopRequest(study=self.study, trial_id=trial_id)
        return self._call(
            pb.SessionRequest(should_stop=msg), "should_stop", lambda r: r.should_stop
        )

    def report_and_propose(
        self,
        trial_id: int,
        value: float | None = None,
        *,
        failed: str | None = None,
        infeasible: str | None = None,
        checkpoint_uri: str = "",
        metadata: dict[str, str] | None = None,
        stopped: str | bool | None = None,
        retryable: bool = False,
        values: dict[str, float] | None = None,
        count: int = 1,
        client_id: str = "",
        request_id: str | None = None,
    ) -> Any:
        """A trainer's step in one message: report `trial_id` (any outcome `report` takes),
        then propose `count` new trials in the same transaction. Returns `(reported trial,
        new trials)`.

        If the report fails nothing is proposed and its error is raised; if the proposal
        fails the report stays committed. Retrying the same call is safe either way.
        """
        msg = pb.ReportAndProposeRequest(
            report=req.report(
                self.study,
                trial_id,
                value,
                failed,
                infeasible,
                checkpoint_uri,
                metadata,
                stopped,
                retryable,
                values,
            ),
            propose=req.propose(self.study, count, client_id, request_id),
        )
        return self._call(
            pb.SessionRequest(report_and_propose=msg), "report_and_propose", _reported_and_new
        )

    def heartbeat(self, trial_id: int) -> Any:
        """As `Study.heartbeat`: extend a pending trial's lease."""
        msg = pb.HeartbeatRequest(study=self.study, trial_id=trial_id)
        return self._call(pb.SessionRequest(heartbeat=msg), "heartbeat", _trial)

    def _call(self, msg: pb.SessionRequest, kind: str, parse: Callable[[Any], T]) -> Any:
        raise NotImplementedError


class Session(SessionOps):
    """A blocking session (thread-safe: calls are serialised). Close it, or use `with`.

    A call waits at most the client's `timeout` for its answer; on a timeout the stream is
    dropped (the next call opens a new one) and DEADLINE_EXCEEDED is raised.
    """

    def __init__(self, client: Any, study: str) -> None:
        super().__init__(client, study)
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[pb.SessionRequest | None] | None = None
        self._answers: queue.SimpleQueue[Any] | None = None
        self._responses: Any = None

    def _open(self) -> None:
        self._requests, self._answers = queue.SimpleQueue(), queue.SimpleQueue()
        self._responses = self.client._get_stub().Session(
            iter(self._requests.get, None), metadata=self.client.metadata
        )
        threading.Thread(target=_pump, args=(self._responses, self._answers), daemon=True).start()

    def _drop(self) -> None:
        if self._responses is not None:
            self._requests.put(None)
            self._responses.cancel()
        self._requests = self._answers = self._responses = None

    def _call(self, msg: pb.SessionRequest, kind: str, parse: Callable[[Any], T]) -> T:
        with self._lock:
            attempt = 0
            while True:
                if self._responses is None:
                    self._open()
                self._requests.put(msg)
                try:
                    resp = self._answers.get(timeout=self.client.timeout)
                except queue.Empty:
                    self._drop()
                    raise error_for(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no session answer within {self.client.timeout} s",
                    ) from None
                except BaseException:  # interrupted: its answer must not reach the next call
                    self._drop()
                    raise
                if isinstance(resp, pb.SessionResponse):
                    return _unpack(resp, kind, parse)
                self._drop()
                if not _retry.should_retry(resp, attempt, self.client.retries):
                    raise from_rpc_error(resp) from None
                time.sleep(_retry.delay(attempt))
                attempt += 1

    def close(self) -> None:
        """End the stream."""
        with self._lock:
            self._drop()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pump(responses: Any, answers: queue.SimpleQueue[Any]) -> None:
    """Move a stream's responses (then its error or end) into `answers`."""
    try:
        for resp in responses:
            answers.put(resp)
        answers.put(_Ended())
    except grpc.RpcError as err:
        answers.put(err)


class _Ended(grpc.RpcError):
    """The server closed the stream without an answer (treated as UNAVAILABLE)."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "the server closed the session stream"


class AsyncSession(SessionOps):
    """An asyncio session (calls from several tasks are serialised). Use `async with`."""

    def __init__(self, client: Any, study: str) -> None:
        super().__init__(client, study)
        self._lock = asyncio.Lock()
        self._stream: Any = None

    def _drop(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self._stream = None

    async def _call(self, msg: pb.SessionRequest, kind: str, parse: Callable[[Any], T]) -> T:
        async with self._lock:
            attempt = 0
            while True:
                try:
                    if self._stream is None:
                        self._stream = self.client._get_stub().Session(
                            metadata=self.client.metadata
                        )
                    await self._stream.write(msg)
                    async with asyncio.timeout(self.client.timeout):  # no task per call
                        resp = await self._stream.read()
                    if resp is grpc.aio.EOF:
                        raise _Ended()
                except TimeoutError:
                    self._drop()
                    raise error_for(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no session answer within {self.client.timeout} s",
                    ) from None
                except grpc.RpcError as err:
                    self._drop()
                    if not _retry.should_retry(err, attempt, self.client.retries):
                        raise from_rpc_error(err) from None
                    await asyncio.sleep(_retry.delay(attempt))
                    attempt += 1
                    continue
                except BaseException:  # cancelled mid-call: its answer must not reach the next
                    self._drop()
                    raise
                return _unpack(resp, kind, parse)

    async def close(self) -> None:
        """Half-close the stream and wait for the server to end it."""
        async with self._lock:
            stream, self._stream = self._stream, None
            if stream is None:
                return
            try:
                await stream.done_writing()
                while True:
                    async with asyncio.timeout(self.client.timeout):
                        resp = await stream.read()
                    if resp is grpc.aio.EOF:
                        break
            except (TimeoutError, grpc.RpcError):
                stream.cancel()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
