"""Several replicas of the service on one PostgreSQL share a link through Kafka's group protocol.

Every test runs real `clusterlink serve` processes on one real PostgreSQL
database, with live traffic on a real source cluster, and ends with the
check that matters: the mirror equals the source record by record, at the
same offsets, with nothing lost or doubled.
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.postgres import new_database
from tests.fixtures.service import Service, wait_for
from tests.integration.test_broker_faults import StateWatch
from tests.integration.kafka_io import caught_up, create_link, create_mirror, create_topic, produce, read_all, unique

pytestmark = pytest.mark.integration

PARTITIONS = 12
# Short, so that a dead replica's partitions move quickly in the tests.
SESSION_MS = 6000


@pytest.fixture
def source(kafka_source) -> str:  # type: ignore[no-untyped-def]
    return kafka_source.bootstrap


@pytest.fixture
def destination(kafka_destination) -> str:  # type: ignore[no-untyped-def]
    return kafka_destination.bootstrap


@pytest.fixture
def shared_db(postgres_url: str) -> str:
    return new_database(postgres_url, f"cl_{uuid.uuid4().hex[:12]}")


class Replicas:
    """Replicas of one deployment: one database, one secret key, one group prefix."""

    def __init__(self, db_url: str, workdir: Path):
        self.db_url = db_url
        self.workdir = workdir
        self.prefix = f"clusterlink-test-{uuid.uuid4().hex[:6]}."
        self.running: dict[str, Service] = {}

    def start(self, replica_id: str) -> Service:
        service = Service(db_url=self.db_url, workdir=self.workdir, extra_args=[
            "--replica-id", replica_id, "--replica-group-prefix", self.prefix,
            "--replica-session-timeout-ms", str(SESSION_MS)]).start()
        self.running[replica_id] = service
        return service

    def any(self) -> Service:
        return next(s for s in self.running.values() if s.process and s.process.poll() is None)

    def close(self) -> None:
        for service in self.running.values():
            if service.process and service.process.poll() is None:
                service.process.send_signal(signal.SIGCONT)  # a frozen one cannot stop otherwise
            service.kill()


@pytest.fixture
def replicas(shared_db: str, tmp_path: Path) -> Iterator[Replicas]:
    group = Replicas(shared_db, tmp_path / "deployment")
    yield group
    group.close()


class Traffic:
    """Live writes to the source while replicas come and go."""

    def __init__(self, source: str, topic: str):
        self.source, self.topic = source, topic
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            produce(self.source, self.topic, 240, PARTITIONS, start=self.sent)
            self.sent += 240
            self._stop.wait(0.05)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def owners(service: Service, mirror: str) -> dict[int, str]:
    """Partition -> the replica its status names."""
    m = service.stub().GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror))
    return {p.partition: p.replica.removeprefix("replicas/") for p in m.partitions}


def shares(service: Service) -> dict[str, float]:
    """What the replica's own metrics say it copies, per link."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "clusterlink_replica_partitions":
            for sample in family.samples:
                out[sample.labels["link"]] = sample.value
    return out


def counter(service: Service, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10).read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def assert_identical(source: str, destination: str, topic: str) -> None:
    src = read_all(source, topic, PARTITIONS)
    dst = read_all(destination, topic, PARTITIONS)
    assert len(dst) == len(src)
    assert dst == src  # same partitions, offsets, keys, values, headers and timestamps


def start_mirror(service: Service, source: str, destination: str) -> tuple[str, str, str]:
    topic = unique("shared")
    create_topic(source, topic, PARTITIONS)
    produce(source, topic, 600, PARTITIONS)
    link = create_link(service.stub(), source, destination)
    return topic, link, create_mirror(service.stub(), link, topic)


