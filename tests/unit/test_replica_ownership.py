"""A replica's share of a link, and the metrics that carry its name (pure logic, no Kafka)."""

from __future__ import annotations

from prometheus_client import generate_latest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from clusterlink.metrics.exporter import build_metrics
from clusterlink.replicas.ownership import EVERYTHING, NOTHING, Everything, Owned


def test_everything_owns_every_partition_and_the_control_work():
    assert EVERYTHING.of_topic("orders", 4) == {0, 1, 2, 3}
    assert EVERYTHING.control and EVERYTHING.everything
    seen: list[int] = []
    only = Everything()
    only.start(lambda: seen.append(1))
    assert seen == [1] and only.owned() is EVERYTHING and only.may_write()


def test_a_group_share_is_the_assigned_partitions_of_each_topic_whatever_the_count():
    owned = Owned(frozenset({("orders", 1), ("orders", 5), ("payments", 0)}), control=False)
    assert owned.of_topic("orders", 2) == {1, 5}  # 5: the topic grew, and the group knew first
    assert owned.of_topic("payments", 3) == {0}
    assert owned.of_topic("other", 3) == set()
    assert not owned.everything and not owned.control
    assert NOTHING.of_topic("orders", 3) == set()


def _factory(tmp_path, with_schema: bool):  # type: ignore[no-untyped-def]
    from clusterlink.store.models import Base

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    if with_schema:
        Base.metadata.create_all(engine)
    return sessionmaker(engine)


def test_the_process_counters_carry_the_replica_label(tmp_path):
    shares = {"orders": {"partitions": 6, "control": True}}
    metrics = build_metrics(_factory(tmp_path, True), "pod-a", lambda: shares)
    metrics.records.labels("orders", "t").inc(5)
    text = generate_latest(metrics.registry).decode()
    assert 'clusterlink_mirrored_records_total{link="orders",mirror_topic="t",replica="pod-a"} 5.0' in text
    assert 'clusterlink_replica_partitions{link="orders"} 6.0' in text
    assert 'clusterlink_replica_control{link="orders"} 1.0' in text
    assert "clusterlink_store_up 1.0" in text


def test_a_scrape_without_the_store_still_answers_with_the_process_counters(tmp_path):
    metrics = build_metrics(_factory(tmp_path, False), "pod-a")  # no tables: every store read fails
    metrics.records.labels("orders", "t").inc(1)
    text = generate_latest(metrics.registry).decode()
    assert "clusterlink_store_up 0.0" in text
    assert 'replica="pod-a"} 1.0' in text
    assert "clusterlink_links " not in text
