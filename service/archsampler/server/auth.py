"""Bearer-token authentication: tokens map to principals, held only as SHA-256 digests.

Tokens come from `ARCHSAMPLER_AUTH_FILE` (JSON principals with `token_sha256`) and
`ARCHSAMPLER_AUTH_TOKENS` (`token` = admin of the default namespace, or
`token:role:namespace`), never from flags. A setting that is set but yields no token refuses
to start (`AuthConfigError`); only unset settings mean auth off. The interceptor checks
`authorization: Bearer <token>` and puts the caller's principal in `access.CURRENT` inside
the handler's own task.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import inspect
import json
import re
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import grpc
from pydantic import SecretStr

from archsampler.server.access import CURRENT
from archsampler.server.access import DEFAULT_NAMESPACE
from archsampler.server.access import Principal

if TYPE_CHECKING:
    from archsampler.config import Settings

# Load balancers probe health without credentials; everything else (reflection too) needs one.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
SCHEME = "bearer "
DIGEST_RE = re.compile(r"[0-9a-f]{64}")
FILE_FIELDS = {"name", "role", "namespace", "token_sha256"}

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class AuthConfigError(ValueError):
    """An auth or metrics-auth setting is unusable; the message is one line, without secrets."""


def token_digest(token: str) -> bytes:
    """The SHA-256 digest of a token (what is kept in memory and in the auth file)."""
    return hashlib.sha256(token.encode()).digest()


def bearer_token(metadata: Sequence[tuple[str, Any]] | None) -> str | None:
    """The token of the first `authorization: Bearer …` metadata entry, or None."""
    for key, value in metadata or ():
        if key.lower() != "authorization":
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if text[: len(SCHEME)].lower() == SCHEME:
            return text[len(SCHEME) :].strip()
        return None
    return None


class PrincipalTable:
    """Token digests and their principals; a lookup compares against every entry.

    Args:
        entries: (SHA-256 digest of a token, its principal); at least one.
    """

    def __init__(self, entries: Sequence[tuple[bytes, Principal]]) -> None:
        if not entries:
            raise AuthConfigError("no token: leave auth unset to turn it off")
        self._entries = list(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> Principal | None:
        """The principal of `token`, or None; constant time per entry, never stops early."""
        digest = token_digest(token)
        found = None
        for known, principal in self._entries:
            if hmac.compare_digest(digest, known):
                found = principal
        return found


def _principal(where: str, name: str, role: str, namespace: str) -> Principal:
    try:
        return Principal(name, role, namespace)
    except ValueError as e:
        raise AuthConfigError(f"{where}: {e}") from None


def _from_tokens(tokens: Sequence[SecretStr]) -> list[tuple[bytes, Principal]]:
    """`ARCHSAMPLER_AUTH_TOKENS` entries: `token` (admin, default namespace) or
    `token:role:namespace`. Messages never echo a token."""
    if not tokens:
        raise AuthConfigError(
            "ARCHSAMPLER_AUTH_TOKENS is set but holds no token; unset it to turn auth off"
        )
    entries = []
    for i, secret in enumerate(tokens, 1):
        entry = secret.get_secret_value()
        where = f"ARCHSAMPLER_AUTH_TOKENS entry {i}"
        if ":" in entry:
            parts = entry.rsplit(":", 2)
            if len(parts) != 3 or not parts[0]:
                raise AuthConfigError(f"{where}: write TOKEN or TOKEN:ROLE:NAMESPACE")
            token, role, namespace = parts
        else:
            token, role, namespace = entry, "admin", DEFAULT_NAMESPACE
        entries.append((token_digest(token), _principal(where, f"token-{i}", role, namespace)))
    return entries


def _from_file(path: str) -> list[tuple[bytes, Principal]]:
    """`{"principals": [{"name", "role", "namespace", "token_sha256"}, …]}`."""
    if not path.strip():
        raise AuthConfigError("ARCHSAMPLER_AUTH_FILE is set but empty; unset it to turn auth off")
    where = f"ARCHSAMPLER_AUTH_FILE {path}"
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise AuthConfigError(f"{where}: cannot read it ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise AuthConfigError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or set(data) != {"principals"}:
        raise AuthConfigError(f'{where}: expected an object {{"principals": [...]}}')
    listed = data["principals"]
    if not isinstance(listed, list) or not listed:
        raise AuthConfigError(f"{where}: 'principals' must be a non-empty list")
    entries = []
    for i, item in enumerate(listed, 1):
        at = f"{where}: principal {i}"
        if not isinstance(item, dict):
            raise AuthConfigError(f"{at}: expected an object")
        if set(item) != FILE_FIELDS:
            missing, extra = sorted(FILE_FIELDS - set(item)), sorted(set(item) - FILE_FIELDS)
            raise AuthConfigError(
                f"{at}: needs exactly {sorted(FILE_FIELDS)} (missing {missing}, unknown "
                f"{extra}); token_sha256 is `archsampler hash-token` of the token"
            )
        if not all(isinstance(item[k], str) for k in FILE_FIELDS):
            raise AuthConfigError(f"{at}: every field must be a string")
        digest = item["token_sha256"].lower()
        if not DIGEST_RE.fullmatch(digest):
            raise AuthConfigError(f"{at}: token_sha256 must be 64 hex digits")
        name = item["name"]
        if not name or len(name) > 128:
            raise AuthConfigError(f"{at}: name must be 1..128 characters")
        principal = _principal(f"{at} ({name[:40]!r})", name, item["role"], item["namespace"])
        entries.append((bytes.fromhex(digest), principal))
    return entries


def load_principals(settings: Settings) -> PrincipalTable | None:
    """The principals of `settings`, or None when no auth setting is set (auth off).

    Raises:
        AuthConfigError: a setting is set but unusable (no token, a bad file or entry, a
            token given to two principals, a metrics token required without tokens).
    """
    entries: list[tuple[bytes, Principal]] = []
    if settings.auth_file is not None:
        entries += _from_file(settings.auth_file)
    if settings.auth_tokens is not None:
        entries += _from_tokens(settings.auth_tokens)
    if settings.auth_file is None and settings.auth_tokens is None:
        if settings.metrics_require_token:
            raise AuthConfigError(
                "ARCHSAMPLER_METRICS_REQUIRE_TOKEN needs tokens: set ARCHSAMPLER_AUTH_FILE or "
                "ARCHSAMPLER_AUTH_TOKENS"
            )
        return None
    owners: dict[bytes, Principal] = {}
    for digest, principal in entries:
        other = owners.setdefault(digest, principal)
        if other != principal:
            raise AuthConfigError(
                f"one token is given to two principals ({other.name!r} and {principal.name!r})"
            )
    return PrincipalTable(list({d: p for d, p in entries}.items()))


def _denying_handler(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as `handler` that answers UNAUTHENTICATED."""

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return _same_kind(handler, deny)


