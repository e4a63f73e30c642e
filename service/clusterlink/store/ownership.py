"""One process per SQLite database.

SQLite is the one-process default: `clusterlink serve` holds an flock beside
the database file for its whole life, and a second serve is refused with a
message that points to PostgreSQL, where any number of replicas share the
work (replicas.membership). The lock vanishes with the process (kill -9
included), so a restart never waits for a stale lock.

The lock holder also claims the database with a fresh owner token
(`claim`), and every write transaction checks it (store.db.transaction), so
a process that lost the file's lock can never write next to its successor.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from clusterlink.store.db import normalize_url
from clusterlink.store.models import ServiceOwner, utcnow

class DatabaseInUseError(RuntimeError):
    pass


@dataclass(frozen=True)
class DatabaseLock:
    release: Callable[[], None]
    # False once the lock may have been lost: the service must stop.
    alive: Callable[[], bool] = lambda: True


def hold_database(url: str) -> DatabaseLock:
    """Takes the lock on a SQLite database or raises DatabaseInUseError."""
    return _hold_sqlite(make_url(normalize_url(url)).database or "")


def _hold_sqlite(database: str) -> DatabaseLock:
    if not database or database == ":memory:":
        return DatabaseLock(release=lambda: None)
    lock_path = Path(database + ".serve.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUseError(
            f"another clusterlink serve is using {database}: SQLite holds one replica; to run several "
            "replicas, give each the same PostgreSQL database (--db postgresql://USER:PASS@HOST/DB)"
        ) from None
    return DatabaseLock(release=lambda: os.close(fd))


def claim(engine: Engine, lock: DatabaseLock) -> str:
    """Makes this process the database's owner; returns its token.

    Call it once, holding the lock, before anything writes.
    """
    token = secrets.token_hex(16)
    with engine.begin() as conn:
        table = ServiceOwner.__table__
        updated = conn.execute(table.update().where(table.c.id == 1).values(token=token, claim_time=utcnow()))
        if updated.rowcount == 0:
            conn.execute(table.insert().values(id=1, token=token, claim_time=utcnow()))
    return token


def still_owner(engine: Engine, token: str) -> bool:
    with engine.connect() as conn:
        table = ServiceOwner.__table__
        return conn.execute(table.select().where(table.c.id == 1, table.c.token == token)).first() is not None
