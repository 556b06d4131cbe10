"""Client SDK for the archsampler service: `Client` (blocking) and `AsyncClient` (asyncio)."""

from __future__ import annotations

from archsampler_client._import import ImportSummary
from archsampler_client._import import TellManyError
from archsampler_client.aio import AsyncClient
from archsampler_client.aio import AsyncStudy
from archsampler_client.client import Client
from archsampler_client.client import Study
from archsampler_client.errors import AlreadyExistsError
from archsampler_client.errors import ArchSamplerError
from archsampler_client.errors import InvalidArgumentError
from archsampler_client.errors import NotFoundError
from archsampler_client.errors import PermissionDeniedError
from archsampler_client.errors import UnauthenticatedError
from archsampler_client.errors import UnavailableError
from archsampler_client.models import StudyInfo
from archsampler_client.models import Trial
from archsampler_client.models import TrialState
from archsampler_client.models import WarmStart
from archsampler_client.security import tls_credentials
from archsampler_client.session import AsyncSession
from archsampler_client.session import Session

__version__ = "0.1.0"
__all__ = [
    "AlreadyExistsError",
    "ArchSamplerError",
    "AsyncClient",
    "AsyncSession",
    "AsyncStudy",
    "ImportSummary",
    "Client",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "Session",
    "Study",
    "StudyInfo",
    "TellManyError",
    "Trial",
    "TrialState",
    "UnauthenticatedError",
    "UnavailableError",
    "WarmStart",
    "tls_credentials",
]
