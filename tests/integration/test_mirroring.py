"""Promises 1-3 on real brokers: same offsets, nothing lost or duplicated, gaps recorded."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import (
    caught_up,
    create_link,
    create_mirror,
    create_topic,
    end_offsets,
    max_timestamps,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration


def test_exact_offsets_with_a_source_log_that_does_not_start_at_zero(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("orders")
    create_topic(kafka_source.bootstrap, topic, 3)
    produce(kafka_source.bootstrap, topic, 3000, 3)
    # Move the log start of two partitions, as retention would.
    admin = AdminClient({"bootstrap.servers": kafka_source.bootstrap})
    for fut in admin.delete_records([TopicPartition(topic, 0, 400), TopicPartition(topic, 2, 999)]).values():
        fut.result(30)

    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 3))
    # Live traffic after the mirror is running.
    produce(kafka_source.bootstrap, topic, 1500, 3, start=3000)
    mirror = wait_for("mirror caught up again", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 3))

    source = read_all(kafka_source.bootstrap, topic, 3)
    mirrored = read_all(kafka_destination.bootstrap, topic, 3)
    assert len(source) == 4500 - 400 - 999
    assert mirrored == source  # partition, offset, key, value, headers, timestamp
    ends = end_offsets(kafka_destination.bootstrap, topic, 3)
    assert ends == end_offsets(kafka_source.bootstrap, topic, 3)
    assert ends[0][0] == 400 and ends[2][0] == 999  # the mirror log starts where the source does
    assert mirror.offset_fidelity == pb.EXACT
    assert {p.partition: p.mirror_end_offset for p in mirror.partitions} == {p: e[1] for p, e in ends.items()}
    assert mirror.max_lag == 0
    # The filler written below the log start (then deleted) carries the source's
    # first timestamp, not the time it was written: retention ages the mirror's
    # first segment as it does the source's.
    assert max_timestamps(kafka_destination.bootstrap, topic, 3) == max_timestamps(kafka_source.bootstrap, topic, 3)

    dest_admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = dest_admin.describe_configs([res])[res].result(30)
    assert configs["message.timestamp.type"].value == "CreateTime"


def test_transactional_source_mirrors_committed_records_and_records_segments(
    service: Service, kafka_source, kafka_destination
):
    stub = service.stub()
    topic = unique("payments")
    create_topic(kafka_source.bootstrap, topic, 2)
    producer = Producer({"bootstrap.servers": kafka_source.bootstrap, "transactional.id": unique("tx")})
    producer.init_transactions(30)
    for txn in range(6):
        producer.begin_transaction()
        for i in range(20):
            producer.produce(topic, value=f"txn{txn}-{i}".encode(), key=str(i).encode(), partition=i % 2)
        if txn in (2, 4):
            producer.flush(30)  # the aborted records reach the log, then get aborted
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)

    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    mirror = wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))

    committed = read_all(kafka_source.bootstrap, topic, 2, committed=True)
    mirrored = read_all(kafka_destination.bootstrap, topic, 2)
    assert [r.value for r in committed] == [r.value for r in mirrored]
    assert all(not r.value.startswith((b"txn2-", b"txn4-")) for r in mirrored)
    assert len(mirrored) == 4 * 20
    assert mirror.offset_fidelity == pb.TRANSLATED
    assert all(p.offset_fidelity == pb.TRANSLATED and p.lag == 0 for p in mirror.partitions)

    # Expected segments: wherever source offset minus destination offset changes.
    expected: list[tuple[int, int, int]] = []
    for partition in range(2):
        src = [r for r in committed if r.partition == partition]
        dst = [r for r in mirrored if r.partition == partition]
        shift = 0
        for s, d in zip(src, dst, strict=True):
            assert (s.key, s.value, s.headers, s.timestamp) == (d.key, d.value, d.headers, d.timestamp)
            if s.offset - d.offset != shift:
                shift = s.offset - d.offset
                expected.append((partition, s.offset, d.offset))
    segments = stub.ListTranslationSegments(pb.ListTranslationSegmentsRequest(name=name, partition=-1)).segments
    assert [(s.partition, s.source_offset, s.destination_offset) for s in segments] == expected

    # The translate API maps every committed source offset to where it landed.
    for partition in range(2):
        src = [r for r in committed if r.partition == partition]
        dst = [r for r in mirrored if r.partition == partition]
        got = stub.TranslateOffsets(pb.TranslateOffsetsRequest(
            name=name, partition=partition, source_offsets=[r.offset for r in src])).destination_offsets
        assert list(got) == [r.offset for r in dst]


def test_compacted_source_holes_become_segments(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("compacted")
    create_topic(kafka_source.bootstrap, topic, 1, config={
        "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001",
        "delete.retention.ms": "0", "min.compaction.lag.ms": "0",
    })
    producer = Producer({"bootstrap.servers": kafka_source.bootstrap, "linger.ms": 0})

    def write_round(round_: int) -> None:
        # 50 keys overwritten every round, and one key only this round writes:
        # compaction keeps the latter, so holes open between them.
        for key in range(50):
            producer.produce(topic, key=f"k{key}".encode(), value=f"r{round_}-{key}".encode(), partition=0)
        producer.produce(topic, key=f"once-{round_}".encode(), value=b"kept", partition=0)
        assert producer.flush(30) == 0

    rounds = [0]

    def compacted() -> bool:
        # Each new round rolls the segment (segment.ms) so the cleaner can work on the old ones.
        rounds[0] += 1
        write_round(rounds[0])
        offsets = [r.offset for r in read_all(kafka_source.bootstrap, topic, 1)]
        return offsets[-1] - offsets[0] + 1 > len(offsets)

    write_round(0)
    wait_for("the source cleaner to remove overwritten records", compacted, timeout=120, interval=0.5)

    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    mirror = wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 1))
    assert mirror.offset_fidelity == pb.TRANSLATED

    source = read_all(kafka_source.bootstrap, topic, 1)
    mirrored = {r.offset: r for r in read_all(kafka_destination.bootstrap, topic, 1)}
    translated = stub.TranslateOffsets(pb.TranslateOffsetsRequest(
        name=name, partition=0, source_offsets=[r.offset for r in source])).destination_offsets
    checked = 0
    for record, dest_offset in zip(source, translated, strict=True):
        copy = mirrored.get(dest_offset)
        if copy is None:
            continue  # removed since by the destination's own cleaner (it is compacted too)
        assert (copy.key, copy.value, copy.timestamp) == (record.key, record.value, record.timestamp)
        checked += 1
    assert checked >= 51  # at least the latest value of every key
    segments = stub.ListTranslationSegments(pb.ListTranslationSegmentsRequest(name=name, partition=0)).segments
    assert segments and all(s.source_offset > s.destination_offset for s in segments)


def test_partitions_added_to_the_source_are_mirrored(service: Service, kafka_source, kafka_destination):
    from confluent_kafka.admin import NewPartitions

    stub = service.stub()
    topic = unique("growing")
    create_topic(kafka_source.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 200, 2)
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))

    admin = AdminClient({"bootstrap.servers": kafka_source.bootstrap})
    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(30)
    produce(kafka_source.bootstrap, topic, 400, 4, start=200)
    mirror = wait_for("four partitions caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 4))
    assert [p.partition for p in mirror.partitions] == [0, 1, 2, 3]
    assert read_all(kafka_destination.bootstrap, topic, 4) == read_all(kafka_source.bootstrap, topic, 4)


def test_a_second_mirror_of_a_source_topic_in_one_link_catches_up_while_the_first_is_live(
    service: Service, kafka_source, kafka_destination
):
    # One fetch can name a source partition once: the two mirrors of it take turns, the
    # one further behind first. Before, the first mirror held the partition for as long
    # as it ran, and a second one created after it had caught up never got a record.
    stub = service.stub()
    topic = unique("shared")
    create_topic(kafka_source.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 400, 2)
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    first = create_mirror(stub, link, topic)
    wait_for("first mirror caught up", lambda: caught_up(stub, first, kafka_source.bootstrap, topic, 2))

    copy = f"{topic}-copy"
    second = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic_id=copy, mirror_topic=pb.MirrorTopic(source_topic=topic))).name
    produce(kafka_source.bootstrap, topic, 200, 2, start=400)
    wait_for("second mirror caught up", lambda: caught_up(stub, second, kafka_source.bootstrap, topic, 2))
    wait_for("first mirror caught up again", lambda: caught_up(stub, first, kafka_source.bootstrap, topic, 2))

    source = read_all(kafka_source.bootstrap, topic, 2)
    assert len(source) == 600
    assert read_all(kafka_destination.bootstrap, copy, 2) == source
    assert read_all(kafka_destination.bootstrap, topic, 2) == source
