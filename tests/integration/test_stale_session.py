"""A frozen `serve` that lost its PostgreSQL lock wakes up next to the one that took over.

`serve` A is frozen (SIGSTOP) while it mirrors under live traffic, its
advisory-lock session is terminated, and `serve` B takes the lock and mirrors
further. Then A resumes: its data path still holds batches fetched before the
freeze and writes them at the offsets it knew. The broker's sequence check
(the link's producer id, sequence = destination offset) refuses or
deduplicates every such write, A exits with status 1 on its lost lock, and
the mirror stays identical to the source and never goes FAILED.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.postgres import new_database, postgres_bin
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_link, create_mirror, create_topic, end_offsets, read_all, unique
from tests.integration.test_broker_faults import StateWatch
from tests.integration.test_crash_and_outage import LiveTraffic, _mirrored
from tests.integration.test_inflight_race import refused_writes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL (apt-get install -y postgresql)"),
]

PARTITIONS = 3
LOST_LOCK = "lost the exclusive lock on the database"


class ProgressWatch(StateWatch):
    """StateWatch that also remembers when a partition's stored mirror end offset went backwards."""

    def __init__(self, stub, name: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(stub, name)
        self.last: dict[int, int] = {}
        self.backwards: list[str] = []

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                m = self.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=self.name), timeout=5)
            except Exception:  # noqa: BLE001 - the service is busy or frozen: look again
                continue
            state = pb.MirrorTopic.State.Name(m.state)
            self.seen.add(state)
            if state == "FAILED":
                self.reasons.append(m.reason)
            for p in m.partitions:
                before = self.last.get(p.partition, -1)
                if p.mirror_end_offset < before:
                    self.backwards.append(f"{time.strftime('%H:%M:%S')} partition {p.partition}: "
                                          f"{before} -> {p.mirror_end_offset} ({state})")
                self.last[p.partition] = p.mirror_end_offset


def _lock_holders(admin_url: str, dbname: str) -> list[int]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s", (dbname,)).fetchall()]


def _terminate(admin_url: str, pid: int) -> bool:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        return bool(conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0])


def test_a_frozen_service_that_lost_its_lock_writes_nothing_when_it_wakes(postgres_url, tmp_path,
                                                                          kafka_cluster_factory):
    source, destination = kafka_cluster_factory(nodes=1), kafka_cluster_factory(nodes=1)
    db_url = new_database(postgres_url, f"cl_{uuid.uuid4().hex[:12]}")
    dbname = db_url.rsplit("/", 1)[1]
    workdir = tmp_path / "svc"  # the same secret key file for A and B
    a = Service(db_url=db_url, workdir=workdir).start()
    b: Service | None = None
    frozen = False
    try:
        stub = a.stub()
        topic = unique("stale")
        create_topic(source.bootstrap, topic, PARTITIONS)
        link = create_link(stub, source.bootstrap, destination.bootstrap,
                           config={"source.request.timeout.ms": "2000", "destination.request.timeout.ms": "5000"})
        name = create_mirror(stub, link, topic)
        with ProgressWatch(stub, name) as watch, LiveTraffic(source.bootstrap, topic, PARTITIONS) as traffic:
            wait_for("A mirroring", lambda: _mirrored(stub, name) > 2000, timeout=120)
            floor = _mirrored(stub, name)
            wait_for("A still mirroring", lambda: _mirrored(stub, name) > floor + 500, timeout=60)

            assert a.process is not None
            a.process.send_signal(signal.SIGSTOP)
            frozen = True
            holders = _lock_holders(postgres_url, dbname)
            assert len(holders) == 1, holders
            assert _terminate(postgres_url, holders[0])
            wait_for("A's lock session gone", lambda: not _lock_holders(postgres_url, dbname), timeout=30)
            # What A wrote: its last requests were already sent and the broker is not frozen.
            a_wrote = sum(hi for _lo, hi in end_offsets(destination.bootstrap, topic, PARTITIONS).values())

            b = Service(db_url=db_url, workdir=workdir).start()
            stub = watch.stub = b.stub()
            wait_for("B mirroring beyond A", lambda: _mirrored(stub, name) > a_wrote + 2000, timeout=120)
            assert _lock_holders(postgres_url, dbname) != []

            fenced_before = len(refused_writes(destination, topic))
            resumed = time.monotonic()
            a.process.send_signal(signal.SIGCONT)
            frozen = False
            code = wait_for("A to exit", lambda: a.process.poll() is not None and (a.process.returncode,),
                            timeout=60)
            a_exit_seconds = time.monotonic() - resumed
            assert code == (1,)
            wait_for("A's reason in its log", lambda: LOST_LOCK in "".join(a.output), timeout=10)
            fenced = refused_writes(destination, topic)[fenced_before:]
            # B keeps mirroring after A is gone.
            floor = _mirrored(stub, name)
            wait_for("B mirroring after A exited", lambda: _mirrored(stub, name) > floor + 500, timeout=60)
        wait_for("caught up under B", lambda: caught_up(stub, name, source.bootstrap, topic, PARTITIONS),
                 timeout=180)
        src_records = read_all(source.bootstrap, topic, PARTITIONS)
        assert len(src_records) == traffic.sent
        assert read_all(destination.bootstrap, topic, PARTITIONS) == src_records
        assert end_offsets(destination.bootstrap, topic, PARTITIONS) == end_offsets(source.bootstrap, topic, PARTITIONS)
        assert "FAILED" not in watch.seen, watch.reasons
        assert b.process is not None and b.process.poll() is None, "B must keep running"
        print(f"\nA exited {a_exit_seconds:.1f}s after SIGCONT; {traffic.sent} records; states seen "
              f"{sorted(watch.seen)}; {len(fenced)} writes refused by the destination's sequence check "
              "between A's resume and its exit")
        for line in fenced[:10]:
            print("  broker:", line)
        for line in watch.backwards[:10]:
            print("  stored mirror_end_offset went backwards:", line)
        # A's writes to the store are refused too: B's owner token replaced A's, so
        # no stale status (offsets going back, a stale SOURCE_UNAVAILABLE) lands.
        assert not watch.backwards, watch.backwards[:3]
        assert "SOURCE_UNAVAILABLE" not in watch.seen
        for who, svc in (("A", a), ("B", b)):
            for line in svc.output:
                if any(w in line for w in (" WARNING ", " ERROR ", "Traceback", "shutting down", "stopped")):
                    print(f"  {who}:", line.rstrip())
    finally:
        if frozen and a.process is not None:
            a.process.send_signal(signal.SIGCONT)
        a.kill()
        if b is not None:
            b.stop()
