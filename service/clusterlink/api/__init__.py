"""The gRPC API: validates requests and writes desired state to the store (never talks to Kafka)."""

from clusterlink.api.server import build_server

__all__ = ["build_server"]
