"""Bearer-token authentication: a server interceptor checking `authorization: Bearer <token>`."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import grpc

# Load balancers probe health without credentials; everything else (reflection too) needs one.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
SCHEME = "bearer "

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


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


def token_matches(given: str, accepted: Sequence[bytes]) -> bool:
    """Compare `given` with every accepted token in constant time; never stop at a match."""
    candidate = given.encode()
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(candidate, token)
    return matched


def _denying_handler(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as `handler` that answers UNAUTHENTICATED."""

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(
        deny,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Reject calls without one of `tokens` as a bearer token with UNAUTHENTICATED.

    Args:
        tokens: accepted tokens; must not be empty (leave the interceptor out to disable auth).
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._tokens = [t.encode() for t in tokens]

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Pass authorised (and health) calls on; answer the rest UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        if token is None:
            message = "missing credentials: send metadata 'authorization: Bearer <token>'"
        elif not token_matches(token, self._tokens):
            message = "invalid bearer token"
        else:
            return handler
        return _denying_handler(handler, message)
