"""The single mapping from domain exceptions to gRPC status codes (server side)."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any
from typing import Awaitable
from typing import Callable
from typing import TypeVar

import grpc

from archsampler.errors import AlreadyExistsError
from archsampler.errors import ExhaustedError
from archsampler.errors import FailedPreconditionError
from archsampler.errors import InvalidArgumentError
from archsampler.errors import NotFoundError
from archsampler.errors import PermissionDeniedError
from archsampler.errors import StorageError

log = logging.getLogger(__name__)

# Order matters: subclasses before their bases.
CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (ExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (StorageError, grpc.StatusCode.UNAVAILABLE),
)

T = TypeVar("T")


def code_for(exc: BaseException) -> grpc.StatusCode | None:
    for cls, code in CODES:
        if isinstance(exc, cls):
            return code
    return None


def status_for(exc: Exception, where: str) -> tuple[grpc.StatusCode, str]:
    """The status code and message a domain exception answers with.

    Anything unexpected is logged with an incident id and becomes INTERNAL.
    """
    code = code_for(exc)
    if code is not None:
        return code, str(exc)
    incident = uuid.uuid4().hex[:12]
    log.error("internal error in %s (incident %s)", where, incident, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error (incident {incident})"


def handle_errors(
    method: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Turn domain exceptions raised by an async RPC method into the call's status (code and
    message, set on the context; the method answers no message).

    Anything unexpected is logged with an incident id and becomes INTERNAL, never a crash.
    """

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that maps every error
            code, message = status_for(exc, method.__name__)
        # Answered with a status instead of `context.abort`, whose exception grpc keeps in
        # a reference cycle with the call's state (~30 objects per refused call, left to the
        # garbage collector, whose passes stop every thread of the server).
        context.set_code(code)
        context.set_details(message)
        return None  # type: ignore[return-value]

    return wrapper
