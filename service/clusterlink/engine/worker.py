"""One worker per mirror topic: the only writer of its destination topic.

A worker session: prepare the destination, compute the resume point of
every partition from the destination's end offset (translated through the
recorded segments), check it, then copy batches: read committed records
from the source, record any offset gap as a segment in the store, produce
with an idempotent acks=all producer to the same partition. Every status
interval it reads its orders from the store and writes progress back.

Any error ends the session; the next session starts again from what the
destination holds, so a crash or a restart never loses or duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clusterlink.engine import progress
from clusterlink.engine.prepare import (
    DestinationError,
    FatalMirrorError,
    Offsets,
    RestartSession,
    SourceTopicMissingError,
    SourceUnavailableError,
    check_resume_points,
    ensure_destination_topic,
    fill_and_trim,
    is_filler,
    partitions_to_fill,
    read_offsets,
)
from clusterlink.engine.segments import Segment, source_for_destination
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka.clients import (
    Connection,
    admin_config,
    base_config,
    destination_producer_config,
    source_consumer_config,
)
from clusterlink.kafka.reader import read_at
from clusterlink.metrics.exporter import Metrics
from clusterlink.store import lifecycle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, snapshotted from the store when it starts."""

    link_id: int
    link_name: str
    link_version: int
    mirror_id: int
    topic: str
    source_topic: str
    source: Connection = field(repr=False)
    destination: Connection = field(repr=False)
    config: dict[str, str] = field(default_factory=dict)

    @property
    def task_name(self) -> str:
        return f"mirrorTopics/{self.topic}"

    def knob(self, key: str) -> int:
        return int(self.config[key])


def run_worker(spec: WorkerSpec, factory: progress.Factory, metrics: Metrics, stop: threading.Event) -> None:
    """Runs sessions until stopped, the mirror fails, or it is promoted."""
    backoff = 1.0
    while not stop.is_set():
        session: Session | None = None
        try:
            progress.set_task(factory, spec.link_id, spec.task_name, "RUNNING")
            # Built inside the try: a bad client setting (e.g. a broken PEM) is a task error.
            session = Session(spec, factory, metrics, stop)
            session.run()
            progress.set_task(factory, spec.link_id, spec.task_name, "STOPPED")
            return
        except RestartSession as exc:
            log.info("mirror %s/%s: %s", spec.link_name, spec.topic, exc)
            backoff = 1.0
            continue
        except SourceTopicMissingError as exc:
            # A new mirror may be declared before its source topic exists (a
            # chain whose middle hop is still being created): it waits. A
            # topic that vanished under a running mirror is a failure.
            orders = progress.read_orders(factory, spec.mirror_id)
            if orders is None or orders.state != lifecycle.PENDING:
                _fail(spec, factory, str(exc))
                return
            progress.set_reason(factory, spec.mirror_id, lifecycle.PENDING, f"waiting: {exc}")
            progress.set_task(factory, spec.link_id, spec.task_name, "ERROR", str(exc))
        except FatalMirrorError as exc:
            _fail(spec, factory, str(exc))
            return
        except SourceUnavailableError as exc:
            reason = f"cannot reach the source cluster at {spec.source.bootstrap_servers}: {exc}"
            progress.compare_and_set_state(
                factory,
                spec.mirror_id,
                [lifecycle.PENDING, lifecycle.ACTIVE],
                lifecycle.SOURCE_UNAVAILABLE,
                reason,
            )
            progress.set_task(factory, spec.link_id, spec.task_name, "ERROR", reason)
        except Exception as exc:  # noqa: BLE001 - any other error: start a fresh session
            log.warning("mirror %s/%s session ended: %s", spec.link_name, spec.topic, exc)
            progress.set_task(factory, spec.link_id, spec.task_name, "ERROR", str(exc))
        if session is not None and session.copied:
            backoff = 1.0  # a session that mirrored was healthy: this is a new problem
        # Retry backoff, cut short by a stop request.
        stop.wait(backoff)
        backoff = min(backoff * 2, 10.0)


def _fail(spec: WorkerSpec, factory: progress.Factory, reason: str) -> None:
    log.error("mirror %s/%s failed: %s", spec.link_name, spec.topic, reason)
    progress.compare_and_set_state(factory, spec.mirror_id, lifecycle.RUNNING_STATES, lifecycle.FAILED, reason)
    progress.set_task(factory, spec.link_id, spec.task_name, "ERROR", reason)


