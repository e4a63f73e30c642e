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
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kafka.errors as kerrors
from confluent_kafka import KafkaException, Producer

from clusterlink.engine.datapath.partition import PartitionState
from clusterlink.engine.prepare import (
    DestinationError,
    DestinationTopicNotServedError,
    FatalMirrorError,
    Offsets,
    SourceTopicMissingError,
    SourceUnavailableError,
    check_resume_points,
    deleted_outside,
    fill_and_trim,
    is_filler,
    partitions_to_fill,
    read_offsets,
    recreated_outside,
)
from clusterlink.engine.segments import Segment
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection, LinkAdmin, base_config
from clusterlink.kafka.reader import read_at
from clusterlink.store import progress

log = logging.getLogger(__name__)

# How long one prepare pass waits for the destination broker to serve a topic (one it
# just created, typically); the mirrors whose topics it does not serve yet are
# prepared again shortly.
CREATED_TOPIC_WAIT_S = 2.0


@dataclass(frozen=True)
class MirrorSpec:
    mirror_id: int
    topic: str
    source_topic: str
    # Set when the mirror was created with restore (engine.restore).
    set_aside_topic: str = ""

    @property
    def task_name(self) -> str:
        return f"mirrorTopics/{self.topic}"


@dataclass(frozen=True)
class Clusters:
    """The admin side of a link: one admin client per cluster, built once per runtime."""

    source: Connection
    destination: Connection
    src_admin: LinkAdmin
    dst_admin: LinkAdmin
    timeout: float

    @classmethod
    def connect(cls, source: Connection, destination: Connection, timeout: float) -> Clusters:
        timeout_ms = int(timeout * 1000)
        return cls(source, destination, LinkAdmin(source, timeout_ms), LinkAdmin(destination, timeout_ms), timeout)

    def renewed(self) -> Clusters:
        """The same clusters with new admin clients (fresh metadata)."""
        return Clusters.connect(self.source, self.destination, self.timeout)

    def reader(self, conn: Connection, *, committed: bool) -> dict[str, Any]:
        return {**base_config(conn), "isolation.level": "read_committed" if committed else "read_uncommitted"}


# A librdkafka future not done in time raises concurrent.futures' TimeoutError.
_UNANSWERED = (KafkaException, FutureTimeout, kerrors.KafkaError)


def _said(exc: BaseException) -> str:
    return str(exc) or f"no answer within the request timeout ({exc.__class__.__name__})"


