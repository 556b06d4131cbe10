"""Leases that keep themselves: heartbeat a pending trial while the trainer works.

`study.keep_alive(trial)` (sync: a daemon thread; async: an asyncio task) beats at a third
of the server's lease (`HeartbeatResponse.lease_seconds`, so client and server clocks need
not agree), so a ten-hour training never turns STALE while its process lives; a process
that dies stops beating and its trial turns STALE within one lease. A beat refused because
the trial is no longer PENDING (reported, released, or already STALE) stops the keeper and
is kept in `.lost`; transient errors (UNAVAILABLE after the SDK's retries) are retried at the
next beat and kept in `.last_error`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc

from archsampler_client.errors import ArchSamplerError
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb

MIN_INTERVAL = 0.05
FINAL = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
"""Codes after which beating again cannot help: the trial is gone or no longer PENDING."""


def _trial_id(trial: Trial | int) -> int:
    return trial if isinstance(trial, int) else trial.id


def _parse(resp: Any) -> tuple[Trial, float]:
    return Trial.from_proto(resp.trial), resp.lease_seconds


def _interval(every: float | None, lease_seconds: float) -> float:
    if every is not None:
        if not every > 0:
            raise ValueError(f"every must be > 0 seconds, got {every}")
        return every
    if lease_seconds <= 0:  # a server older than lease_seconds: beat once a minute
        return 60.0
    return max(MIN_INTERVAL, lease_seconds / 3)


class _State:
    """What both keepers record."""

    def __init__(self, study: Any, trial: Trial | int, every: float | None) -> None:
        self.study = study
        self.trial_id = _trial_id(trial)
        self.every = every
        self.interval = 0.0
        self.beats = 0
        self.trial: Trial | None = None
        self.lost: ArchSamplerError | None = None
        self.last_error: ArchSamplerError | None = None

    def _request(self) -> Any:
        return pb.HeartbeatRequest(study=self.study.name, trial_id=self.trial_id)

    def _record(self, trial: Trial, lease_seconds: float) -> None:
        self.trial = trial
        self.beats += 1
        self.interval = _interval(self.every, lease_seconds)

    def _failed(self, error: ArchSamplerError) -> bool:
        """Record `error`; True when the keeper must stop."""
        if error.code in FINAL:
            self.lost = error
            return True
        self.last_error = error
        return False


class KeepAlive(_State):
    """Heartbeats a trial from a daemon thread; use as a context manager.

    Entering beats once in the caller's thread (so a trial that is not PENDING raises at
    once), then every `every` seconds (default: a third of the server's lease).
    """

    def __init__(self, study: Any, trial: Trial | int, every: float | None = None) -> None:
        super().__init__(study, trial, every)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        self._record(*self.study.client._invoke("Heartbeat", self._request(), _parse))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except ArchSamplerError as e:
                if self._failed(e):
                    return

    def start(self) -> KeepAlive:
        self._beat()
        self._thread = threading.Thread(
            target=self._run, name=f"archsampler-keepalive-{self.trial_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (idempotent); the trial keeps the lease of its last beat."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> KeepAlive:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AsyncKeepAlive(_State):
    """Heartbeats a trial from an asyncio task; use as an async context manager."""

    def __init__(self, study: Any, trial: Trial | int, every: float | None = None) -> None:
        super().__init__(study, trial, every)
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        self._record(*await self.study.client._invoke("Heartbeat", self._request(), _parse))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._beat()
            except ArchSamplerError as e:
                if self._failed(e):
                    return

    async def start(self) -> AsyncKeepAlive:
        await self._beat()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> None:
        """Stop beating (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def __aenter__(self) -> AsyncKeepAlive:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
