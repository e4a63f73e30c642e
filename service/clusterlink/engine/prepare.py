"""Preparing a destination topic before records flow.

Steps, each safe to repeat after a crash at any point (creating the
destination topic itself is batched for many mirrors in engine.mirror):
1. an empty destination partition starts at the source's log start offset
   (throw-away "filler" records, then DeleteRecords), so offsets stay equal;
2. the last record already on the destination equals its source record, so
   a foreign write is caught before it can shift offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from clusterlink.engine.segments import Segment, destination_for_source, source_for_destination
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka.reader import read_at

FILLER_HEADER = "clusterlink.filler"
_NEEDS_DELETE = "the link's user needs Delete on the destination topic (DeleteRecords)"
_FILLER_HEADERS = [(FILLER_HEADER, b"1")]


class FatalMirrorError(Exception):
    """Mirroring cannot go on without a person; the message says what to do."""


class SourceTopicMissingError(FatalMirrorError):
    """The source topic does not exist: a new mirror waits for it, a running one fails."""


class SourceUnavailableError(Exception):
    """The source cluster cannot be reached; mirroring resumes by itself."""


class DestinationError(Exception):
    """The destination refused or could not be reached; retried with backoff."""


class DestinationTopicNotServedError(DestinationError):
    """A destination topic has partitions without a leader yet, typically one the
    broker is still creating: the mirror waits and is prepared again shortly."""


def deleted_outside(topic: str) -> FatalMirrorError:
    """A mirror's destination topic that someone deleted: creating it anew would
    silently start the copy over without the records mirrored into it."""
    return FatalMirrorError(
        f"destination topic {topic!r} was deleted on the destination cluster, not through ClusterLink, "
        "and the records mirrored into it with it. Delete this mirror topic and create it again to "
        "mirror the source topic from its start")


def recreated_outside(topic: str) -> FatalMirrorError:
    """A mirror's destination topic deleted and created again under the same name (a new topic id)."""
    return FatalMirrorError(
        f"destination topic {topic!r} was deleted and created again on the destination cluster, not "
        "through ClusterLink; its offsets are no longer the source's. Delete this mirror topic (and the "
        "destination topic) and create it again to mirror the source topic from its start")


@dataclass
class Offsets:
    low: dict[int, int]
    high: dict[int, int]


def read_offsets(admin: AdminClient, topic: str, partitions: list[int], timeout: float) -> Offsets:
    return Offsets(
        low=kadmin.list_offsets(admin, topic, partitions, "earliest", timeout),
        high=kadmin.list_offsets(admin, topic, partitions, "latest", timeout),
    )


def is_filler(msg: Message | None) -> bool:
    return msg is not None and any(k == FILLER_HEADER for k, _ in (msg.headers() or []))


def partitions_to_fill(
    src: Offsets,
    dst: Offsets,
    segments: dict[int, list[Segment]],
    last_is_filler: Callable[[dict[int, int]], dict[int, bool]],
) -> dict[int, int]:
    """Partitions whose destination must be moved up to the source log start.

    That is every exact partition whose destination holds no real record
    while the source log starts above the destination's end (it is empty, or
    it holds only filler from an interrupted run), or holds only filler up to
    the source's log start (the trim failed). Returns partition -> target.
    """
    candidates = {
        p: dst.high[p]
        for p in src.low
        if not segments.get(p) and src.low[p] >= dst.high[p]
    }
    maybe_partial = {p: h - 1 for p, h in candidates.items() if dst.low[p] < h}
    filler = last_is_filler(maybe_partial) if maybe_partial else {}
    # A destination holding only filler up to the source's log start was
    # filled but not trimmed (DeleteRecords failed): it is trimmed again, so
    # no filler stays readable under the mirror.
    return {
        p: src.low[p]
        for p in candidates
        if (dst.low[p] == dst.high[p] and src.low[p] > dst.high[p]) or filler.get(p, False)
    }


