"""Fixtures for the Terraform provider tests: one service on SQLite, Terraform work dirs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.fixtures.service import Service
from tests.terraform.tfrun import TerraformRunner, dev_overrides_config, provider_dir


@pytest.fixture(scope="session")
def terraform_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A `clusterlink serve` on SQLite for the whole session (not the parametrized `service`:
    the provider is a thin client, one database kind is enough)."""
    folder = tmp_path_factory.mktemp("terraform-service")
    svc = Service(db_url=f"sqlite:///{folder}/clusterlink.db", workdir=folder / "service").start()
    yield svc
    svc.stop()


TerraformFactory = Callable[..., TerraformRunner]


@pytest.fixture
def terraform(tmp_path: Path) -> TerraformFactory:
    """`terraform(name="work", cli_config=None, env=None)`: a TerraformRunner in a fresh folder,
    by default using this environment's provider through `dev_overrides` (no init)."""

    def make(
        name: str = "work", cli_config: str | None = None, env: Mapping[str, str | None] | None = None
    ) -> TerraformRunner:
        return TerraformRunner(tmp_path / name, cli_config or dev_overrides_config(provider_dir()), env=env)

    return make