def test_three_replicas_spread_a_link_and_mirror_it_exactly(replicas, source, destination):
    for rid in ("r1", "r2", "r3"):
        replicas.start(rid)
    api = replicas.running["r2"]
    topic, link, mirror = start_mirror(api, source, destination)
    with Traffic(source, topic):
        spread = wait_for("the partitions to spread over the three replicas",
                          lambda: (o := owners(api, mirror)) and len(o) == PARTITIONS
                          and set(o.values()) == {"r1", "r2", "r3"} and o, timeout=90)
    # Each replica copies a share; none copies all.
    assert all(0 < list(spread.values()).count(r) < PARTITIONS for r in ("r1", "r2", "r3"))
    # Every replica answers the API, and the listing shows each one's share of the link.
    listed = {r.replica_id: r for r in replicas.running["r3"].stub().ListReplicas(pb.ListReplicasRequest()).replicas}
    assert set(listed) == {"r1", "r2", "r3"}
    wait_for("each replica's heartbeat to report its share", lambda: sum(
        lk.partitions for r in replicas.running["r1"].stub().ListReplicas(pb.ListReplicasRequest()).replicas
        for lk in r.links) == PARTITIONS, timeout=30)
    # One replica runs the link's control work (during a rebalance, briefly none).
    wait_for("one replica to report the control work", lambda: [
        r.replica_id for r in replicas.running["r1"].stub().ListReplicas(pb.ListReplicasRequest()).replicas
        if any(lk.control for lk in r.links)] in (["r1"], ["r2"], ["r3"]), timeout=30)
    wait_for("the mirror to catch up", lambda: caught_up(api.stub(), mirror, source, topic, PARTITIONS),
             timeout=120)
    assert_identical(source, destination, topic)


def test_a_killed_replicas_partitions_move_and_nothing_is_lost_or_doubled(replicas, source,
                                                                         destination):
    for rid in ("r1", "r2", "r3"):
        replicas.start(rid)
    api = replicas.running["r1"]
    topic, link, mirror = start_mirror(api, source, destination)
    with Traffic(source, topic):
        wait_for("the partitions to spread", lambda: set(owners(api, mirror).values()) == {"r1", "r2", "r3"},
                 timeout=90)
        victim = "r3"
        replicas.running[victim].kill()  # kill -9: it never leaves its groups
        killed_at = time.monotonic()
        moved = wait_for("the killed replica's partitions to move to the others",
                         lambda: (o := owners(api, mirror)) and victim not in o.values() and o, timeout=90)
        took = time.monotonic() - killed_at
    assert set(moved.values()) <= {"r1", "r2"}
    print(f"partitions of the killed replica moved in {took:.1f} s (session timeout {SESSION_MS / 1000:.0f} s)")
    wait_for("the mirror to catch up", lambda: caught_up(api.stub(), mirror, source, topic, PARTITIONS),
             timeout=120)
    assert_identical(source, destination, topic)


def test_a_replica_that_joins_takes_over_part_of_the_work(replicas, source, destination):
    first = replicas.start("r1")
    topic, link, mirror = start_mirror(first, source, destination)
    wait_for("r1 to copy every partition",
             lambda: (o := owners(first, mirror)) and len(o) == PARTITIONS and set(o.values()) == {"r1"},
             timeout=90)
    with Traffic(source, topic):
        second = replicas.start("r2")
        wait_for("the new replica to take over partitions",
                 lambda: set(owners(first, mirror).values()) == {"r1", "r2"}, timeout=90)
        wait_for("the new replica's metrics to show its share", lambda: shares(second).get(link, 0) > 0,
                 timeout=30)
    wait_for("the mirror to catch up", lambda: caught_up(second.stub(), mirror, source, topic, PARTITIONS),
             timeout=120)
    assert_identical(source, destination, topic)