def fill_and_trim(
    producer: Producer,
    dst_admin: AdminClient,
    topic: str,
    dst: Offsets,
    targets: dict[int, int],
    cleanup_policy: str,
    timeout: float,
    timestamps: dict[int, int] | None = None,
) -> None:
    """Writes filler up to each target offset, then deletes everything below it.

    `timestamps` (partition -> ms) stamps the filler of a partition; the
    caller passes the source's first record timestamp so that time-based
    retention ages the mirror's first segment like the source's.
    """
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    for partition, target in targets.items():
        stamp = (timestamps or {}).get(partition, 0)
        for _ in range(target - dst.high[partition]):
            while True:
                try:
                    producer.produce(topic, None, None, partition=partition, headers=_FILLER_HEADERS,
                                     on_delivery=on_delivery, timestamp=stamp)
                    break
                except BufferError:
                    producer.poll(0.1)
    if producer.flush(max(timeout, 60.0)) > 0 or failures:
        raise DestinationError(f"could not write filler records to {topic!r}: {failures[:1] or 'flush timed out'}")
    try:
        high = kadmin.list_offsets(dst_admin, topic, list(targets), "latest", timeout)
        short = {p: (high[p], t) for p, t in targets.items() if high[p] != t}
        if short:
            # Someone else wrote to the destination partition meanwhile.
            raise FatalMirrorError(
                f"destination topic {topic!r} was written outside the link while it was being "
                f"prepared (partition -> (end offset, expected)): {short}"
            )
        # DeleteRecords needs the delete policy; compacted topics get it briefly.
        if "delete" not in cleanup_policy:
            kadmin.set_topic_configs(dst_admin, topic, {"cleanup.policy": "compact,delete"}, timeout)
        kadmin.delete_records_before(dst_admin, topic, targets, timeout)
        if "delete" not in cleanup_policy:
            kadmin.set_topic_configs(dst_admin, topic, {"cleanup.policy": cleanup_policy}, timeout)
        # Checked, not assumed: a refused DeleteRecords must not leave the
        # filler readable under a mirror that looks exact.
        low = kadmin.list_offsets(dst_admin, topic, list(targets), "earliest", timeout)
    except KafkaException as exc:
        refused = exc.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        raise DestinationError(f"could not move the log start of {topic!r}: {exc}"
                               + (f"; {_NEEDS_DELETE}" if refused else "")) from exc
    behind = {p: (low[p], t) for p, t in targets.items() if low[p] < t}
    if behind:
        raise DestinationError(f"could not move the log start of {topic!r} (partition -> (log start, wanted)): "
                               f"{behind}; DeleteRecords did not take effect: {_NEEDS_DELETE}")
    for partition, target in targets.items():
        dst.low[partition] = dst.high[partition] = target


def record_identity(msg: Message) -> tuple[Any, ...]:
    return (msg.key(), msg.value(), msg.headers() or [], msg.timestamp()[1])


class DivergenceError(FatalMirrorError):
    """The destination holds records that are not the source's, from `points[p]` on.

    `ends` are the destination's end offsets when it was found. A mirror
    created with restore sets those records aside (engine.restore) instead of failing.
    """

    def __init__(self, message: str, points: dict[int, int], ends: dict[int, int]):
        super().__init__(message)
        self.points = points
        self.ends = ends


def divergence_points(
    src_config: dict[str, Any],
    dst_config: dict[str, Any],
    source_topic: str,
    topic: str,
    dst: Offsets,
    src_high: dict[int, int],
    segments: dict[int, list[Segment]],
    timeout: float,
) -> dict[int, int]:
    """Per partition whose destination holds records that are not the source's:
    the first such destination offset. Empty when the destination is a prefix.

    The last record of each destination partition is compared with its
    source record; a destination that reaches past the source's end is not
    the source's either. Where they differ, the divergence point is found by
    bisecting the overlap.
    """
    probes = {p: dst.high[p] - 1 for p in dst.high if dst.high[p] > dst.low[p]}
    if not probes:
        return {}
    past_end = {p for p, o in probes.items()
                if source_for_destination(segments.get(p, []), o) >= src_high.get(p, 0)}
    same = _same_records(src_config, dst_config, source_topic, topic,
                         {p: o for p, o in probes.items() if p not in past_end}, segments, timeout)
    diverged = past_end | {p for p, ok in same.items() if not ok}
    if not diverged:
        return {}
    ends = {p: min(dst.high[p], destination_for_source(sorted(segments.get(p, []), key=lambda g: g.source_offset),
                                                       src_high.get(p, 0))) for p in diverged}
    return find_divergence(src_config, dst_config, source_topic, topic,
                           {p: (dst.low[p], max(dst.low[p], ends[p])) for p in diverged}, segments, timeout)


