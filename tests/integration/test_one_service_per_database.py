"""Two services on one database would be two writers per mirror partition: the second is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures.service import Service

pytestmark = pytest.mark.integration


def _second_serve(db_url: str, workdir) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterlink.cli.main", "serve", "--listen", "127.0.0.1:0", "--db", db_url,
         "--metrics-listen", "off", "--secret-key-file", str(workdir / "secret.key")],
        capture_output=True, text=True, timeout=60,
    )


def test_a_second_service_on_the_same_database_is_refused_until_the_first_dies(fresh_database_url, tmp_path):
    first = Service(db_url=fresh_database_url, workdir=tmp_path / "a").start()
    try:
        second = _second_serve(fresh_database_url, tmp_path / "a")
        assert second.returncode == 1
        assert "another clusterlink serve is using" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()  # kill -9: the lock must go with the process
    again = Service(db_url=fresh_database_url, workdir=tmp_path / "a").start()
    again.stop()
