"""Shared fixtures: real Kafka clusters, real databases, a real service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.postgres import new_database, postgres_url  # noqa: F401 - a fixture
from tests.fixtures.service import Service

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.secure_kafka"]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every test that uses the service runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/clusterlink.db"
    return new_database(request.getfixturevalue("postgres_url"), f"cl_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def service(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(db_url=database_url, workdir=tmp_path_factory.mktemp("service")).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def service_endpoint(service: Service) -> str:
    return service.endpoint


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory,
                       request: pytest.FixtureRequest) -> str:
    """A database of its own, of the same kind as `database_url`."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/own.db"
    return new_database(request.getfixturevalue("postgres_url"), f"cl_{uuid.uuid4().hex[:12]}")