def prepare_many(specs: list[MirrorSpec], clusters: Clusters, factory: progress.Factory,
                 config_keys: frozenset[str], topic_ids: Mapping[int, str] | None = None,
                 ) -> dict[int, dict[int, PartitionState] | Exception]:
    """Makes the destinations of many mirrors ready; per mirror, its start points or its error.

    The admin calls go out once for all of them (metadata, configs, topic
    creation, offsets), so preparing 500 mirrors costs a handful of requests,
    not thousands. An error that concerns one mirror (its source topic is
    missing, a destination topic has more partitions) is that mirror's alone;
    a cluster that cannot be reached fails the whole batch, which is retried.
    A new destination topic gets its source topic's dynamic configs for
    `config_keys` (config.topic_configs.synced_keys). `topic_ids` holds the
    destination topic ids of mirrors that copied before (mirror id -> id): such a
    topic that is gone or has another id now fails its mirror (see _replaced).
    """
    timeout = clusters.timeout
    out: dict[int, dict[int, PartitionState] | Exception] = {}
    try:
        src_meta = clusters.src_admin.list_topics(timeout=timeout)
        counts: dict[int, int] = {}
        for m in specs:
            info = src_meta.topics.get(m.source_topic)
            if info is None or info.error is not None:
                out[m.mirror_id] = SourceTopicMissingError(
                    f"source topic {m.source_topic!r} does not exist on the source cluster; "
                    "create it there, or delete this mirror topic")
            else:
                counts[m.mirror_id] = len(info.partitions)
        live = [m for m in specs if m.mirror_id in counts]
        dynamic = kadmin.dynamic_configs_many(clusters.src_admin, {m.source_topic for m in live}, timeout)
        overrides = {t: {k: v for k, v in (c or {}).items() if k in config_keys} for t, c in dynamic.items()}
    except _UNANSWERED as exc:
        raise SourceUnavailableError(f"cannot read topics on the source cluster: {_said(exc)}") from exc
    try:
        dst_meta = clusters.dst_admin.list_topics(timeout=timeout)
        out.update(_replaced(live, dst_meta, topic_ids or {}, clusters))
        live = [m for m in live if m.mirror_id not in out]
        create: list[tuple[str, int, dict[str, str]]] = []
        alter: dict[str, dict[str, str]] = {}
        desired: dict[int, dict[str, str]] = {}
        for m in live:
            want = desired[m.mirror_id] = {**overrides[m.source_topic], **kadmin.MIRROR_FIXED_CONFIGS}
            count, info = counts[m.mirror_id], dst_meta.topics.get(m.topic)
            if info is None or info.error is not None:
                create.append((m.topic, count, want))
            elif len(info.partitions) > count:
                out[m.mirror_id] = FatalMirrorError(
                    f"destination topic {m.topic!r} has {len(info.partitions)} partitions but source topic "
                    f"{m.source_topic!r} has {count}; delete or rename the destination topic")
            else:
                if len(info.partitions) < count:
                    # The source grew (Kafka only adds partitions): the new
                    # ones start empty on both sides, so offsets stay equal.
                    kadmin.grow_partitions(clusters.dst_admin, m.topic, count, timeout)
                alter[m.topic] = want
        problems = {**kadmin.create_topics_many(clusters.dst_admin, create, timeout),
                    **kadmin.set_topic_configs_many(clusters.dst_admin, alter, timeout)}
    except _UNANSWERED as exc:
        raise DestinationError(f"cannot prepare destination topics: {_said(exc)}") from exc
    for m in live:
        if problems.get(m.topic) is not None and m.mirror_id not in out:
            out[m.mirror_id] = DestinationError(f"cannot prepare destination topic {m.topic!r}: {problems[m.topic]}")
    ready = [m for m in live if m.mirror_id not in out]
    if not ready:
        return out
    src_parts = {m.source_topic: list(range(counts[m.mirror_id])) for m in ready}
    dst_parts = {m.topic: list(range(counts[m.mirror_id])) for m in ready}
    try:
        src_low = kadmin.list_offsets_many(clusters.src_admin, src_parts, "earliest", timeout)
        src_high = kadmin.list_offsets_many(clusters.src_admin, src_parts, "latest", timeout)
    except _UNANSWERED as exc:
        raise SourceUnavailableError(f"cannot read offsets on the source cluster: {_said(exc)}") from exc
    try:
        # Bounded: the mirrors whose destination topics the broker serves go on
        # now; the others (created a moment ago) are prepared again shortly.
        wait = min(timeout, CREATED_TOPIC_WAIT_S)
        dst_low, unserved = kadmin.list_offsets_settled(clusters.dst_admin, dst_parts, "earliest", timeout, wait)
        dst_high, late = kadmin.list_offsets_settled(
            clusters.dst_admin, {t: p for t, p in dst_parts.items() if t not in unserved}, "latest", timeout, wait)
        unserved.update(late)
    except _UNANSWERED as exc:
        raise DestinationError(f"cannot read offsets on the destination cluster: {_said(exc)}") from exc
    for m in ready:
        if m.topic in unserved:
            out[m.mirror_id] = DestinationTopicNotServedError(
                f"destination topic {m.topic!r} has partitions without a leader yet "
                f"(a new topic the broker is still creating, or a broker down): {unserved[m.topic].str()}")
    ready = [m for m in ready if m.mirror_id not in out]
    segments = progress.load_link_segments(factory, [m.mirror_id for m in ready])
    for m in ready:
        try:
            src = Offsets(src_low[m.source_topic], src_high[m.source_topic])
            dst = Offsets(dst_low[m.topic], dst_high[m.topic])
            out[m.mirror_id] = _start_points(m, clusters, src, dst, segments.get(m.mirror_id, {}),
                                             desired[m.mirror_id].get("cleanup.policy", "delete"))
        except Exception as exc:  # noqa: BLE001 - one mirror's problem stays its own
            out[m.mirror_id] = exc
    return out


def _replaced(mirrors: list[MirrorSpec], dst_meta: Any, topic_ids: Mapping[int, str],
              clusters: Clusters) -> dict[int, FatalMirrorError]:
    """Mirrors whose destination topic was deleted, or deleted and created again,
    since they last copied: while ClusterLink was down, or the mirror paused or
    stopped. Creating the topic anew, or copying on into the new one, would start
    the copy over in silence; the running data path fails such a mirror too."""
    known = [m for m in mirrors if topic_ids.get(m.mirror_id)]
    present = {m.topic for m in known
               if (info := dst_meta.topics.get(m.topic)) is not None and info.error is None}
    ids = wire.topic_ids(clusters.destination, present, clusters.timeout)
    out: dict[int, FatalMirrorError] = {}
    for m in known:
        topic_id = ids.get(m.topic)
        if topic_id is None:
            out[m.mirror_id] = deleted_outside(m.topic)
        elif topic_id != topic_ids[m.mirror_id]:
            out[m.mirror_id] = recreated_outside(m.topic)
    return out


def _start_points(m: MirrorSpec, clusters: Clusters, src: Offsets, dst: Offsets,
                  segments: dict[int, list[Segment]], cleanup_policy: str) -> dict[int, PartitionState]:
    """Moves an empty destination's log start, checks the resume point, and returns the start points."""
    targets = partitions_to_fill(src, dst, segments, lambda offs: _last_is_filler(m, clusters, offs))
    if targets:
        log.info("mirror %s: moving log start to %s", m.topic, targets)
        _fill(m, clusters, src, dst, targets, cleanup_policy)
    check_resume_points(
        clusters.reader(clusters.source, committed=True),
        clusters.reader(clusters.destination, committed=False),
        m.source_topic, m.topic, dst, src.high, segments, clusters.timeout,
    )
    states = {p: PartitionState.start(m.mirror_id, p, dst.high[p], segments.get(p, [])) for p in sorted(dst.high)}
    for p, st in states.items():
        st.source_log_start, st.source_end = src.low[p], src.high[p]  # until the first fetch answers
    return states


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
            src.high, segments, timeout,
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
