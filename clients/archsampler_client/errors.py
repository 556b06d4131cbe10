"""Client-side errors: each carries the gRPC status code the server answered with."""

from __future__ import annotations

import grpc


class ArchSamplerError(Exception):
    """An RPC failed. `.code` is the `grpc.StatusCode`, `.details` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class NotFoundError(ArchSamplerError):
    """The study or trial does not exist (NOT_FOUND)."""


class InvalidArgumentError(ArchSamplerError):
    """The request was malformed or invalid (INVALID_ARGUMENT); retrying will not help."""


class AlreadyExistsError(ArchSamplerError):
    """A conflicting study config or report exists (ALREADY_EXISTS)."""


class UnavailableError(ArchSamplerError):
    """The server could not be reached after all retries (UNAVAILABLE)."""


class UnauthenticatedError(ArchSamplerError):
    """No token, or one the server does not know (UNAUTHENTICATED)."""


class PermissionDeniedError(ArchSamplerError):
    """The caller's role may not make this call, or the study is of another namespace
    (PERMISSION_DENIED); nothing changed."""


_BY_CODE: dict[grpc.StatusCode, type[ArchSamplerError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
}


_BY_VALUE = {c.value[0]: c for c in grpc.StatusCode}


def status_code(value: int) -> grpc.StatusCode:
    """The `grpc.StatusCode` of a numeric code (UNKNOWN for a number that is none)."""
    return _BY_VALUE.get(value, grpc.StatusCode.UNKNOWN)


def error_for(code: grpc.StatusCode, details: str) -> ArchSamplerError:
    """The `ArchSamplerError` subclass for a status code."""
    return _BY_CODE.get(code, ArchSamplerError)(code, details or "")


def from_rpc_error(err: grpc.RpcError) -> ArchSamplerError:
    """The `ArchSamplerError` subclass for a failed call."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    return error_for(code, details)