class ProgressWatch(StateWatch):
    """Also remembers when a partition's stored mirror end offset went backwards (a stale status write)."""

    def __init__(self, stub, name: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(stub, name)
        self.last: dict[int, int] = {}
        self.backwards: list[str] = []

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                m = self.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=self.name), timeout=5)
            except Exception:  # noqa: BLE001 - busy: look again
                continue
            state = pb.MirrorTopic.State.Name(m.state)
            self.seen.add(state)
            if state == "FAILED":
                self.reasons.append(m.reason)
            for p in m.partitions:
                before = self.last.get(p.partition, -1)
                if p.mirror_end_offset < before:
                    self.backwards.append(f"partition {p.partition}: {before} -> {p.mirror_end_offset} "
                                          f"({p.replica})")
                self.last[p.partition] = p.mirror_end_offset


def test_a_frozen_replica_writes_nothing_that_lands(replicas, source, destination):
    """r1 sleeps (SIGSTOP) past the session timeout with fetched batches queued; r2 takes its
    partitions and writes further. When r1 wakes, its queued writes are either never sent
    (its membership is not proven) or refused by the broker's sequence check, and its
    stale statuses are never written: offsets never shift, progress never goes back."""
    frozen, other = replicas.start("r1"), replicas.start("r2")
    topic, link, mirror = start_mirror(other, source, destination)
    wait_for("both replicas to copy", lambda: set(owners(other, mirror).values()) == {"r1", "r2"}, timeout=90)
    with ProgressWatch(other.stub(), mirror) as watch, Traffic(source, topic):
        assert frozen.process is not None
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            # r1's partitions move to r2 while r1 sleeps with its queued writes...
            wait_for("r2 to copy every partition", lambda: set(owners(other, mirror).values()) == {"r2"},
                     timeout=90)
            sent = counter(other, "clusterlink_mirrored_records_total")
            wait_for("r2 to write past where r1 stopped", lambda: counter(
                other, "clusterlink_mirrored_records_total") > sent + 2000, timeout=60)
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        # ...and once awake, r1 learns it lost them and joins again, with traffic still flowing.
        wait_for("r1 to copy again", lambda: set(owners(other, mirror).values()) == {"r1", "r2"}, timeout=90)
    wait_for("the mirror to catch up", lambda: caught_up(other.stub(), mirror, source, topic, PARTITIONS),
             timeout=120)
    assert "FAILED" not in watch.seen, watch.reasons
    assert not watch.backwards, watch.backwards[:5]
    assert frozen.process.poll() is None, "a woken replica keeps serving"
    assert_identical(source, destination, topic)


def test_promotion_and_link_tasks_run_on_exactly_one_of_three_replicas(replicas, source, destination):
    for rid in ("r1", "r2", "r3"):
        replicas.start(rid)
    api = replicas.running["r1"]
    topic = unique("promote")
    create_topic(source, topic, PARTITIONS)
    produce(source, topic, 600, PARTITIONS)
    link = create_link(api.stub(), source, destination, {
        "consumer.offset.sync.enable": "true", "consumer.offset.sync.ms": "1000",
        "consumer.offset.group.filters": '{"groupFilters": [{"name": "*", "patternType": "LITERAL", '
                                         '"filterType": "INCLUDE"}]}'})
    mirror = create_mirror(api.stub(), link, topic)
    wait_for("the partitions to spread", lambda: set(owners(api, mirror).values()) == {"r1", "r2", "r3"},
             timeout=90)
    wait_for("the mirror to catch up", lambda: caught_up(api.stub(), mirror, source, topic, PARTITIONS),
             timeout=120)
    def task_runs() -> dict[str, float]:
        return {rid: counter(s, "clusterlink_link_task_runs_total", link=link) for rid, s in replicas.running.items()}

    # While the group settled, the control work may have moved once; from now on
    # the group is stable, and the task must run on one replica only.
    before = task_runs()
    runs = wait_for("the offset sync to run a few times", lambda: (r := task_runs())
                    and sum(r.values()) >= sum(before.values()) + 3 and r, timeout=60)
    runners = [rid for rid in runs if runs[rid] > before[rid]]
    assert len(runners) == 1, (before, runs)
    tasks = {t.name: t for t in api.stub().GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks}
    assert tasks["ConsumerOffsetSync"].replica == f"replicas/{runners[0]}"

    api.stub().PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=mirror))
    wait_for("the mirror to be promoted", lambda: api.stub().GetMirrorTopic(
        pb.GetMirrorTopicRequest(name=mirror)).state == pb.MirrorTopic.PROMOTED, timeout=90)
    # No replica copies it any more, and the destination holds exactly the source.
    wait_for("every replica to stop copying the promoted mirror",
             lambda: all(shares(s).get(link, 0) == 0 for s in replicas.running.values()), timeout=60)
    assert_identical(source, destination, topic)