def check_resume_points(
    src_config: dict[str, Any],
    dst_config: dict[str, Any],
    source_topic: str,
    topic: str,
    dst: Offsets,
    src_high: dict[int, int],
    segments: dict[int, list[Segment]],
    timeout: float,
) -> None:
    """Raises DivergenceError, naming each divergence point, when the destination
    holds records that are not the source's."""
    points = divergence_points(src_config, dst_config, source_topic, topic, dst, src_high, segments, timeout)
    if not points:
        return
    where = "; ".join(f"partition {p} diverges from the source at offset {d} (the destination holds "
                      f"{dst.high[p] - d} record(s) from there on that are not the source's)"
                      for p, d in sorted(points.items()))
    raise DivergenceError(
        f"destination topic {topic!r} was written outside the link: {where}; mirroring stopped so offsets never "
        "shift and the destination topic is untouched. To keep those records and mirror the source, delete this "
        "mirror topic (keeping its destination topic) and create it again with restore (CLI: mirror create "
        "--restore; API: restore.enabled), which copies them to a side topic first and then replaces the "
        "destination topic; or fail over instead",
        points, {p: dst.high[p] for p in points},
    )


def find_divergence(
    src_config: dict[str, Any], dst_config: dict[str, Any], source_topic: str, topic: str,
    ranges: dict[int, tuple[int, int]], segments: dict[int, list[Segment]], timeout: float,
) -> dict[int, int]:
    """Per partition, the first destination offset in [low, high) whose record is not
    the source's (high when all compare equal), by bisection: two histories that
    parted stay apart. All partitions are probed together, one read per side per round."""
    bounds = dict(ranges)
    while True:
        probes = {p: (lo + hi) // 2 for p, (lo, hi) in bounds.items() if lo < hi}
        if not probes:
            return {p: lo for p, (lo, _hi) in bounds.items()}
        same = _same_records(src_config, dst_config, source_topic, topic, probes, segments, timeout)
        for p, o in probes.items():
            lo, hi = bounds[p]
            bounds[p] = (o + 1, hi) if same[p] else (lo, o)


def _same_records(
    src_config: dict[str, Any], dst_config: dict[str, Any], source_topic: str, topic: str,
    probes: dict[int, int], segments: dict[int, list[Segment]], timeout: float,
) -> dict[int, bool]:
    """Per partition: is the destination record at the probed offset its source record?
    Where either side holds no record at exactly that offset (retention, compaction,
    a filler), nothing can be told apart: True."""
    if not probes:
        return {}
    try:
        mirrored = read_at(dst_config, topic, probes, timeout)
    except KafkaException as exc:
        raise DestinationError(f"cannot read destination topic {topic!r}: {exc}") from exc
    wanted = {p: source_for_destination(segments.get(p, []), o) for p, o in probes.items()}
    try:
        originals = read_at(src_config, source_topic, wanted, timeout)
    except KafkaException as exc:
        raise SourceUnavailableError(f"cannot read source topic {source_topic!r}: {exc}") from exc
    out = {}
    for p, dst_offset in probes.items():
        got, want = mirrored.get(p), originals.get(p)
        if got is None or got.offset() != dst_offset or is_filler(got):
            out[p] = True
        elif want is None or want.offset() != wanted[p]:
            out[p] = True  # the source no longer holds it (retention, compaction)
        else:
            out[p] = record_identity(got) == record_identity(want)
    return out
