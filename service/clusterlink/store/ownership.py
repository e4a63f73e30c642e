"""One service per database: each mirror topic must have exactly one writer.

`clusterlink serve` holds an exclusive lock for its whole life: a PostgreSQL
session-level advisory lock, or an flock beside the SQLite file. Both vanish
with the process (kill -9 included), so a restart never waits for a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from clusterlink.store.db import normalize_url

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
    engine = create_engine(url, poolclass=NullPool)
    conn = engine.connect()
    got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}).scalar()
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

    return DatabaseLock(release=release, alive=alive)
