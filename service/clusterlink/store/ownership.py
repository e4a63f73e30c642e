"""One service per database: each mirror topic must have exactly one writer.

`clusterlink serve` holds an exclusive lock for its whole life: a PostgreSQL
session-level advisory lock, or an flock beside the SQLite file. Both vanish
with the process (kill -9 included), so a restart never waits for a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from clusterlink.store.db import normalize_url

# An arbitrary, fixed 64-bit key: "clusterlink serve".
_ADVISORY_KEY = 0x636C7573746572


class DatabaseInUseError(RuntimeError):
    pass


def hold_database(url: str) -> Callable[[], None]:
    """Takes the lock or raises DatabaseInUseError; returns the function that releases it."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _hold_sqlite(make_url(url).database or "")
    return _hold_postgres(url)


def _hold_sqlite(database: str) -> Callable[[], None]:
    if not database or database == ":memory:":
        return lambda: None
    lock_path = Path(database + ".serve.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUseError(
            f"another clusterlink serve is using {database}; run one service per database"
        ) from None
    return lambda: os.close(fd)


def _hold_postgres(url: str) -> Callable[[], None]:
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

    return release
