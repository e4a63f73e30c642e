"""Transport security of the API: TLS (optionally mutual) and a bearer token.

The token guards every method but health checking, so probes keep working
without it. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)

# What gRPC says when a client never got a connection (or a TLS session), as
# opposed to an UNAVAILABLE answered by the service itself ("the store is
# unreachable"). Shared by the CLI and the Terraform provider.
CONNECT_FAILURE_MARKERS = (
    "failed to connect",
    "connection refused",
    "connections to all backends failing",
    "dns resolution failed",
    "name resolution",
    "no route to host",
    "network is unreachable",
    "connection reset",
    "socket closed",
    "empty address list",
    "handshake",
    "ssl",
    "tls",
)


def is_connect_failure(details: str) -> bool:
    lowered = details.lower()
    return any(marker in lowered for marker in CONNECT_FAILURE_MARKERS)


@dataclass(frozen=True)
class ServerSecurity:
    tls_cert_pem: bytes | None = None
    tls_key_pem: bytes | None = field(default=None, repr=False)
    # With a client CA, clients must present a certificate it signed (mTLS).
    client_ca_pem: bytes | None = None
    token: str | None = field(default=None, repr=False)

    def credentials(self) -> grpc.ServerCredentials | None:
        if not self.tls_cert_pem:
            return None
        return grpc.ssl_server_credentials(
            [(self.tls_key_pem, self.tls_cert_pem)],
            root_certificates=self.client_ca_pem,
            require_client_auth=self.client_ca_pem is not None,
        )

    def interceptors(self) -> list[grpc.ServerInterceptor]:
        return [TokenInterceptor(self.token)] if self.token else []


def _deny(message: str) -> grpc.RpcMethodHandler:
    def abort(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if details.method.startswith(_OPEN_PREFIXES):
            return continuation(details)
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(sent, str):
            sent = sent.encode()
        if not sent:
            return _deny("this ClusterLink service requires a bearer token (authorization metadata)")
        if not hmac.compare_digest(sent, self._expected):
            return _deny("the bearer token was not accepted")
        return continuation(details)


@dataclass(frozen=True)
class ClientSecurity:
    """What a client needs to reach a secured service (CLI, Terraform provider)."""

    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def channel(self, endpoint: str) -> grpc.Channel:
        if not self.ca_pem:
            if self.token:
                # Call credentials need a secure channel; on plaintext the
                # token travels as ordinary metadata (use TLS outside loopback).
                return grpc.intercept_channel(grpc.insecure_channel(endpoint), _TokenMetadata(self.token))
            return grpc.insecure_channel(endpoint)
        creds = grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)
        if self.token:
            creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(self.token))
        return grpc.secure_channel(endpoint, creds)


class _TokenMetadata(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        metadata = list(details.metadata or []) + [self._metadata]
        return continuation(details._replace(metadata=metadata), request)
