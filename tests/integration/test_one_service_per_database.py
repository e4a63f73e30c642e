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


def test_a_service_that_loses_its_postgresql_lock_stops(postgres_url, tmp_path):
    import uuid

    import psycopg

    from tests.fixtures.postgres import new_database
    from tests.fixtures.service import wait_for

    db_url = new_database(postgres_url, f"cl_{uuid.uuid4().hex[:12]}")
    service = Service(db_url=db_url, workdir=tmp_path / "svc").start()
    try:
        dbname = db_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            # End the session that holds the advisory lock, as a database restart would.
            ended = conn.execute(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND a.datname = %s", (dbname,)).fetchall()
        assert ended == [(True,)]
        code = wait_for("the service to stop", lambda: service.process.poll() is not None and
                        (service.process.returncode,), timeout=60)
        assert code == (1,)
        # The output pump may still be reading the last lines.
        wait_for("the reason in the log", lambda: "lost the exclusive lock on the database" in "".join(service.output),
                 timeout=10)
    finally:
        service.kill()
