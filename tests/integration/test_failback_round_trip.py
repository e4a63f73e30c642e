"""The whole disaster-recovery round trip, with a consumer group following it (issue: failback).

A -> B; failover while A still takes writes; the application reads and writes on B;
B -> A with restore (A's own records set aside); promote back at lag 0; A -> B again
over B's topic without recopying. The application's consumer group reads on A, then B,
then A, then B, each time from the offsets the link synced: every record of the history
that survives is read at least once, and none is skipped.
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, TopicPartition

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import (
    Record,
    caught_up,
    committed,
    create_link,
    create_mirror,
    create_topic,
    end_offsets,
    produce,
    read_all,
    unique,
)
from tests.integration.test_failback import mirrored_records, restore_request

pytestmark = pytest.mark.integration

PARTITIONS = 2


def read_as_group(bootstrap: str, group: str, topic: str, limit: int | None = None) -> list[Record]:
    """What the application reads: the group's committed offsets on this cluster, then
    `limit` records or up to the end, committed before it stops."""
    ends = {p: high for p, (_low, high) in end_offsets(bootstrap, topic, PARTITIONS).items()}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    got: list[Record] = []
    try:
        stored = committed(bootstrap, group, {topic: PARTITIONS})
        position = {p: stored.get((topic, p), (0, ""))[0] for p in range(PARTITIONS)}
        consumer.assign([TopicPartition(topic, p, o) for p, o in position.items()])

        def done() -> bool:
            for m in consumer.consume(500, 0.5):
                if m.error() is None and (limit is None or len(got) < limit):
                    got.append(Record(m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()),
                                      m.timestamp()[1]))
                    position[m.partition()] = m.offset() + 1
            return (limit is not None and len(got) >= limit) or all(position[p] >= ends[p] for p in ends)

        wait_for(f"the group reading {topic}", done, timeout=90, interval=0)
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in position.items()], asynchronous=False)
    finally:
        consumer.close()
    return got


def synced(source: str, destination: str, group: str, topic: str) -> bool:
    want = committed(source, group, {topic: PARTITIONS})
    return bool(want) and committed(destination, group, {topic: PARTITIONS}) == want


def test_round_trip_a_consumer_group_reads_every_record(service: Service, kafka_source, kafka_destination):
    a, b = kafka_source.bootstrap, kafka_destination.bootstrap
    stub = service.stub()
    topic, group = unique("round-trip"), unique("app")
    offsets_follow = {
        "consumer.offset.sync.enable": "true", "consumer.offset.sync.ms": "1000",
        "consumer.offset.group.filters": json.dumps(
            {"groupFilters": [{"name": group, "patternType": "LITERAL", "filterType": "INCLUDE"}]}),
    }
    seen: list[Record] = []

    # 1. A is the primary; A -> B mirrors it and the group's offsets.
    create_topic(a, topic, PARTITIONS)
    produce(a, topic, 300, PARTITIONS)
    a_to_b = create_link(stub, a, b, config=offsets_follow)
    forward = create_mirror(stub, a_to_b, topic)
    seen += read_as_group(a, group, topic, limit=200)
    wait_for("A -> B caught up", lambda: caught_up(stub, forward, a, topic, PARTITIONS))
    wait_for("the group's offsets on B", lambda: synced(a, b, group, topic))

    # 2. Disaster: fail over while A still takes writes; the application moves to B.
    stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=forward))
    produce(a, topic, 40, PARTITIONS, start=300)   # A's own: they never reached B
    seen += read_as_group(b, group, topic)
    produce(b, topic, 100, PARTITIONS, start=1000)
    seen += read_as_group(b, group, topic, limit=60)

    # 3. A is back: B -> A with restore, and the group's offsets follow to A.
    b_to_a = create_link(stub, b, a, config=offsets_follow)
    reverse = stub.CreateMirrorTopic(restore_request(b_to_a, topic)).name
    wait_for("B -> A caught up", lambda: caught_up(stub, reverse, b, topic, PARTITIONS), timeout=120)
    assert {s.partition: s.records for s in stub.GetMirrorTopic(
        pb.GetMirrorTopicRequest(name=reverse)).restore.partitions} == {0: 20, 1: 20}
    wait_for("the group's offsets on A", lambda: synced(b, a, group, topic))

    # 4. Planned switch back: promote at lag 0; the application reads on A again.
    stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=reverse))
    wait_for("promoted", lambda: stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=reverse)).state
             == pb.MirrorTopic.PROMOTED)
    seen += read_as_group(a, group, topic)
    produce(a, topic, 60, PARTITIONS, start=2000)

    # 5. A -> B again over B's topic: only A's new records are copied.
    stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=forward))
    wait_for("the old mirror gone", lambda: not stub.ListMirrorTopics(
        pb.ListMirrorTopicsRequest(parent=f"links/{a_to_b}")).mirror_topics)
    again = create_mirror(stub, a_to_b, topic)
    try:
        wait_for("A -> B caught up again", lambda: caught_up(stub, again, a, topic, PARTITIONS))
    except AssertionError:
        print("DEBUG", stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=again)))
        print("DEBUG", end_offsets(a, topic, 2), end_offsets(b, topic, 2))
        raise
    assert mirrored_records(service, a_to_b, topic) == 300 + 60  # the first mirror's, then only the tail
    wait_for("the group's offsets on B again", lambda: synced(a, b, group, topic))
    seen += read_as_group(b, group, topic)

    history = read_all(a, topic, PARTITIONS)
    assert read_all(b, topic, PARTITIONS) == history
    assert end_offsets(a, topic, PARTITIONS) == end_offsets(b, topic, PARTITIONS)
    # Every record that survived the round trip was read, at the offset it has on both sides.
    assert set(history) <= set(seen), sorted(set(history) - set(seen))[:5]
    assert len(history) == 300 + 100 + 60
