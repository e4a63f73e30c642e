"""A real store for the store's unit tests: SQLite, and PostgreSQL when it is installed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.store import db
from tests.fixtures.postgres import new_database, postgres_bin


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed"),
        ),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/clusterlink.db"
    return new_database(request.getfixturevalue("postgres_url"), f"cl_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)
