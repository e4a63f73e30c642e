"""Builds the gRPC server: ClusterLinkService, health checking and reflection.

Requests are bounded: gRPC refuses a message above `max_request_bytes` with
RESOURCE_EXHAUSTED before any code of ours runs, and a request that is not
valid protobuf (or holds a string that is not UTF-8) is answered
INVALID_ARGUMENT instead of gRPC's own INTERNAL "Exception deserializing
request!".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.api.security import ServerSecurity
from clusterlink.api.servicer import ClusterLinkServicer
from clusterlink.store.secrets import SecretBox
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

log = logging.getLogger("clusterlink.api")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ClusterLinkService"].full_name
# The largest request the API accepts. The largest legitimate one, a link with
# every connection field at its maximum (two CA bundles of 256 KiB, certificates
# and keys of 64 KiB), is under 1 MiB.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024


class DecodeRequests(grpc.ServerInterceptor):
    """Parses ClusterLinkService requests itself, so that a malformed one is INVALID_ARGUMENT."""

    def __init__(self) -> None:
        service = pb.DESCRIPTOR.services_by_name["ClusterLinkService"]
        self._types = {
            f"/{SERVICE_NAME}/{method.name}": method.input_type.full_name for method in service.methods
        }

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = continuation(details)
        type_name = self._types.get(details.method)
        if (
            handler is None or type_name is None or handler.unary_unary is None
            or handler.request_deserializer is None
        ):
            return handler
        parse = handler.request_deserializer
        behavior = handler.unary_unary

        def run(raw: bytes, context: grpc.ServicerContext) -> Any:
            try:
                request = parse(raw)
            except Exception:  # noqa: BLE001 - DecodeError, or anything the parser raises
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"request: not a valid {type_name} message (malformed protobuf, "
                    "or a string field that is not UTF-8)",
                )
            return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            run, request_deserializer=None, response_serializer=handler.response_serializer
        )


class BindError(RuntimeError):
    """The listen address could not be bound (the message says why, not which address)."""


def _check_listen(listen: str) -> None:
    if listen.startswith("unix:"):
        return
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BindError(f"{listen!r} is not host:port with a port from 0 to 65535 (example: 127.0.0.1:50051)")


def build_server(
    listen: str,
    factory: sessionmaker[Session],
    box: SecretBox,
    on_change: Callable[[], None] = lambda: None,
    max_workers: int = 16,
    security: ServerSecurity | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> tuple[grpc.Server, int]:
    """Returns a not yet started grpc.Server bound to `listen` (host:port; port 0 = any free port) and the bound port.

    Registers ClusterLinkService, gRPC health checking (grpc.health.v1; the
    overall "" service and "clusterlink.v1.ClusterLinkService" are SERVING)
    and server reflection. `on_change()` is called after every committed
    change. The health servicer is reachable as `server.clusterlink_health`
    (e.g. to `enter_graceful_shutdown()` before stopping). A request larger
    than `max_request_bytes` is refused by gRPC with RESOURCE_EXHAUSTED.
    """
    _check_listen(listen)
    security = security or ServerSecurity()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="clusterlink-api"),
        options=[
            # Without this, Linux lets a second service bind the same port and share its traffic.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", max_request_bytes),
        ],
        interceptors=[*security.interceptors(), DecodeRequests()],
    )
    pb_grpc.add_ClusterLinkServiceServicer_to_server(ClusterLinkServicer(factory, box, on_change), server)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        credentials = security.credentials()
        if credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        raise BindError(f"{exc} (is the address in use, or not host:port?)") from exc
    if port == 0:
        raise BindError("the address is in use or not valid (use host:port, port 0 for any free port)")
    try:
        server.clusterlink_health = health_servicer  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - grpc.Server without a __dict__
        pass
    log.info("gRPC API bound to %s (port %d)", listen, port)
    return server, port
