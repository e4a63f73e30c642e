"""Control steps of one mirror topic, run by its link's scheduler.

Preparing a mirror: the destination topic exists with the source's
partition count, an empty destination partition starts at the source's log
start, and the last record already on the destination is its source record.
Then every partition resumes at the destination's end offset (translated
through the stored segments): the destination, not the store, is the
authority on progress.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from clusterlink.engine.datapath.partition import PartitionState
from clusterlink.engine.prepare import (
    DestinationError,
    Offsets,
    SourceUnavailableError,
    check_resume_points,
    ensure_destination_topic,
    fill_and_trim,
    is_filler,
    partitions_to_fill,
    read_offsets,
)
from clusterlink.engine.segments import Segment
from clusterlink.kafka.clients import Connection, base_config
from clusterlink.kafka.reader import read_at
from clusterlink.store import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MirrorSpec:
    mirror_id: int
    topic: str
    source_topic: str

    @property
    def task_name(self) -> str:
        return f"mirrorTopics/{self.topic}"


@dataclass(frozen=True)
class Clusters:
    """The admin side of a link: one admin client per cluster, built once per runtime."""

    source: Connection
    destination: Connection
    src_admin: AdminClient
    dst_admin: AdminClient
    timeout: float

    def reader(self, conn: Connection, *, committed: bool) -> dict[str, Any]:
        return {**base_config(conn), "isolation.level": "read_committed" if committed else "read_uncommitted"}


def prepare(spec: MirrorSpec, clusters: Clusters, factory: progress.Factory) -> dict[int, PartitionState]:
    """Makes the destination ready and returns every partition's start point."""
    timeout = clusters.timeout
    count, desired = ensure_destination_topic(
        clusters.src_admin, clusters.dst_admin, spec.source_topic, spec.topic, timeout)
    partitions = list(range(count))
    try:
        src = read_offsets(clusters.src_admin, spec.source_topic, partitions, timeout)
    except KafkaException as exc:
        raise SourceUnavailableError(str(exc)) from exc
    try:
        dst = read_offsets(clusters.dst_admin, spec.topic, partitions, timeout)
    except KafkaException as exc:
        raise DestinationError(f"cannot read offsets of destination topic {spec.topic!r}: {exc}") from exc
    segments = progress.load_segments(factory, spec.mirror_id)
    targets = partitions_to_fill(src, dst, segments, lambda offs: _last_is_filler(spec, clusters, offs))
    if targets:
        log.info("mirror %s: moving log start to %s", spec.topic, targets)
        _fill(spec, clusters, src, dst, targets, desired.get("cleanup.policy", "delete"))
    check_resume_points(
        clusters.reader(clusters.source, committed=True),
        clusters.reader(clusters.destination, committed=False),
        spec.source_topic, spec.topic, dst, segments, timeout,
    )
    return {
        p: PartitionState.start(spec.mirror_id, p, dst.high[p], segments.get(p, []))
        for p in partitions
    }


def _last_is_filler(spec: MirrorSpec, clusters: Clusters, offsets: dict[int, int]) -> dict[int, bool]:
    found = read_at(clusters.reader(clusters.destination, committed=False), spec.topic, offsets, clusters.timeout)
    return {p: is_filler(m) and m.offset() == offsets[p] for p, m in found.items() if m is not None}


def _fill(spec: MirrorSpec, clusters: Clusters, src: Offsets, dst: Offsets, targets: dict[int, int],
          cleanup_policy: str) -> None:
    # Fillers carry the timestamp of the source's first record, so
    # time-based retention treats the mirror's first segment like the source's.
    try:
        first = read_at(clusters.reader(clusters.source, committed=True), spec.source_topic,
                        {p: src.low[p] for p in targets}, clusters.timeout)
    except KafkaException as exc:
        raise SourceUnavailableError(f"cannot read source topic {spec.source_topic!r}: {exc}") from exc
    stamps = {p: m.timestamp()[1] for p, m in first.items() if m is not None and m.timestamp()[1] > 0}
    producer = Producer({
        **base_config(clusters.destination),
        "enable.idempotence": True, "acks": "all", "compression.type": "lz4",
        "linger.ms": 20, "batch.size": 1_000_000, "batch.num.messages": 100_000,
        "message.timeout.ms": 0,
    })
    try:
        fill_and_trim(producer, clusters.dst_admin, spec.topic, dst, targets, cleanup_policy,
                      clusters.timeout, stamps)
    finally:
        if producer.flush(10.0) > 0:
            producer.purge()
            producer.flush(1.0)


def resync_points(spec: MirrorSpec, clusters: Clusters, factory: progress.Factory,
                  states: dict[int, PartitionState]) -> dict[int, tuple[int, list[Segment]]]:
    """New start points for partitions that stopped: the destination's end offsets.

    A partition whose destination grew past what this runtime acknowledged
    (a write of a dead session landed) gets the resume check again, so a
    foreign write is never taken for the link's own. When the source no
    longer holds the next offset (retention), the gap is stored first.
    """
    timeout = clusters.timeout
    parts = sorted(states)
    try:
        dst = read_offsets(clusters.dst_admin, spec.topic, parts, timeout)
    except KafkaException as exc:
        raise DestinationError(f"cannot read offsets of destination topic {spec.topic!r}: {exc}") from exc
    try:
        src = read_offsets(clusters.src_admin, spec.source_topic, parts, timeout)
    except KafkaException as exc:
        raise SourceUnavailableError(str(exc)) from exc
    segments = progress.load_segments(factory, spec.mirror_id)
    grown = {p: dst.high[p] for p in parts if dst.high[p] > states[p].acked_dst}
    if grown:
        check_resume_points(
            clusters.reader(clusters.source, committed=True),
            clusters.reader(clusters.destination, committed=False),
            spec.source_topic, spec.topic, Offsets({p: dst.low[p] for p in grown}, grown),
            segments, timeout,
        )
    gaps: dict[int, list[Segment]] = {}
    out: dict[int, tuple[int, list[Segment]]] = {}
    for p in parts:
        segs = list(segments.get(p, []))
        start = PartitionState.start(spec.mirror_id, p, dst.high[p], segs)
        if start.next_src < src.low[p]:
            gap = Segment(src.low[p], dst.high[p])
            gaps[p] = [gap]
            segs.append(gap)
        out[p] = (dst.high[p], segs)
    if gaps:
        progress.save_segments(factory, spec.mirror_id, gaps)
    return out
