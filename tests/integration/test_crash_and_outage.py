"""kill -9 of the service during live traffic, and a source broker that goes away."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import Producer

from clusterlink.sandbox.cluster import start_node, stop_node
from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import (
    caught_up,
    create_link,
    create_mirror,
    create_topic,
    end_offsets,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration


class LiveTraffic:
    """Produces records until stopped; counts what was acknowledged."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 2})
        self.topic, self.partitions = topic, partitions
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            for _ in range(100):
                self.producer.produce(self.topic, value=f"live-{i}".encode(), key=str(i).encode(),
                                      partition=i % self.partitions, headers=[("i", str(i).encode())])
                i += 1
            self.producer.flush(30)
            self.sent = i

    def __enter__(self) -> LiveTraffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def _mirrored(stub, name: str) -> int:
    return sum(p.mirror_end_offset for p in stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name)).partitions)


def test_kill_9_during_live_traffic_loses_and_duplicates_nothing(
    fresh_database_url: str, tmp_path, kafka_source, kafka_destination
):
    service = Service(db_url=fresh_database_url, workdir=tmp_path / "svc").start()
    try:
        stub = service.stub()
        topic = unique("live")
        create_topic(kafka_source.bootstrap, topic, 3)
        link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
        name = create_mirror(stub, link, topic)
        with LiveTraffic(kafka_source.bootstrap, topic, 3) as traffic:
            for round_ in range(3):
                floor = _mirrored(stub, name)
                wait_for("mirroring progress", lambda: _mirrored(stub, name) > floor + 1000, timeout=120)
                service.kill()
                sent = traffic.sent
                wait_for("traffic while the service is down", lambda: traffic.sent > sent + 500)
                service = Service(db_url=fresh_database_url, workdir=tmp_path / "svc").start()
                stub = service.stub()
        wait_for("caught up after the crashes",
                 lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 3), timeout=120)
        source = read_all(kafka_source.bootstrap, topic, 3)
        mirrored = read_all(kafka_destination.bootstrap, topic, 3)
        assert len(source) == traffic.sent
        assert mirrored == source
        assert end_offsets(kafka_destination.bootstrap, topic, 3) == end_offsets(kafka_source.bootstrap, topic, 3)
    finally:
        service.stop()


def test_source_outage_shows_source_unavailable_then_resumes(
    service: Service, kafka_cluster_factory, kafka_destination
):
    source = kafka_cluster_factory(nodes=1)
    stub = service.stub()
    topic = unique("outage")
    create_topic(source.bootstrap, topic, 2)
    produce(source.bootstrap, topic, 300, 2)
    link = create_link(stub, source.bootstrap, kafka_destination.bootstrap,
                       config={"source.request.timeout.ms": "2000"})
    name = create_mirror(stub, link, topic)
    wait_for("caught up", lambda: caught_up(stub, name, source.bootstrap, topic, 2))

    stop_node(source, source.node_ids[0])
    down = wait_for(
        "SOURCE_UNAVAILABLE",
        lambda: (m := stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))).state
        == pb.MirrorTopic.SOURCE_UNAVAILABLE and m,
    )
    assert source.bootstrap in down.reason

    start_node(source, source.node_ids[0])
    wait_for("ACTIVE again", lambda: stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name)).state
             == pb.MirrorTopic.ACTIVE)
    produce(source.bootstrap, topic, 300, 2, start=300)
    wait_for("caught up after the outage", lambda: caught_up(stub, name, source.bootstrap, topic, 2))
    assert read_all(kafka_destination.bootstrap, topic, 2) == read_all(source.bootstrap, topic, 2)
