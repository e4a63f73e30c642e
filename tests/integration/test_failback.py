"""Failback, first step: reverse a promoted mirror over the old primary's topic (issue: failback).

A -> B at lag 0, promote, B takes writes; then a mirror B -> A over A's topic,
which holds a prefix of B's history: only the tail is copied, and the two topics
are equal record by record with the same offsets.
"""

from __future__ import annotations

import re
import urllib.request

import pytest

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


def mirrored_records(service: Service, link: str, topic: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(rf'clusterlink_mirrored_records_total{{link="{link}",mirror_topic="{re.escape(topic)}"}} (\S+)',
                      text)
    return float(found.group(1)) if found else 0.0


def mirrored_a_to_b(stub, a, b, topic: str, records: int) -> str:
    """`topic` on A with `records` records over 2 partitions, mirrored A -> B up to lag 0; the mirror's name."""
    create_topic(a.bootstrap, topic, 2)
    produce(a.bootstrap, topic, records, 2)
    forward = create_mirror(stub, create_link(stub, a.bootstrap, b.bootstrap), topic)
    wait_for("A -> B caught up", lambda: caught_up(stub, forward, a.bootstrap, topic, 2))
    return forward


def test_reverse_after_promote_copies_only_the_tail(service: Service, kafka_source, kafka_destination):
    a, b = kafka_source, kafka_destination
    stub = service.stub()
    topic = unique("ledger")
    forward = mirrored_a_to_b(stub, a, b, topic, 400)
    stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=forward))
    wait_for("promoted", lambda: stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=forward)).state
             == pb.MirrorTopic.PROMOTED)

    # B is the primary now and takes writes; A holds a prefix of B's history.
    produce(b.bootstrap, topic, 150, 2, start=400)

    b_to_a = create_link(stub, b.bootstrap, a.bootstrap)
    reverse = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{b_to_a}", mirror_topic_id=topic, mirror_topic=pb.MirrorTopic(source_topic=topic))).name
    mirror = wait_for("B -> A caught up", lambda: caught_up(stub, reverse, b.bootstrap, topic, 2))

    assert read_all(a.bootstrap, topic, 2) == read_all(b.bootstrap, topic, 2)
    assert end_offsets(a.bootstrap, topic, 2) == end_offsets(b.bootstrap, topic, 2)
    assert mirror.offset_fidelity == pb.EXACT
    # Only the tail went over the reverse link: nothing of the prefix was copied again.
    assert mirrored_records(service, b_to_a, topic) == 150


def test_a_diverged_old_primary_fails_the_reverse_mirror_and_stays_untouched(
    service: Service, kafka_source, kafka_destination
):
    """Failover while A still takes writes, then B takes writes: A's tail is not B's."""
    a, b = kafka_source, kafka_destination
    stub = service.stub()
    topic = unique("diverged")
    forward = mirrored_a_to_b(stub, a, b, topic, 300)
    failed_over = stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=forward))
    assert {p.partition: p.mirrored_source_offset for p in failed_over.partitions} == {0: 150, 1: 150}
    produce(a.bootstrap, topic, 100, 2, start=300)   # A still took writes: 200 per partition
    produce(b.bootstrap, topic, 50, 2, start=1000)   # B took others: 175 per partition
    a_before = read_all(a.bootstrap, topic, 2)

    b_to_a = create_link(stub, b.bootstrap, a.bootstrap)
    reverse = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{b_to_a}", mirror_topic_id=topic, mirror_topic=pb.MirrorTopic(source_topic=topic))).name
    failed = wait_for("the reverse mirror FAILED", lambda: (lambda m: m if m.state == pb.MirrorTopic.FAILED else None)(
        stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=reverse))))
    assert "partition 0 diverges from the source at offset 150" in failed.reason, failed.reason
    assert "50 record(s)" in failed.reason  # A's records from 150 on that B does not have
    assert "copy them aside" in failed.reason
    assert read_all(a.bootstrap, topic, 2) == a_before  # untouched
