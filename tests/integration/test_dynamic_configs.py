"""The topic config sync's reader: set values of the asked keys only, and a missing topic told apart."""

from __future__ import annotations

import pytest

from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection
from tests.integration.kafka_io import create_topic, unique

pytestmark = pytest.mark.integration


def test_reads_the_values_set_on_each_topic_for_the_asked_keys(kafka_source):
    configured, plain, missing = unique("cfg"), unique("plain"), unique("missing")
    create_topic(kafka_source.bootstrap, configured, 1,
                 config={"retention.ms": "86400000", "cleanup.policy": "compact", "compression.type": "lz4"})
    create_topic(kafka_source.bootstrap, plain, 1)

    found = wire.dynamic_topic_configs(Connection(kafka_source.bootstrap), [configured, plain, missing],
                                       ["retention.ms", "cleanup.policy", "segment.bytes"], timeout=30)

    # compression.type is set but not asked for; segment.bytes is asked for but only a default.
    assert found == {configured: {"retention.ms": "86400000", "cleanup.policy": "compact"},
                     plain: {}, missing: None}
