"""ListReplicas: the serve processes sharing the database, as store.replicas keeps them.

Read-only and never paged: there is one row per running replica, a handful
at most.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from clusterlink.api import convert
from clusterlink.store import replicas
from clusterlink.v1 import clusterlink_pb2 as pb


def list_replicas(factory: sessionmaker[Session]) -> pb.ListReplicasResponse:
    return pb.ListReplicasResponse(replicas=[convert.replica_to_pb(row) for row in replicas.list_replicas(factory)])