_KINDS = {
    (False, False): (grpc.unary_unary_rpc_method_handler, "unary_unary"),
    (False, True): (grpc.unary_stream_rpc_method_handler, "unary_stream"),
    (True, False): (grpc.stream_unary_rpc_method_handler, "stream_unary"),
    (True, True): (grpc.stream_stream_rpc_method_handler, "stream_stream"),
}


def _same_kind(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> Any:
    make, _ = _KINDS[(handler.request_streaming, handler.response_streaming)]
    return make(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def with_principal(handler: grpc.RpcMethodHandler, principal: Principal) -> Any:
    """`handler` with `principal` set in `access.CURRENT` as its behaviour starts, in the
    call's own task (all four streaming kinds; async handlers only, as ours are)."""
    _, attribute = _KINDS[(handler.request_streaming, handler.response_streaming)]
    behavior = getattr(handler, attribute)
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            CURRENT.set(principal)
            async with contextlib.aclosing(behavior(request, context)) as responses:
                async for response in responses:
                    yield response

        return _same_kind(handler, stream)
    if not inspect.iscoroutinefunction(behavior):
        raise TypeError(f"auth needs async handlers; {behavior!r} is not")

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        CURRENT.set(principal)
        return await behavior(request, context)

    return _same_kind(handler, call)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Resolve the caller's bearer token to a principal; answer UNAUTHENTICATED without one.

    Args:
        principals: the accepted tokens (leave the interceptor out to turn auth off).
    """

    def __init__(self, principals: PrincipalTable) -> None:
        self.principals = principals
        # (method, principal) -> (the handler wrapped, its wrapper): built once, not per call
        self._wrapped: dict[tuple[str, Principal], tuple[Any, Any]] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Pass health calls on; hand others their principal, or refuse them."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        if token is None:
            message = "missing credentials: send metadata 'authorization: Bearer <token>'"
        else:
            principal = self.principals.lookup(token)
            if principal is not None:
                return self._with_principal(method, handler, principal)
            message = "invalid bearer token"
        return _denying_handler(handler, message)

    def _with_principal(self, method: str, handler: Any, principal: Principal) -> Any:
        key = (method, principal)
        found = self._wrapped.get(key)
        if found is not None and found[0] is handler:
            return found[1]
        wrapped = with_principal(handler, principal)
        if len(self._wrapped) >= 4096:
            self._wrapped.clear()
        self._wrapped[key] = (handler, wrapped)
        return wrapped
