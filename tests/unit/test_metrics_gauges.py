"""The link task gauges leave with the replica that stops running the link's control work."""

from __future__ import annotations

from prometheus_client import generate_latest
from sqlalchemy.orm import sessionmaker

from clusterlink.metrics.exporter import build_metrics, forget_link_tasks


def scrape(metrics) -> str:  # type: ignore[no-untyped-def]
    return generate_latest(metrics.registry).decode()


def test_forget_link_tasks_drops_only_that_links_task_gauges():
    metrics = build_metrics(sessionmaker())
    metrics.synced_groups.labels("a").set(7)
    metrics.managed_acls.labels("a").set(3)
    metrics.synced_groups.labels("b").set(2)

    forget_link_tasks(metrics, "a")
    forget_link_tasks(metrics, "never-set")

    text = scrape(metrics)
    assert 'clusterlink_consumer_groups_synced{link="a"}' not in text
    assert 'clusterlink_acls_managed{link="a"}' not in text
    assert 'clusterlink_consumer_groups_synced{link="b"} 2.0' in text