def test_a_replica_that_loses_the_database_stops_copying_and_its_partitions_move(
        replicas, postgres_url, source, destination):
    import psycopg

    # Each replica logs in as its own role, so one of them can lose the database alone.
    admin_url = postgres_url
    roles = {rid: f"cl_{rid}_{uuid.uuid4().hex[:6]}" for rid in ("r1", "r2")}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in roles.values():
            conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
    base = replicas.db_url.split("://", 1)[1].split("@", 1)[1]
    for rid, role in roles.items():
        replicas.db_url = f"postgresql://{role}@{base}"
        replicas.start(rid)
    cut, keeper = replicas.running["r1"], replicas.running["r2"]
    topic, link, mirror = start_mirror(keeper, source, destination)
    wait_for("both replicas to copy", lambda: set(owners(keeper, mirror).values()) == {"r1", "r2"}, timeout=90)
    with Traffic(source, topic):
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {roles['r1']} NOLOGIN")
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                         (roles["r1"],))
        try:
            # r1 can no longer record progress: it stops and leaves its groups, and r2 takes over.
            wait_for("r2 to copy every partition", lambda: set(owners(keeper, mirror).values()) == {"r2"},
                     timeout=90)
            wait_for("r1 to copy nothing", lambda: shares(cut).get(link, 0) == 0, timeout=30)
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"ALTER ROLE {roles['r1']} LOGIN")
        wait_for("r1 to copy again once the database is back",
                 lambda: set(owners(keeper, mirror).values()) == {"r1", "r2"}, timeout=90)
    wait_for("the mirror to catch up", lambda: caught_up(keeper.stub(), mirror, source, topic, PARTITIONS),
             timeout=120)
    assert_identical(source, destination, topic)


def test_two_replicas_copying_the_same_partitions_at_once_never_shift_an_offset(shared_db, tmp_path, source,
                                                                                 destination):
    """The worst case of a rebalance, held on purpose: two replicas in different groups (two
    deployments on one database by mistake) both own and copy every partition. Each batch is
    written under the mirror's one producer id with sequence = destination offset, so the
    broker appends whichever copy comes first and refuses or deduplicates the other."""
    a, b = Replicas(shared_db, tmp_path / "d"), Replicas(shared_db, tmp_path / "d")
    try:
        first, second = a.start("a1"), b.start("b1")
        topic = unique("twice")
        create_topic(source, topic, PARTITIONS)
        produce(source, topic, 20000, PARTITIONS)
        link = create_link(first.stub(), source, destination)
        mirror = create_mirror(first.stub(), link, topic)
        with Traffic(source, topic):
            wait_for("both to copy every partition", lambda: shares(first).get(link, 0) == PARTITIONS
                     and shares(second).get(link, 0) == PARTITIONS, timeout=90)
            wait_for("both to write", lambda: counter(first, "clusterlink_mirrored_records_total") > 0
                     and counter(second, "clusterlink_mirrored_records_total") > 0, timeout=90)
        wait_for("the mirror to catch up", lambda: caught_up(first.stub(), mirror, source, topic, PARTITIONS),
                 timeout=120)
        fenced = sum(counter(s, "clusterlink_fenced_writes_total") for s in (first, second))
        print(f"writes refused as out of sequence: {fenced:.0f}")
        assert first.stub().GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror)).state == pb.MirrorTopic.ACTIVE
        assert_identical(source, destination, topic)
    finally:
        a.close()
        b.close()
