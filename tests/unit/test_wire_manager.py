"""The data path's connection managers never ask brokers to create topics."""

from __future__ import annotations

from kafka.net import NetworkSelector

from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection


def test_metadata_requests_never_create_a_missing_topic():
    # A broker with auto.create.topics.enable (Kafka's default) creates a topic that a
    # Metadata request names, unless the request says not to: a deleted mirror's
    # destination topic would come back at the data path's next refresh.
    net = NetworkSelector()
    try:
        manager = wire.new_manager(net, Connection("127.0.0.1:1"), request_timeout_ms=1000, max_in_flight=1,
                                   receive_max_bytes=1 << 20, client_id="t")
        manager.cluster.add_topic("gone")
        request = manager.cluster.metadata_request()
        assert request.allow_auto_topic_creation is False
        manager.close()
    finally:
        net.close()


def test_metadata_requests_stop_naming_a_topic_no_route_uses():
    # kafka-python asks again every 0.1 s while a topic it tracks is unknown, and its
    # own set_topics never shrinks the set: a removed mirror's deleted topic would
    # keep the link's connection asking for it.
    net = NetworkSelector()
    try:
        manager = wire.new_manager(net, Connection("127.0.0.1:1"), request_timeout_ms=1000, max_in_flight=1,
                                   receive_max_bytes=1 << 20, client_id="t")
        for topic in ("kept", "gone"):
            manager.cluster.add_topic(topic)
        wire.track_only(manager.cluster, {"kept"})
        assert [t.name for t in manager.cluster.metadata_request().topics] == ["kept"]
        wire.track_only(manager.cluster, set())
        assert manager.cluster.metadata_request().topics == []  # no topics, not all of them
        manager.close()
    finally:
        net.close()
