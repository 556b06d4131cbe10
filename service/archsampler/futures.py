"""Answering callers: thread futures, or futures of an event loop (the servicer's)."""

from __future__ import annotations

import asyncio
import traceback
from concurrent.futures import Future
from concurrent.futures import InvalidStateError
from typing import Any

from archsampler.errors import ArchSamplerError

# A caller waits on a thread future, or on a future of its event loop (the servicer).
Waiter = Future | asyncio.Future
Answer = tuple[Waiter, Any, bool]  # (future, value or exception, is_error)


def waiter(loop: asyncio.AbstractEventLoop | None) -> Waiter:
    """A future for a caller; on `loop` when given (call it from that loop's thread)."""
    return Future() if loop is None else loop.create_future()


def resolve(future: Waiter, value: Any, is_error: bool) -> None:
    """Answer a caller; one whose call was cancelled (deadline) is skipped, not an error.

    Cancelled: its trials stay PENDING until a retry fetches them or the lease ends.
    An error goes without its traceback: its frames (a lane's round, a writer's batch) hold
    the answers, which hold the error; that cycle would be left to the garbage collector,
    whose passes stop every thread of the server. A caller that awaits the future must not
    hold it in a local either when the error is raised (its traceback holds the caller's
    frame): see `servicer._refused_late` and `Engine._wait`.
    """
    if future.done():
        return
    try:
        if is_error:  # raised far from here: its traceback would only make a reference cycle
            future.set_exception(_detached(value))
        else:
            future.set_result(value)
    except (InvalidStateError, asyncio.InvalidStateError):
        pass  # cancelled meanwhile


def _detached(error: BaseException) -> BaseException:
    """`error` without its traceback; an unexpected one (it becomes INTERNAL, logged with
    an incident id) keeps where it was raised as text in a note, so that log line shows it."""
    tb = error.__traceback__
    if tb is not None and not isinstance(error, ArchSamplerError):
        where = "".join(traceback.format_tb(tb))
        error.add_note(f"raised where it happened (traceback detached):\n{where}")
    return error.with_traceback(None)


def _settle(answers: list[Answer]) -> None:
    for answer in answers:
        resolve(*answer)


def answer_all(answers: list[Answer]) -> None:
    """Answer callers from any thread: loop futures with one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
    for answer in answers:
        future = answer[0]
        if isinstance(future, asyncio.Future):
            by_loop.setdefault(future.get_loop(), []).append(answer)
        else:
            resolve(*answer)
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, batch)
        except RuntimeError:
            pass  # that loop is closed: nobody is waiting any more
