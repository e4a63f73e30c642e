"""The mirror holds the source's record batches byte for byte."""

from __future__ import annotations

import os

import pytest
from confluent_kafka import Producer

from clusterlink.engine.datapath.batches import CODEC_LZ4
from clusterlink.engine.datapath.copier import LANE_SPREAD_BYTES
from clusterlink.kafka.transport import FrameParser
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_link, create_mirror, create_topic, end_offsets, unique
from tests.integration.raw_batches import read_batches

pytestmark = pytest.mark.integration


def test_destination_batches_equal_the_source_batches(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("lz4")
    create_topic(kafka_source.bootstrap, topic, 3)
    # A real client writing lz4 batches of varied sizes and record counts.
    producer = Producer({"bootstrap.servers": kafka_source.bootstrap, "compression.type": "lz4",
                         "linger.ms": 20, "batch.size": 16384, "enable.idempotence": True})
    for i in range(6000):
        producer.produce(topic, value=(b"payload-%d-" % i) * (1 + i % 40), key=b"k%d" % (i % 50),
                         partition=i % 3, headers=[("h", b"%d" % i)])
        if i % 700 == 0:
            producer.flush(30)  # cut batches at different places
    assert producer.flush(60) == 0

    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    mirror = wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 3))

    ends = end_offsets(kafka_source.bootstrap, topic, 3)
    assert end_offsets(kafka_destination.bootstrap, topic, 3) == ends
    for p in range(3):
        source = read_batches(kafka_source.bootstrap, topic, p, ends[p][1])
        mirrored = read_batches(kafka_destination.bootstrap, topic, p, ends[p][1])
        # librdkafka leaves a batch uncompressed when lz4 would not make it smaller.
        assert sum(b.codec == CODEC_LZ4 for b in source) > 3
        # Same boundaries, record counts, codec and compressed payload bytes.
        assert mirrored == source
        # The data path's connections (FrameParser, one reused buffer per
        # connection) read the same batches as kafka-python's own parser.
        parsers: list[type] = []
        assert read_batches(kafka_source.bootstrap, topic, p, ends[p][1], parsers) == source
        assert set(parsers) == {FrameParser}
    assert all(p.reencoded_batches == 0 for p in mirror.partitions)


def test_large_batches_over_several_connections_stay_in_order(service: Service, kafka_source, kafka_destination):
    """Batches of 64 KiB and more spread over the link's destination connections
    (mirror.produce.connections); every partition's batches still land in order."""
    stub = service.stub()
    topic = unique("large")
    create_topic(kafka_source.bootstrap, topic, 6)
    producer = Producer({"bootstrap.servers": kafka_source.bootstrap, "compression.type": "lz4",
                         "linger.ms": 50, "batch.size": 262144, "enable.idempotence": True})
    for i in range(3000):
        # Values lz4 cannot shrink much, so the batches stay well above 64 KiB.
        producer.produce(topic, value=os.urandom(1024), key=b"k%d" % i, partition=i % 6)
    assert producer.flush(60) == 0

    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap,
                       config={"mirror.produce.connections": "3"})
    name = create_mirror(stub, link, topic)
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 6))

    ends = end_offsets(kafka_source.bootstrap, topic, 6)
    for p in range(6):
        source = read_batches(kafka_source.bootstrap, topic, p, ends[p][1])
        assert any(len(b.payload) >= LANE_SPREAD_BYTES for b in source)
        assert read_batches(kafka_destination.bootstrap, topic, p, ends[p][1]) == source
