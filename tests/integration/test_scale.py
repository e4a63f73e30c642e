"""Many mirror topics on one link, at a size CI can afford (the benchmark goes to 500 x 10)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import create_link, unique

pytestmark = pytest.mark.integration

TOPICS = int(os.environ.get("CLUSTERLINK_SCALE_TOPICS", "100"))
PARTITIONS = 5
RECORDS_PER_PARTITION = 3


@pytest.fixture
def service(tmp_path) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    """A service of its own on SQLite: the store's kind is not what this test is about."""
    svc = Service(db_url=f"sqlite:///{tmp_path}/scale.db", workdir=tmp_path / "svc").start()
    yield svc
    svc.stop()


def _read_everything(bootstrap: str, topics: list[str]) -> dict[tuple[str, int, int], tuple]:
    """Every record of every partition of `topics`, with one consumer."""
    expected = RECORDS_PER_PARTITION * PARTITIONS * len(topics)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("scale"),
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    out: dict[tuple[str, int, int], tuple] = {}
    try:
        consumer.assign([TopicPartition(t, p, 0) for t in topics for p in range(PARTITIONS)])

        def done() -> bool:
            for m in consumer.consume(5000, 0.5):
                if m.error() is None:
                    out[(m.topic(), m.partition(), m.offset())] = (m.key(), m.value(), m.headers(), m.timestamp())
            return len(out) >= expected

        wait_for(f"{expected} records", done, timeout=120, interval=0)
    finally:
        consumer.close()
    return out


def test_a_hundred_mirror_topics_on_one_link_are_active_and_identical(service: Service, kafka_cluster_factory):
    source, destination = kafka_cluster_factory(nodes=1), kafka_cluster_factory(nodes=1)
    prefix = unique("scale")
    topics = [f"{prefix}-{i:03d}" for i in range(TOPICS)]
    admin = AdminClient({"bootstrap.servers": source.bootstrap})
    for fut in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics]).values():
        fut.result(60)
    producer = Producer({"bootstrap.servers": source.bootstrap, "linger.ms": 20})
    for t in topics:
        for p in range(PARTITIONS):
            for i in range(RECORDS_PER_PARTITION):
                producer.produce(t, value=f"{t}/{p}/{i}".encode(), key=str(i).encode(), partition=p)
    assert producer.flush(60) == 0

    stub = service.stub()
    link = create_link(stub, source.bootstrap, destination.bootstrap)
    for t in topics:
        stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=t)))

    def all_caught_up() -> bool:
        seen, token = 0, ""
        while True:
            page = stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent=f"links/{link}", page_size=50,
                                                                    page_token=token))
            for m in page.mirror_topics:
                if (m.state != pb.MirrorTopic.ACTIVE or len(m.partitions) != PARTITIONS
                        or any(p.mirror_end_offset != RECORDS_PER_PARTITION or p.lag for p in m.partitions)):
                    return False
                seen += 1
            token = page.next_page_token
            if not token:
                return seen == TOPICS

    wait_for("every mirror ACTIVE with lag 0", all_caught_up, timeout=180, interval=1.0)
    assert _read_everything(destination.bootstrap, topics) == _read_everything(source.bootstrap, topics)
