"""One service per database: each mirror topic must have exactly one writer.

`clusterlink serve` holds an exclusive lock for its whole life: a PostgreSQL
session-level advisory lock, or an flock beside the SQLite file. Both vanish
with the process (kill -9 included), so a restart never waits for a stale lock.

A lock alone does not stop a process that was frozen (SIGSTOP, a VM pause)
while its lock session was ended: when it wakes it still has pooled
connections. So the lock holder also claims the database with a fresh owner
token (`claim`), ends the sessions the previous owner left, and every write
transaction checks the token (store.db.transaction): the woken process's
writes are refused, and it stops.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from clusterlink.store.db import APPLICATION_NAME, normalize_url
from clusterlink.store.models import ServiceOwner, utcnow

# An arbitrary, fixed 64-bit key: "clusterlink serve".
_ADVISORY_KEY = 0x636C7573746572


class DatabaseInUseError(RuntimeError):
    pass


@dataclass(frozen=True)
class DatabaseLock:
    release: Callable[[], None]
    # False once the lock may have been lost (its PostgreSQL session ended):
    # the service must stop, as another one may take over the mirrors.
    alive: Callable[[], bool] = lambda: True
    # The PostgreSQL backend holding the lock (None for SQLite).
    backend_pid: int | None = None


def hold_database(url: str) -> DatabaseLock:
    """Takes the lock or raises DatabaseInUseError."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _hold_sqlite(make_url(url).database or "")
    return _hold_postgres(url)


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
            f"another clusterlink serve is using {database}; run one service per database"
        ) from None
    return DatabaseLock(release=lambda: os.close(fd))


def _hold_postgres(url: str) -> DatabaseLock:
    engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": APPLICATION_NAME})
    conn = engine.connect()
    got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}).scalar()
    backend_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    conn.commit()
    if not got:
        conn.close()
        engine.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseInUseError(f"another clusterlink serve is using {shown}; run one service per database")

    def release() -> None:
        conn.close()
        engine.dispose()

    def alive() -> bool:
        try:
            conn.execute(text("SELECT 1")).scalar()
            conn.commit()
        except Exception:  # noqa: BLE001 - any failure means the session, and the lock, may be gone
            return False
        return True

    return DatabaseLock(release=release, alive=alive, backend_pid=backend_pid)


def claim(engine: Engine, lock: DatabaseLock) -> str:
    """Makes this process the database's owner; returns its token.

    Call it once, holding the lock, before anything writes. On PostgreSQL it
    first ends every other session of a serve on this database: only a
    previous owner that lost its lock can have one.
    """
    token = secrets.token_hex(16)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND application_name = :name "
                     "AND pid <> pg_backend_pid() AND pid <> :lock_pid"),
                {"name": APPLICATION_NAME, "lock_pid": lock.backend_pid or 0},
            )
        table = ServiceOwner.__table__
        updated = conn.execute(table.update().where(table.c.id == 1).values(token=token, claim_time=utcnow()))
        if updated.rowcount == 0:
            conn.execute(table.insert().values(id=1, token=token, claim_time=utcnow()))
    return token


def still_owner(engine: Engine, token: str) -> bool:
    with engine.connect() as conn:
        table = ServiceOwner.__table__
        return conn.execute(table.select().where(table.c.id == 1, table.c.token == token)).first() is not None
