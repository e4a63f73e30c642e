"""Database engine, sessions and schema upgrades."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from clusterlink.store.models import ServiceOwner

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def default_url() -> str:
    data = Path(platformdirs.user_data_dir("clusterlink"))
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'clusterlink.db'}"


def normalize_url(url: str) -> str:
    # Users write postgresql://; SQLAlchemy would pick psycopg2, we ship psycopg 3.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets the API read while a worker writes; FULL sync and
            # foreign keys keep the file whole across kill -9 and power loss.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # The application name tells an operator which sessions are ClusterLink's.
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size,
                         connect_args={"application_name": APPLICATION_NAME})


APPLICATION_NAME = "clusterlink-serve"


def upgrade(url: str) -> None:
    """Brings the schema to the newest Alembic revision.

    Replicas that start together on one PostgreSQL database take turns: an
    advisory lock held for the upgrade makes the later ones find it done.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    url = normalize_url(url)
    if url.startswith("sqlite"):
        command.upgrade(cfg, "head")
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _UPGRADE_LOCK})
            try:
                command.upgrade(cfg, "head")
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _UPGRADE_LOCK})
    finally:
        engine.dispose()


# An arbitrary, fixed 64-bit key: "clusterlink schema".
_UPGRADE_LOCK = 0x636C5F736368


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class OwnershipLost(RuntimeError):
    """Another serve process owns the database now: this one must not write."""


def owned_session_factory(engine: Engine, token: str) -> sessionmaker[Session]:
    """Sessions whose write transactions first check that `token` still owns the database."""
    return sessionmaker(engine, expire_on_commit=False, info={OWNER_TOKEN: token})


OWNER_TOKEN = "clusterlink.owner_token"


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits at the end, rolls back whole on any error.

    With an owner token (a serving process), the transaction first checks
    that the token still owns the database, and refuses to write if not.
    """
    with factory() as session:
        with session.begin():
            token = session.info.get(OWNER_TOKEN)
            if token is not None:
                owner = session.get(ServiceOwner, 1)
                if owner is None or owner.token != token:
                    raise OwnershipLost("another clusterlink serve owns the database now; this one stops")
            yield session
