"""The Prometheus endpoint reports what the store and the workers know."""

from __future__ import annotations

import re
import urllib.request

import pytest

from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_link, create_mirror, create_topic, produce, unique

pytestmark = pytest.mark.integration


def _scrape(service: Service) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_metrics_export_links_states_counts_and_lag(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("metrics")
    create_topic(kafka_source.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 500, 2)
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    wait_for("caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))

    # The process's own counters name the replica that counted them.
    counted = re.compile(rf'clusterlink_mirrored_records_total{{link="{link}",mirror_topic="{topic}",'
                         r'replica="([^"]+)"} 500.0')
    text = wait_for("records counted", lambda: (t := _scrape(service)) and counted.search(t) and t)
    replica = counted.search(text).group(1)
    assert "clusterlink_links " in text
    assert "clusterlink_store_up 1.0" in text
    assert 'clusterlink_mirror_topics{state="ACTIVE"}' in text
    assert (f'clusterlink_partition_lag{{link="{link}",mirror_topic="{topic}",partition="0",'
            f'replica="{replica}"}} 0.0') in text
    assert f'clusterlink_mirror_max_lag{{link="{link}",mirror_topic="{topic}"}} 0.0' in text
    assert f'clusterlink_mirrored_bytes_total{{link="{link}",mirror_topic="{topic}",replica="{replica}"}}' in text
    assert f'clusterlink_replica_partitions{{link="{link}"}} 2.0' in text
    assert f'clusterlink_replica_control{{link="{link}"}} 1.0' in text
    # The data path's metadata answers, per cluster (labels in the exporter's sorted order).
    for cluster in ("source", "destination"):
        asked = re.search(rf'clusterlink_metadata_answers_total{{cluster="{cluster}",link="{link}",'
                          rf'replica="{replica}"}} (\S+)', text)
        assert asked and float(asked.group(1)) >= 1
