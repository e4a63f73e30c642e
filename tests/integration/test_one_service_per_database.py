"""SQLite holds one replica; a second one is refused and told to use PostgreSQL."""

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


def test_a_second_replica_on_sqlite_is_refused_until_the_first_dies(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'clusterlink.db'}"
    first = Service(db_url=db_url, workdir=tmp_path / "a").start()
    try:
        second = _second_serve(db_url, tmp_path / "a")
        assert second.returncode == 1
        assert "another clusterlink serve is using" in second.stderr
        assert "SQLite holds one replica" in second.stderr and "PostgreSQL" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()  # kill -9: the lock must go with the process
    again = Service(db_url=db_url, workdir=tmp_path / "a").start()
    again.stop()


def test_a_bad_replica_id_is_refused_with_a_clear_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "clusterlink.cli.main", "serve", "--listen", "127.0.0.1:0",
         "--db", f"sqlite:///{tmp_path / 'x.db'}", "--metrics-listen", "off",
         "--secret-key-file", str(tmp_path / "secret.key"), "--replica-id", "no spaces/please"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "replica" in done.stderr.lower()
    assert "Traceback" not in done.stderr
