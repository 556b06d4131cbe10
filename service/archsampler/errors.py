"""Domain exceptions, one module for the whole service.

Each exception subclasses the builtin it refines so plain Python callers can catch it
naturally; `archsampler.server.status` maps each class to exactly one gRPC status code.
"""

from __future__ import annotations


class ArchSamplerError(Exception):
    """Root of every error the service raises on purpose."""


class InvalidArgumentError(ArchSamplerError, ValueError):
    """A request field is malformed or out of range. Not retryable."""


class InvalidArchitectureError(InvalidArgumentError):
    """An architecture is malformed or not valid in the study's search space."""


class NotFoundError(ArchSamplerError, KeyError):
    """A study or trial does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class PermissionDeniedError(ArchSamplerError, PermissionError):
    """The caller may not make this call: its role, or a study of another namespace."""


class AlreadyExistsError(ArchSamplerError):
    """A conflicting object already exists (different config, different report)."""


class FailedPreconditionError(ArchSamplerError):
    """The request is valid but the study is not in a state to serve it."""


class ExhaustedError(FailedPreconditionError):
    """The search space has no unseen architecture left to propose."""


class StorageError(ArchSamplerError):
    """The storage backend failed; the operation may be retried."""