class Session:
    """One run of a worker, from preparation until it stops or fails."""

    def __init__(self, spec: WorkerSpec, factory: progress.Factory, metrics: Metrics, stop: threading.Event):
        self.spec = spec
        self.factory = factory
        self.stop = stop
        self.timeout = spec.knob("source.request.timeout.ms") / 1000
        self.records = metrics.records.labels(spec.link_name, spec.topic)
        self.bytes = metrics.bytes.labels(spec.link_name, spec.topic)
        self.src_admin = AdminClient(admin_config(spec.source, int(self.timeout * 1000)))
        self.dst_admin = AdminClient(admin_config(spec.destination, int(self.timeout * 1000)))
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.copied = False  # whether any record was written in this session

    # -- preparation ---------------------------------------------------------

    def run(self) -> None:
        spec = self.spec
        count, desired = ensure_destination_topic(
            self.src_admin, self.dst_admin, spec.source_topic, spec.topic, self.timeout
        )
        self.partitions = list(range(count))
        try:
            src = read_offsets(self.src_admin, spec.source_topic, self.partitions, self.timeout)
        except KafkaException as exc:
            raise SourceUnavailableError(str(exc)) from exc
        try:
            dst = read_offsets(self.dst_admin, spec.topic, self.partitions, self.timeout)
        except KafkaException as exc:
            raise DestinationError(f"cannot read offsets of destination topic {spec.topic!r}: {exc}") from exc
        self.segments = progress.load_segments(self.factory, spec.mirror_id)
        self.producer = Producer(
            destination_producer_config(
                spec.destination,
                compression=spec.config["mirror.producer.compression.type"],
                linger_ms=spec.knob("mirror.producer.linger.ms"),
                buffer_kbytes=spec.knob("mirror.buffer.max.kbytes"),
            ),
            error_cb=self._on_producer_error,
        )
        try:
            targets = partitions_to_fill(src, dst, self.segments, self._last_is_filler)
            if targets:
                log.info("mirror %s/%s: moving log start to %s", spec.link_name, spec.topic, targets)
                fill_and_trim(
                    self.producer, self.dst_admin, spec.topic, dst, targets,
                    desired.get("cleanup.policy", "delete"), self.timeout,
                )
            check_resume_points(
                self._reader_config(spec.source, committed=True),
                self._reader_config(spec.destination, committed=False),
                spec.source_topic, spec.topic, dst, self.segments, self.timeout,
            )
            progress.compare_and_set_state(
                self.factory, spec.mirror_id, [lifecycle.PENDING, lifecycle.SOURCE_UNAVAILABLE], lifecycle.ACTIVE
            )
            self._mirror(src, dst)
        finally:
            self._close_producer()

    def _reader_config(self, conn: Connection, *, committed: bool) -> dict[str, Any]:
        return {**base_config(conn), "isolation.level": "read_committed" if committed else "read_uncommitted"}

    def _last_is_filler(self, offsets: dict[int, int]) -> dict[int, bool]:
        found = read_at(self._reader_config(self.spec.destination, committed=False),
                        self.spec.topic, offsets, self.timeout)
        return {p: is_filler(m) and m.offset() == offsets[p] for p, m in found.items() if m is not None}

    def _on_producer_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.errors.append(f"destination producer failed: {err}")
        else:
            log.debug("destination producer: %s", err)

    def _close_producer(self) -> None:
        # Whatever was handed to the producer is real source data in order:
        # let it land if the destination allows, then drop the rest (the
        # next session resumes from the destination's end, not from here).
        if self.producer.flush(10.0) > 0:
            self.producer.purge()
            self.producer.flush(1.0)

    # -- the copy loop -------------------------------------------------------

    def _mirror(self, src: Offsets, dst: Offsets) -> None:
        spec = self.spec
        # Per partition: the next source offset expected and the next
        # destination offset to be written; acked_* follow delivery reports.
        self.next_src = {p: source_for_destination(self.segments.get(p, []), dst.high[p]) for p in self.partitions}
        self.next_dst = dict(dst.high)
        self.acked_src = dict(self.next_src)
        self.acked_dst = dict(dst.high)
        self.src_offsets = src
        consumer = Consumer(
            source_consumer_config(
                spec.source,
                fetch_max_bytes=spec.knob("mirror.fetch.max.bytes"),
                buffer_kbytes=spec.knob("mirror.buffer.max.kbytes"),
                group_id=f"clusterlink-{spec.link_name}",
            )
        )
        try:
            consumer.assign([TopicPartition(spec.source_topic, p, self.next_src[p]) for p in self.partitions])
            self.consumer = consumer
            batch = spec.knob("mirror.batch.max.records")
            interval = spec.knob("mirror.status.interval.ms") / 1000
            last_status = 0.0
            while not self.stop.is_set():
                # consume() waits for a full batch or the timeout: a short one
                # keeps latency low at modest rates, and fills batches anyway
                # under load.
                messages = consumer.consume(batch, 0.01)
                if messages:
                    self._copy(messages)
                self.producer.poll(0)
                self._raise_on_delivery_problems()
                now = time.monotonic()
                if now - last_status >= interval:
                    last_status = now
                    if not self._report_and_obey():
                        break
            self.producer.flush(10.0)
            self._raise_on_delivery_problems()
            self._write_progress(self.src_offsets)
        finally:
            consumer.close()

    def _copy(self, messages: list[Message]) -> None:
        topic = self.spec.topic
        next_src, next_dst = self.next_src, self.next_dst
        gaps: dict[int, list[Segment]] = {}
        last: dict[int, int] = {}
        good: list[Message] = []
        # Pass 1: offsets only. Gaps are stored before any record past them
        # is produced, so a crash can never leave an unexplained shift.
        for m in messages:
            err = m.error()
            if err is not None:
                self._on_consume_error(err)
                continue
            p, o = m.partition(), m.offset()
            expected = next_src[p]
            if o != expected:
                if o < expected:
                    raise RuntimeError(f"source partition {p} went back from {expected} to {o}")
                gaps.setdefault(p, []).append(Segment(o, next_dst[p]))
            next_src[p] = o + 1
            next_dst[p] += 1
            last[p] = len(good)
            good.append(m)
        if gaps:
            progress.save_segments(self.factory, self.spec.mirror_id, gaps)
            for p, segs in gaps.items():
                self.segments.setdefault(p, []).extend(segs)
        # Pass 2: produce in order; only the last record of each partition
        # carries a delivery check.
        checks = {i: self._delivery_check(p, next_dst[p], next_src[p]) for p, i in last.items()}
        produce, poll = self.producer.produce, self.producer.poll
        size = 0
        for i, m in enumerate(good):
            key, value = m.key(), m.value()
            ts_type, ts = m.timestamp()
            while True:
                try:
                    produce(topic, value, key, partition=m.partition(), on_delivery=checks.get(i),
                            timestamp=ts if ts_type else 0, headers=m.headers())
                    break
                except BufferError:
                    poll(0.1)
            if value is not None:
                size += len(value)
            if key is not None:
                size += len(key)
        self.records.inc(len(good))
        self.bytes.inc(size)
        self.copied = True

    def _delivery_check(self, partition: int, dst_end: int, src_end: int):  # type: ignore[no-untyped-def]
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.errors.append(f"write to destination partition {partition} failed: {err}")
            elif msg.offset() != dst_end - 1:
                self.foreign.append(
                    f"destination topic {self.spec.topic!r} partition {partition} was written outside "
                    f"the link: a mirrored record landed at offset {msg.offset()} instead of {dst_end - 1}; "
                    "mirroring stopped so offsets never shift. Fail over, or delete the destination "
                    "topic and create the mirror again"
                )
            else:
                self.acked_dst[partition] = dst_end
                self.acked_src[partition] = src_end

        return on_delivery

    def _on_consume_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal() or err.code() in (
            KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError._UNKNOWN_TOPIC,
        ):
            raise KafkaException(err)
        # Transport errors: librdkafka reconnects; the status check reports
        # SOURCE_UNAVAILABLE if it lasts.
        log.debug("source consumer: %s", err)

    def _raise_on_delivery_problems(self) -> None:
        if self.foreign:
            raise FatalMirrorError(self.foreign[0])
        if self.errors:
            raise DestinationError(self.errors[0])

    # -- status and orders ---------------------------------------------------

    def _report_and_obey(self) -> bool:
        """Writes progress and applies the store's orders; False ends the session."""
        spec = self.spec
        orders = progress.read_orders(self.factory, spec.mirror_id)
        if orders is None or orders.link_paused or orders.state not in lifecycle.RUNNING_STATES:
            return False
        try:
            self.src_offsets = read_offsets(self.src_admin, spec.source_topic, self.partitions, self.timeout)
            reachable = True
        except KafkaException as exc:
            self._raise_if_source_topic_gone(exc)
            reachable = False
            reason = f"cannot reach the source cluster at {spec.source.bootstrap_servers}: {exc}"
            if progress.compare_and_set_state(
                self.factory, spec.mirror_id, [lifecycle.PENDING, lifecycle.ACTIVE],
                lifecycle.SOURCE_UNAVAILABLE, reason,
            ):
                progress.set_task(self.factory, spec.link_id, spec.task_name, "ERROR", reason)
        if reachable and orders.state == lifecycle.SOURCE_UNAVAILABLE:
            if progress.compare_and_set_state(
                self.factory, spec.mirror_id, [lifecycle.SOURCE_UNAVAILABLE], lifecycle.ACTIVE
            ):
                progress.set_task(self.factory, spec.link_id, spec.task_name, "RUNNING")
        rows = self._write_progress(self.src_offsets)
        if rows is None:
            return False
        if reachable:
            self._restart_if_source_grew()
        if orders.state == lifecycle.PROMOTING and reachable:
            return not self._try_promote(rows)
        return True

    def _restart_if_source_grew(self) -> None:
        try:
            count = kadmin.partition_count(self.src_admin, self.spec.source_topic, self.timeout)
        except KafkaException:
            return  # the next tick tells
        if count is not None and count > len(self.partitions):
            raise RestartSession(
                f"source topic grew from {len(self.partitions)} to {count} partitions; "
                "adding them to the mirror"
            )

    def _raise_if_source_topic_gone(self, exc: KafkaException) -> None:
        if exc.args[0].code() not in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            return
        try:
            missing = kadmin.partition_count(self.src_admin, self.spec.source_topic, self.timeout) is None
        except KafkaException:
            return  # cannot tell: treat as unreachable
        if missing:
            raise SourceTopicMissingError(
                f"source topic {self.spec.source_topic!r} was deleted on the source cluster; "
                "the mirrored records stay on the destination. Fail over or delete this mirror topic"
            )

    def _mirrored_source_offsets(self) -> dict[int, int]:
        """Per partition, the source offset below which everything is on the destination.

        The consumer's position runs past offsets it never hands out (a
        trailing transaction marker); when nothing is in flight those count
        as mirrored, so a caught-up transactional partition shows lag 0.
        """
        out = dict(self.acked_src)
        positions = self.consumer.position(
            [TopicPartition(self.spec.source_topic, p) for p in self.partitions]
        )
        for tp in positions:
            p = tp.partition
            if self.acked_dst[p] == self.next_dst[p] and tp.offset >= 0:
                out[p] = max(out[p], tp.offset)
        return out

    def _write_progress(self, src: Offsets) -> list[progress.PartitionProgress] | None:
        mirrored = self._mirrored_source_offsets()
        rows = [
            progress.PartitionProgress(
                partition=p,
                source_log_start_offset=src.low[p],
                source_end_offset=src.high[p],
                mirror_end_offset=self.acked_dst[p],
                mirrored_source_offset=mirrored[p],
                translated=bool(self.segments.get(p)),
            )
            for p in self.partitions
        ]
        if not progress.write_progress(self.factory, self.spec.mirror_id, rows):
            return None
        return rows

    def _try_promote(self, rows: list[progress.PartitionProgress]) -> bool:
        behind = {r.partition: r.lag for r in rows if r.lag > 0}
        if behind:
            total = sum(behind.values())
            progress.set_reason(
                self.factory, self.spec.mirror_id, lifecycle.PROMOTING,
                f"waiting for lag 0 before promoting: {total} records behind on partitions "
                f"{sorted(behind)}",
            )
            return False
        return progress.compare_and_set_state(
            self.factory, self.spec.mirror_id, [lifecycle.PROMOTING], lifecycle.PROMOTED
        )

