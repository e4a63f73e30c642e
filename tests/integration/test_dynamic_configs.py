"""Control reads in one request: the topic config sync's set values of the asked keys only, and
topic ids; a missing topic told apart."""

from __future__ import annotations

import pytest

from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection
from tests.fixtures.service import wait_for
from tests.integration.kafka_io import create_topic, unique

pytestmark = pytest.mark.integration


def test_reads_the_values_set_on_each_topic_for_the_asked_keys(kafka_source):
    configured, plain, missing = unique("cfg"), unique("plain"), unique("missing")
    create_topic(kafka_source.bootstrap, configured, 1,
                 config={"retention.ms": "86400000", "cleanup.policy": "compact", "compression.type": "lz4"})
    create_topic(kafka_source.bootstrap, plain, 1)

    def read() -> dict[str, dict[str, str] | None]:
        return wire.dynamic_topic_configs(Connection(kafka_source.bootstrap), [configured, plain, missing],
                                          ["retention.ms", "cleanup.policy", "segment.bytes"], timeout=30)

    # The broker asked may learn of a new topic a moment after the creation returned.
    found = wait_for("both topics known", lambda: (f := read())[configured] is not None and f[plain] is not None
                     and f)

    # compression.type is set but not asked for; segment.bytes is asked for but only a default.
    assert found == {configured: {"retention.ms": "86400000", "cleanup.policy": "compact"},
                     plain: {}, missing: None}


def test_topic_ids_are_kafkas_own_text_and_a_missing_topic_is_none_and_not_created(kafka_destination):
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    first, second, missing = unique("ids"), unique("ids"), unique("missing")
    create_topic(kafka_destination.bootstrap, first, 2)
    create_topic(kafka_destination.bootstrap, second, 1)

    def read() -> dict[str, str | None]:
        return wire.topic_ids(Connection(kafka_destination.bootstrap), [first, second, missing], timeout=30)

    found = wait_for("both topics known", lambda: (f := read())[first] is not None and f[second] is not None and f)

    # The same text as librdkafka's: ids kept in the store compare equal. (Its alphabet has
    # '/' and '+' where Kafka's tools write '_' and '-'; this test caught that once.)
    admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
    described = admin.describe_topics(TopicCollection([first, second]))
    assert found == {first: str(described[first].result(30).topic_id),
                     second: str(described[second].result(30).topic_id), missing: None}
    assert found[first] != found[second]
    assert missing not in admin.list_topics(timeout=30).topics  # asking did not create it
