"""Prometheus metrics.

Counters of moved records and bytes are kept in memory by the workers; every
gauge (links, mirror topics by state, lag) is read from the store at scrape
time, so what Prometheus shows is exactly what the API reports.

With several replicas each one exports its own counters, labelled
`replica`, and the same store gauges (the lag gauge names the replica that
copies each partition); sum the counters over replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.store.models import Link, LinkTask, MirrorPartition, MirrorTopic

STATES = (
    "PENDING",
    "ACTIVE",
    "PAUSED",
    "PROMOTING",
    "PROMOTED",
    "FAILED_OVER",
    "SOURCE_UNAVAILABLE",
    "FAILED",
    "DELETING",
)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    records: Counter
    bytes: Counter
    fenced: Counter
    task_runs: Counter      # link sync task runs, by outcome (ok, error)
    synced_groups: Gauge    # consumer groups the last offset sync wrote or kept in sync
    managed_acls: Gauge     # ACLs the link's ACL sync created on the destination
    metadata: Counter       # metadata answers a link's data path received, per cluster


class StoreCollector(Collector):
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("clusterlink_store_up",
                               "1 when this scrape could read the store; 0 leaves the store's gauges out.")
        try:
            families = list(self._from_store())
        except SQLAlchemyError:
            # The process's own counters still go out: a scrape must not fail with the database.
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_store(self) -> Iterator[GaugeMetricFamily]:
        links = GaugeMetricFamily("clusterlink_links", "Links in the store.")
        by_state = GaugeMetricFamily(
            "clusterlink_mirror_topics", "Mirror topics by lifecycle state.", labels=["state"]
        )
        lag = GaugeMetricFamily(
            "clusterlink_partition_lag",
            "Source offsets not yet mirrored, per mirror partition.",
            labels=["link", "mirror_topic", "partition", "replica"],
        )
        max_lag = GaugeMetricFamily(
            "clusterlink_mirror_max_lag",
            "Largest partition lag of a mirror topic.",
            labels=["link", "mirror_topic"],
        )
        with self._factory() as session:
            links.add_metric([], session.scalar(select(func.count()).select_from(Link)) or 0)
            counts = dict(
                session.execute(select(MirrorTopic.state, func.count()).group_by(MirrorTopic.state)).all()
            )
            for state in STATES:
                by_state.add_metric([state], counts.get(state, 0))
            rows = session.execute(
                select(Link.name, MirrorTopic.name, MirrorPartition.partition, MirrorPartition.lag,
                       MirrorPartition.replica_id)
                .join(MirrorTopic, MirrorTopic.link_id == Link.id)
                .join(MirrorPartition, MirrorPartition.mirror_topic_id == MirrorTopic.id)
            ).all()
        worst: dict[tuple[str, str], int] = {}
        for link, mirror, partition, value, replica in rows:
            lag.add_metric([link, mirror, str(partition), replica or ""], value)
            worst[(link, mirror)] = max(worst.get((link, mirror), 0), value)
        for (link, mirror), value in worst.items():
            max_lag.add_metric([link, mirror], value)
        last_success = GaugeMetricFamily(
            "clusterlink_link_task_last_success_timestamp_seconds",
            "When a link's sync task last ran without error (Unix time).",
            labels=["link", "task"],
        )
        with self._factory() as session:
            for link, task, when in session.execute(
                select(Link.name, LinkTask.name, LinkTask.last_success_time)
                .join(LinkTask, LinkTask.link_id == Link.id)
                .where(LinkTask.last_success_time.is_not(None))
            ):
                last_success.add_metric([link, task], when.timestamp())
        yield from (links, by_state, lag, max_lag, last_success)


class ReplicaLabelled(Collector):
    """This process's own metrics, each sample labelled with the replica that counted it."""

    def __init__(self, inner: CollectorRegistry, replica_id: str) -> None:
        self._inner = inner
        self._replica_id = replica_id

    def collect(self) -> Iterator[Metric]:
        for family in self._inner.collect():  # fresh objects on every scrape
            family.samples = [s._replace(labels={**s.labels, "replica": self._replica_id}) for s in family.samples]
            yield family


