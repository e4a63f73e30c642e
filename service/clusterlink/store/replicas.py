"""The replicas sharing one database: who is there, where it listens, what it owns.

Each `clusterlink serve --replica-id ID` registers itself at start, heartbeats
with what it owns, and unregisters at a clean stop. A replica that dies
without unregistering is removed by the heartbeat of any other replica once
its own heartbeat is older than PRUNE_AFTER, so the list settles by itself.

This is bookkeeping for people and for the API (ListReplicas): which replica
copies a partition is decided elsewhere, never from these rows.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.store.db import transaction
from clusterlink.store.models import Replica, utcnow

Factory = sessionmaker[Session]

# Far longer than any heartbeat interval or clock skew between hosts: a row
# this old belongs to a replica that is gone, not one that is slow.
PRUNE_AFTER = dt.timedelta(minutes=10)

REPLICA_ID_MAX_LEN = 255
_REPLICA_ID = re.compile(r"[A-Za-z0-9._:-]{1,%d}" % REPLICA_ID_MAX_LEN)
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._:-]")


@dataclass(frozen=True)
class ReplicaRow:
    replica_id: str
    address: str
    start_time: dt.datetime
    heartbeat_time: dt.datetime
    # {link name: {"partitions": int, "control": bool}}; {} when none.
    # partitions -1: every partition of the link (a replica alone owns it all).
    owned: dict[str, dict[str, Any]]


# --------------------------------------------------------------------------- ids


def validate_replica_id(value: str) -> str:
    """`value` when it is a valid replica id; else ValueError saying what is allowed."""
    if _REPLICA_ID.fullmatch(value) is not None:
        return value
    if not value:
        problem = "is empty"
    elif len(value) > REPLICA_ID_MAX_LEN:
        problem = f"is {len(value)} characters long"
    else:
        problem = "contains characters that are not allowed"
    shown = ascii(value[:64]) + ("..." if len(value) > 64 else "")
    raise ValueError(
        f"replica id {shown} {problem}: use 1 to {REPLICA_ID_MAX_LEN} of the characters "
        "A-Z a-z 0-9 . _ : - (e.g. a pod name, or host-pid)"
    )


def default_replica_id() -> str:
    """`{hostname}-{pid}`, with characters a replica id cannot hold replaced by '-'.

    The host part is shortened, never the pid, so that two processes on one
    host keep distinct ids.
    """
    suffix = f"-{os.getpid()}"
    host = _NOT_ALLOWED.sub("-", socket.gethostname()) or "localhost"
    return validate_replica_id(host[: REPLICA_ID_MAX_LEN - len(suffix)] + suffix)


# --------------------------------------------------------------------------- writes


def _upsert(session: Session, values: dict[str, Any], update: tuple[str, ...]) -> None:
    """INSERT ... ON CONFLICT (id) DO UPDATE the `update` columns, in the database's own dialect.

    One statement, so two processes writing the same id never fail on the
    primary key the way a SELECT followed by an INSERT could.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(Replica).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(Replica).values(**values)
    else:
        raise NotImplementedError(f"no replica upsert for database dialect {dialect!r}")
    excluded = stmt.excluded
    session.execute(stmt.on_conflict_do_update(index_elements=[Replica.id],
                                               set_={name: excluded[name] for name in update}))


def register(factory: Factory, replica_id: str, address: str) -> None:
    """Records a replica as started now, owning nothing yet (a restart under the same id starts afresh)."""
    now = utcnow()
    with transaction(factory) as session:
        _upsert(
            session,
            {"id": validate_replica_id(replica_id), "address": address, "start_time": now,
             "heartbeat_time": now, "owned": {}},
            ("address", "start_time", "heartbeat_time", "owned"),
        )


def heartbeat(factory: Factory, replica_id: str, owned: dict[str, dict[str, Any]]) -> None:
    """Records that `replica_id` is alive and owns `owned`; removes other replicas silent for PRUNE_AFTER.

    A replica that was itself pruned (frozen for longer than PRUNE_AFTER)
    comes back with this call, with its start time set to now and an empty
    address until it registers again.
    """
    now = utcnow()
    owned_json = {str(link): dict(what) for link, what in owned.items()}
    with transaction(factory) as session:
        _upsert(
            session,
            {"id": validate_replica_id(replica_id), "address": "", "start_time": now,
             "heartbeat_time": now, "owned": owned_json},
            ("heartbeat_time", "owned"),
        )
        # SKIP LOCKED (PostgreSQL; SQLite has one writer at a time anyway): a
        # row locked now is being heartbeated by its replica, so it is not
        # stale, and two replicas pruning each other never deadlock.
        stale = session.scalars(
            select(Replica.id)
            .where(Replica.id != replica_id, Replica.heartbeat_time < now - PRUNE_AFTER)
            .with_for_update(skip_locked=True)
        ).all()
        if stale:
            session.execute(delete(Replica).where(Replica.id.in_(stale)))


def unregister(factory: Factory, replica_id: str) -> None:
    """Removes a replica's row (a clean stop); nothing happens when it is not there."""
    with transaction(factory) as session:
        session.execute(delete(Replica).where(Replica.id == replica_id))


# --------------------------------------------------------------------------- reads


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def list_replicas(factory: Factory) -> list[ReplicaRow]:
    """Every registered replica, ordered by id."""
    with factory() as session:
        rows = session.scalars(select(Replica).order_by(Replica.id)).all()
        return [
            ReplicaRow(
                replica_id=row.id,
                address=row.address or "",
                start_time=_aware(row.start_time),
                heartbeat_time=_aware(row.heartbeat_time),
                owned={str(link): dict(what) for link, what in (row.owned or {}).items() if isinstance(what, dict)},
            )
            for row in rows
        ]
