"""Test helpers that talk to the real clusters and the real service."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.fixtures.service import wait_for


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int


# A cluster as these helpers take it: a plaintext bootstrap address, or the
# full confluent-kafka settings of a secured one (bootstrap.servers included).
Cluster = str | Mapping[str, Any]


def client_config(cluster: Cluster) -> dict[str, Any]:
    return {"bootstrap.servers": cluster} if isinstance(cluster, str) else dict(cluster)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: Cluster, topic: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient(client_config(bootstrap))
    admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})])[topic].result(30)


def produce(bootstrap: Cluster, topic: str, count: int, partitions: int, start: int = 0) -> None:
    """Records with keys, values, headers and explicit timestamps; some nulls."""
    producer = Producer({**client_config(bootstrap), "enable.idempotence": True, "linger.ms": 5})
    # Explicit, distinct timestamps in the past but inside the default
    # 7-day retention, so the brokers keep every record.
    base = int(time.time() * 1000) - 3_600_000
    for i in range(start, start + count):
        producer.produce(
            topic,
            value=None if i % 97 == 0 else f"value-{i}".encode() * (1 + i % 5),
            key=None if i % 89 == 0 else f"key-{i}".encode(),
            partition=i % partitions,
            headers=[("seq", str(i).encode()), ("empty", None)] if i % 3 else None,
            timestamp=base + i,
        )
    assert producer.flush(60) == 0


def read_all(bootstrap: Cluster, topic: str, partitions: int, committed: bool = True) -> list[Record]:
    """Every readable record of the topic, in (partition, offset) order."""
    admin = AdminClient(client_config(bootstrap))
    ends = end_offsets(bootstrap, topic, partitions)
    consumer = Consumer({
        **client_config(bootstrap), "group.id": unique("reader"), "enable.auto.commit": False,
        "isolation.level": "read_committed" if committed else "read_uncommitted",
        "auto.offset.reset": "earliest",
    })
    del admin
    out: list[Record] = []
    try:
        pending = {p for p in range(partitions) if ends[p][1] > ends[p][0]}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in range(partitions)])

        errors: list[str] = []

        def drained() -> bool:
            for m in consumer.consume(10000, 0.5):
                if m.error():
                    errors[:] = [*errors[-4:], str(m.error())]
                    continue
                ts = m.timestamp()[1]
                out.append(Record(m.partition(), m.offset(), m.key(), m.value(),
                                  tuple(m.headers() or ()), ts))
                if m.offset() >= ends[m.partition()][1] - 1:
                    pending.discard(m.partition())
            positions = consumer.position([TopicPartition(topic, p) for p in pending])
            for tp in positions:
                if tp.offset >= ends[tp.partition][1]:
                    pending.discard(tp.partition)
            return not pending

        try:
            wait_for(f"reading {topic}", drained, timeout=60, interval=0)
        except AssertionError as exc:
            positions = consumer.position([TopicPartition(topic, p) for p in sorted(pending)])
            raise AssertionError(f"{exc}; unread partitions at {[(tp.partition, tp.offset) for tp in positions]}, "
                                 f"(log start, end) {ends}, last errors {errors}") from None
    finally:
        consumer.close()
    return sorted(out, key=lambda r: (r.partition, r.offset))


def end_offsets(bootstrap: Cluster, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    consumer = Consumer({**client_config(bootstrap), "group.id": unique("wm"),
                         "isolation.level": "read_uncommitted"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                for p in range(partitions)}
    finally:
        consumer.close()


def max_timestamps(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Per partition, the largest record timestamp the broker holds (ListOffsets
    MAX_TIMESTAMP). It also sees records below the log start offset that are
    still in a log segment: what time-based retention looks at."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    asked = {TopicPartition(topic, p): OffsetSpec.max_timestamp() for p in range(partitions)}
    return {tp.partition: fut.result(30).timestamp for tp, fut in admin.list_offsets(asked).items()}


def create_link(stub: pb_grpc.ClusterLinkServiceStub, source: str, destination: str,
                config: dict[str, str] | None = None) -> str:
    link_id = unique("link")
    stub.CreateLink(pb.CreateLinkRequest(link_id=link_id, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=source),
        destination=pb.ClusterConnection(bootstrap_servers=destination),
        config=config or {},
    )))
    return link_id


def create_mirror(stub: pb_grpc.ClusterLinkServiceStub, link_id: str, topic: str) -> str:
    mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link_id}", mirror_topic=pb.MirrorTopic(source_topic=topic)))
    return mirror.name


def mirror_task(stub: pb_grpc.ClusterLinkServiceStub, link_id: str, topic: str) -> pb.LinkTask | None:
    """The link's task of the mirror of `topic`, as GetLink shows it (None: no such task)."""
    for task in stub.GetLink(pb.GetLinkRequest(name=f"links/{link_id}")).status.tasks:
        if task.name == f"mirrorTopics/{topic}":
            return task
    return None


def caught_up(stub: pb_grpc.ClusterLinkServiceStub, name: str, source: Cluster, topic: str,
              partitions: int) -> pb.MirrorTopic | None:
    """The mirror when every partition's status shows lag 0 at the source's current end."""
    mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))
    if mirror.state != pb.MirrorTopic.ACTIVE or len(mirror.partitions) != partitions:
        return None
    ends = end_offsets(source, topic, partitions)
    for p in mirror.partitions:
        if p.lag != 0 or p.source_end_offset < ends[p.partition][1] - 0:
            return None
    return mirror


def committed(cluster: Cluster, group: str, topics: Mapping[str, int]) -> dict[tuple[str, int], tuple[int, str]]:
    """The group's committed offsets and metadata on the given topics (name -> partitions).

    Read by a consumer of the group, not with the admin client: librdkafka's admin
    ListConsumerGroupOffsets kills the process (SIGSEGV) when the broker answers
    NOT_COORDINATOR, as a broker that has just started does."""
    consumer = Consumer({**client_config(cluster), "group.id": group, "enable.auto.commit": False})

    def ask() -> list[TopicPartition] | None:
        try:
            return consumer.committed([TopicPartition(t, p) for t, n in topics.items() for p in range(n)], timeout=30)
        except KafkaException as exc:
            if exc.args[0].retriable() or exc.args[0].code() in (KafkaError.NOT_COORDINATOR,
                                                                 KafkaError.COORDINATOR_LOAD_IN_PROGRESS):
                return None  # the group coordinator is starting or moving
            raise

    try:
        found = wait_for(f"the committed offsets of {group}", ask)
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata.decode() if isinstance(tp.metadata, bytes)
                                       else tp.metadata or "")
            for tp in found if tp.offset >= 0}