class OwnedCollector(Collector):
    """What this replica owns now, per link: partitions it copies, and whether it runs the control work."""

    def __init__(self, owned: Callable[[], dict[str, dict[str, object]]]) -> None:
        self._owned = owned

    def collect(self) -> Iterator[GaugeMetricFamily]:
        parts = GaugeMetricFamily("clusterlink_replica_partitions",
                                  "Mirror partitions this replica copies, per link.", labels=["link"])
        control = GaugeMetricFamily("clusterlink_replica_control",
                                    "1 when this replica runs the link's once-per-link work.", labels=["link"])
        for link, share in sorted(self._owned().items()):
            parts.add_metric([link], float(share.get("partitions", 0)))  # type: ignore[arg-type]
            control.add_metric([link], 1.0 if share.get("control") else 0.0)
        yield from (parts, control)


def build_metrics(factory: sessionmaker[Session], replica_id: str = "",
                  owned: Callable[[], dict[str, dict[str, object]]] | None = None) -> Metrics:
    outer = CollectorRegistry()
    # Counters live in their own registry when they get a replica label at scrape time.
    registry = CollectorRegistry() if replica_id else outer
    records = Counter(
        "clusterlink_mirrored_records",
        "Records written to mirror topics.",
        ["link", "mirror_topic"],
        registry=registry,
    )
    mirrored_bytes = Counter(
        "clusterlink_mirrored_bytes",
        "Record batch bytes written to mirror topics (as stored, compressed).",
        ["link", "mirror_topic"],
        registry=registry,
    )
    fenced = Counter(
        "clusterlink_fenced_writes",
        "Writes the destination refused as out of sequence: another session of the link (a retry, "
        "a request of a stopped process) wrote there first; the partition resumed from the "
        "destination's end offset. Not an error.",
        ["link", "mirror_topic"],
        registry=registry,
    )
    task_runs = Counter(
        "clusterlink_link_task_runs",
        "Runs of a link's sync tasks (ConsumerOffsetSync, ...), by outcome: ok or error.",
        ["link", "task", "outcome"],
        registry=registry,
    )
    synced_groups = Gauge(
        "clusterlink_consumer_groups_synced",
        "Consumer groups whose offsets the link's last offset sync run keeps on the destination.",
        ["link"],
        registry=registry,
    )
    managed_acls = Gauge(
        "clusterlink_acls_managed",
        "ACLs the link's ACL sync created on the destination and keeps in sync.",
        ["link"],
        registry=registry,
    )
    metadata = Counter(
        "clusterlink_metadata_answers",
        "Metadata answers a link's data path received, per cluster (source, destination). It asks "
        "when it starts a mirror, when a leader moved or a request failed, and every 60 s; a count "
        "that keeps climbing on a steady link means it keeps asking (leaders that keep moving).",
        ["link", "cluster"],
        registry=registry,
    )
    if registry is not outer:
        outer.register(ReplicaLabelled(registry, replica_id))
    outer.register(StoreCollector(factory))
    if owned is not None:
        outer.register(OwnedCollector(owned))
    return Metrics(registry=outer, records=records, bytes=mirrored_bytes, fenced=fenced,
                   task_runs=task_runs, synced_groups=synced_groups, managed_acls=managed_acls,
                   metadata=metadata)


def forget_link_tasks(metrics: Metrics, link: str) -> None:
    """Drops the gauges that only the replica running a link's control work sets: once it
    stops running it (another replica took it over, or the link stopped), its last values
    would otherwise be scraped forever, and summed with the new control replica's."""
    for gauge in (metrics.synced_groups, metrics.managed_acls):
        gauge.remove(link)  # a label set never set here is no error


def serve_metrics(metrics: Metrics, listen: str) -> None:
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1", registry=metrics.registry)
