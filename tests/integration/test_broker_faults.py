"""Broker faults under live traffic, repeated: the mirror recovers by itself, identical.

Each fault runs ROUNDS times in one test on clusters of its own. After each
round the traffic stops, the mirror must be ACTIVE with lag 0, and the
destination must equal the source record by record. A watcher checks that
the mirror never went FAILED in between.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from clusterlink.sandbox.cluster import KafkaCluster, cluster_status, start_node, stop_node
from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_link, create_mirror, create_topic, read_all, unique
from tests.integration.test_crash_and_outage import LiveTraffic as _Unpaced

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("CLUSTERLINK_FAULT_ROUNDS", "10"))
PARTITIONS = 3
# How long a frozen broker stays frozen: the shape of the fault, not a wait
# for anything (longer than the link's source timeout below).
FREEZE_SECONDS = 3.0


class LiveTraffic(_Unpaced):
    """Live traffic at about 1,000 records/s, so the topic stays small enough
    to compare record by record after each of many rounds."""

    def _run(self) -> None:
        i = 0
        while not self.stop.wait(0.05):
            for _ in range(50):
                self.producer.produce(self.topic, value=f"live-{i}".encode(), key=str(i).encode(),
                                      partition=i % self.partitions, headers=[("i", str(i).encode())])
                i += 1
            self.producer.flush(30)
            self.sent = i


def _pid(cluster: KafkaCluster) -> int:
    (node,) = cluster_status(cluster.folder).nodes
    assert node.pid is not None
    return node.pid


def _hold(seconds: float) -> None:
    threading.Event().wait(seconds)


class StateWatch:
    """Polls the mirror's state in the background and remembers every state seen."""

    def __init__(self, stub, name: str) -> None:  # type: ignore[no-untyped-def]
        self.stub, self.name = stub, name
        self.seen: set[str] = set()
        self.reasons: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                m = self.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=self.name), timeout=5)
            except Exception:  # noqa: BLE001 - the service is busy: look again
                continue
            state = pb.MirrorTopic.State.Name(m.state)
            self.seen.add(state)
            if state == "FAILED":
                self.reasons.append(m.reason)

    def __enter__(self) -> StateWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def service(tmp_path) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    """One service on SQLite: broker faults do not depend on the store, and these tests are long."""
    svc = Service(db_url=f"sqlite:///{tmp_path}/faults.db", workdir=tmp_path / "svc").start()
    yield svc
    svc.stop()


@contextmanager
def mirrored_pair(service: Service, factory) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    source, destination = factory(nodes=1), factory(nodes=1)
    stub = service.stub()
    topic = unique("faults")
    create_topic(source.bootstrap, topic, PARTITIONS)
    link = create_link(stub, source.bootstrap, destination.bootstrap,
                       config={"source.request.timeout.ms": "2000", "destination.request.timeout.ms": "5000"})
    name = create_mirror(stub, link, topic)
    yield stub, name, topic, source, destination


def _rounds(stub, name: str, topic: str, source: KafkaCluster, destination: KafkaCluster,  # type: ignore[no-untyped-def]
            fault: Callable[[], None]) -> None:
    with StateWatch(stub, name) as watch:
        for round_ in range(ROUNDS):
            with LiveTraffic(source.bootstrap, topic, PARTITIONS) as traffic:
                wait_for("live traffic", lambda: traffic.sent >= 300)
                fault()
                sent = traffic.sent
                wait_for("traffic after the fault", lambda: traffic.sent >= sent + 300, timeout=120)
            started = time.monotonic()
            wait_for(f"caught up after round {round_}",
                     lambda: caught_up(stub, name, source.bootstrap, topic, PARTITIONS), timeout=120)
            print(f"round {round_}: caught up {time.monotonic() - started:.1f} s after the traffic stopped")
            assert read_all(destination.bootstrap, topic, PARTITIONS) == read_all(source.bootstrap, topic, PARTITIONS)
    assert "FAILED" not in watch.seen, watch.reasons


def test_destination_broker_killed_and_restarted(service: Service, kafka_cluster_factory):
    with mirrored_pair(service, kafka_cluster_factory) as (stub, name, topic, source, destination):
        node = destination.node_ids[0]

        def kill_and_restart() -> None:
            stop_node(destination, node, kill=True)
            start_node(destination, node)

        _rounds(stub, name, topic, source, destination, kill_and_restart)


def _freeze(cluster: KafkaCluster) -> Callable[[], None]:
    def fault() -> None:
        pid = _pid(cluster)
        os.kill(pid, signal.SIGSTOP)
        try:
            _hold(FREEZE_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)
    return fault


def test_source_broker_frozen_and_resumed(service: Service, kafka_cluster_factory):
    with mirrored_pair(service, kafka_cluster_factory) as (stub, name, topic, source, destination):
        _rounds(stub, name, topic, source, destination, _freeze(source))


def test_destination_broker_frozen_and_resumed(service: Service, kafka_cluster_factory):
    with mirrored_pair(service, kafka_cluster_factory) as (stub, name, topic, source, destination):
        _rounds(stub, name, topic, source, destination, _freeze(destination))
