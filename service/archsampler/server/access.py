"""Who may do what: principals (a role and a namespace) and the one rule that decides a call.

A principal with role `read` may look (GetStudy, ListStudies, ListTrials, GetBest, Predict,
ShouldStop, ListIntermediateValues), `write` may also change (CreateStudy, Propose, Report,
Heartbeat, Release, ReportIntermediate, Enqueue, Tell, TellMany, DeleteStudy and every
Session call), both only on studies of their own namespace; `admin` may do everything in
every namespace. The auth interceptor puts the caller's principal in `CURRENT` for the
handler; with auth off every caller is `AUTH_OFF`, an admin of the default namespace.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

from archsampler.errors import PermissionDeniedError
from archsampler.storage.base import DEFAULT_NAMESPACE

ROLES = ("read", "write", "admin")
NAMESPACE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # as study names
READ_ACTIONS = frozenset(
    {
        "GetStudy",
        "ListStudies",
        "ListTrials",
        "GetBest",
        "Predict",
        "ShouldStop",
        "ListIntermediateValues",
    }
)
WRITE_ACTIONS = READ_ACTIONS | {
    "CreateStudy",
    "Propose",
    "Report",
    "Heartbeat",
    "Release",
    "ReportIntermediate",
    "Enqueue",
    "ReportAndPropose",
    "Tell",
    "TellMany",
    "DeleteStudy",
}
_ALLOWED = {"read": READ_ACTIONS, "write": WRITE_ACTIONS}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token stands for.

    Attributes:
        name: shown in logs and refusals; never a secret.
        role: one of `ROLES`.
        namespace: the studies it may see and change (admin: its new studies go here).
    """

    name: str
    role: str
    namespace: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}: use one of {', '.join(ROLES)}")
        if not NAMESPACE_RE.fullmatch(self.namespace):
            raise ValueError(
                f"namespace {self.namespace[:40]!r} must be 1..128 characters of [A-Za-z0-9_.-]"
            )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


AUTH_OFF = Principal("anonymous", "admin", DEFAULT_NAMESPACE)
# The principal of the call being handled; None outside a call or when auth failed.
CURRENT: ContextVar[Principal | None] = ContextVar("archsampler_principal", default=None)


def may(principal: Principal, action: str) -> None:
    """Refuse `action` when the principal's role does not allow it (any namespace)."""
    if principal.role != "admin" and action not in _ALLOWED[principal.role]:
        raise PermissionDeniedError(
            f"principal {principal.name!r} (role {principal.role}) may not call {action}"
        )


def authorize(
    principal: Principal, action: str, study_namespace: str | None = None, study: str = ""
) -> None:
    """Allow `action` by `principal` on a study of `study_namespace` (None: no study), or raise.

    Raises:
        PermissionDeniedError: the role does not allow `action`, or the study is of another
            namespace (and the principal is not an admin).
    """
    may(principal, action)
    if (
        study_namespace is not None
        and study_namespace != principal.namespace
        and principal.role != "admin"
    ):
        raise PermissionDeniedError(
            f"study {study[:128]!r} is not in namespace {principal.namespace!r}"
        )
