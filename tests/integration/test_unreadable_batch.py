"""A source batch that cannot be parsed fails its own mirror only, naming partition and offset."""

from __future__ import annotations

import pytest

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_link, create_topic, end_offsets, produce, read_all, unique

pytestmark = pytest.mark.integration

MAGIC_AT = 16  # byte of a record batch that holds its format version


def _corrupt_first_batch(cluster, topic: str, partition: int) -> None:  # type: ignore[no-untyped-def]
    """Overwrites the magic byte of the partition's first batch in the broker's log file.

    The broker serves fetches from its files without checking them, so the
    service receives exactly these bytes: a batch of an unknown format.
    """
    (node,) = cluster.node_ids
    (log_file,) = (cluster.node_folder(node) / "data" / f"{topic}-{partition}").glob("*.log")
    with open(log_file, "r+b") as handle:
        handle.seek(MAGIC_AT)
        assert handle.read(1) == b"\x02"
        handle.seek(MAGIC_AT)
        handle.write(b"\x07")


def test_an_unparseable_batch_fails_its_mirror_and_the_others_go_on(
    service: Service, kafka_cluster_factory, kafka_destination
):
    source = kafka_cluster_factory(nodes=1)
    stub = service.stub()
    broken, healthy = unique("broken"), unique("healthy")
    for topic in (broken, healthy):
        create_topic(source.bootstrap, topic, 2)
        produce(source.bootstrap, topic, 100, 2)
    _corrupt_first_batch(source, broken, 1)

    link = unique("link")
    stub.CreateLink(pb.CreateLinkRequest(link_id=link, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=source.bootstrap),
        destination=pb.ClusterConnection(bootstrap_servers=kafka_destination.bootstrap))))
    names = {}
    for topic in (broken, healthy):
        names[topic] = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic))).name

    failed = wait_for("the broken mirror FAILED", lambda: (m := stub.GetMirrorTopic(
        pb.GetMirrorTopicRequest(name=names[broken]))).state == pb.MirrorTopic.FAILED and m)
    assert "partition 1" in failed.reason and "offset 0" in failed.reason, failed.reason

    # The other mirror of the same link keeps going, also with new records.
    produce(source.bootstrap, healthy, 100, 2, start=100)
    wait_for("the healthy mirror caught up", lambda: caught_up(stub, names[healthy], source.bootstrap, healthy, 2))
    assert read_all(kafka_destination.bootstrap, healthy, 2) == read_all(source.bootstrap, healthy, 2)


def _damage_first_value(cluster, topic: str, partition: int, value: bytes) -> None:  # type: ignore[no-untyped-def]
    """Changes one byte of `value` (in the partition's first, uncompressed batch) in the
    broker's log file: the batch still parses, but no longer matches its CRC32C."""
    (node,) = cluster.node_ids
    (log_file,) = (cluster.node_folder(node) / "data" / f"{topic}-{partition}").glob("*.log")
    data = log_file.read_bytes()
    at = data.index(value)
    with open(log_file, "r+b") as handle:
        handle.seek(at)
        handle.write(value[:1].upper())


def test_a_source_batch_damaged_on_disk_is_never_copied(service: Service, kafka_cluster_factory, kafka_destination):
    source = kafka_cluster_factory(nodes=1)
    stub = service.stub()
    topic = unique("damaged")
    create_topic(source.bootstrap, topic, 2)
    produce(source.bootstrap, topic, 100, 2)  # uncompressed: only the CRC covers a value
    _damage_first_value(source, topic, 1, b"value-1value-1")  # record 1, partition 1's first

    link = unique("link")
    stub.CreateLink(pb.CreateLinkRequest(link_id=link, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=source.bootstrap),
        destination=pb.ClusterConnection(bootstrap_servers=kafka_destination.bootstrap))))
    name = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic))).name

    failed = wait_for("the mirror FAILED", lambda: (m := stub.GetMirrorTopic(
        pb.GetMirrorTopicRequest(name=name))).state == pb.MirrorTopic.FAILED and m)
    assert "partition 1" in failed.reason and "offset 0" in failed.reason, failed.reason
    assert "CRC32C" in failed.reason, failed.reason
    # Nothing of the damaged partition reached the destination with a fresh CRC.
    assert end_offsets(kafka_destination.bootstrap, topic, 2)[1][1] == 0
