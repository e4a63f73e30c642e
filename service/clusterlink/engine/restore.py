"""Failback restore: set a diverged destination's own records aside, then replace the topic.

A destination topic that was the primary (after a failover) can hold records
past the point where it parted from the source. Kafka cannot cut the end of
a log, so a restore:
1. copies every committed record from each partition's divergence point to
   the partition's end into a side topic on the destination cluster, keeping
   key, value, headers and timestamp, plus the original offset in a header;
2. deletes the destination topic once all of it is set aside, after which
   the mirror prepares it again (created, filled to the source's log start,
   mirrored with equal offsets).

Crash safety: the copy runs in Kafka transactions of one transactional id per
mirror, so a restarted service fences the dead one's producer (its open
transaction is aborted) and a read_committed reader of the side topic sees
every record once. The next record to copy is one past the largest original
offset committed in the side topic, so nothing is set aside twice. The state
in the store (SETTING_ASIDE, REPLACING, DONE) is written before each step that
depends on it: the topic is only ever deleted after the side topic holds all
of it, and a restart in REPLACING just finishes the deletion.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from clusterlink.engine.prepare import (
    DestinationError,
    DivergenceError,
    FatalMirrorError,
    divergence_points,
    read_offsets,
)
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka.clients import Connection, LinkAdmin, base_config
from clusterlink.store import progress

log = logging.getLogger(__name__)

ORIGINAL_OFFSET_HEADER = "clusterlink.original.offset"
# The side topic keeps what it holds until a person deletes it: the records
# carry their original, possibly old, timestamps, which time-based retention
# would otherwise delete at once.
SIDE_TOPIC_CONFIGS = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete",
                      "message.timestamp.type": "CreateTime"}

REQUESTED, SETTING_ASIDE, REPLACING, DONE = "REQUESTED", "SETTING_ASIDE", "REPLACING", "DONE"
_READERS_GROUP = "Describe on groups PREFIXED 'clusterlink-restore-' (the restore's readers)"


@contextmanager
def _needs(refused: dict[int, str]) -> Iterator[None]:
    """An authorization refusal (error code -> the ACL it means) becomes a reason that
    names what the link's user lacks; librdkafka's own text names neither."""
    try:
        yield
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        code = err.code() if isinstance(err, KafkaError) else None
        if code in refused:
            raise DestinationError(f"the link's user needs {refused[code]} on the destination cluster "
                                   f"({err.str()})") from exc
        raise


@dataclass
class SetAside:
    """One diverged partition: what is set aside (the store keeps `asdict`)."""

    partition: int
    divergence_offset: int
    end_offset: int
    side_start_offset: int = 0
    records: int = 0


def plan(points: dict[int, int], ends: dict[int, int], side_starts: dict[int, int]) -> list[SetAside]:
    return [SetAside(p, d, ends[p], side_starts.get(p, 0)) for p, d in sorted(points.items())]


def rows(parts: list[SetAside]) -> list[dict[str, int]]:
    return [asdict(p) for p in parts]


def from_rows(stored: list[dict[str, int]] | None) -> list[SetAside]:
    return [SetAside(**r) for r in stored or []]


def describe(state: str, stored: list[dict[str, int]], side_topic: str) -> str:
    """The mirror's reason while a restore runs."""
    what = "; ".join(f"partition {s.partition}: {s.records} record(s) from offset {s.divergence_offset}"
                     for s in from_rows(stored))
    doing = "replacing the destination topic" if state == REPLACING else "setting records aside"
    return f"restore: {doing}; set aside in {side_topic!r} so far: {what or 'none'}"


def transactional_id(link: str, topic: str) -> str:
    return f"clusterlink-restore-{link}-{topic}"


def _reader(conn: Connection) -> Consumer:
    return Consumer({**base_config(conn), "group.id": f"clusterlink-restore-{uuid.uuid4()}",
                     "isolation.level": "read_committed", "enable.auto.commit": False,
                     "enable.partition.eof": True, "auto.offset.reset": "earliest"})


def read_range(consumer: Consumer, topic: str, starts: dict[int, int], limit: int,
               timeout: float) -> Iterator[Message]:
    """Committed records from each start to the partition's end as seen now, at most
    `limit` in all. Stops early (no error) when the deadline passes."""
    if not starts:
        return
    consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
    open_parts, given = set(starts), 0
    deadline = time.monotonic() + timeout
    while open_parts and given < limit and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.partition() not in open_parts:
            continue
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                open_parts.discard(msg.partition())
                continue
            if err.fatal() or not err.retriable():
                with _needs({KafkaError.TOPIC_AUTHORIZATION_FAILED: f"Read on topic {topic!r}",
                             KafkaError.GROUP_AUTHORIZATION_FAILED: _READERS_GROUP}):
                    raise KafkaException(err)
            continue
        given += 1
        yield msg
    if open_parts and given < limit:
        raise DestinationError(f"reading {topic!r} for the restore timed out after {timeout:.0f}s; retrying")


def count_divergent(conn: Connection, topic: str, points: dict[int, int], timeout: float) -> dict[int, int]:
    """Committed records per partition from its divergence point on: what a restore sets aside."""
    counts = dict.fromkeys(points, 0)
    consumer = _reader(conn)
    try:
        for msg in read_range(consumer, topic, points, 2**62, timeout):
            counts[msg.partition()] += 1
    finally:
        consumer.close()
    return counts


class Restorer:
    """Runs one mirror's restore in steps; the link's scheduler calls `step` until it returns True."""

    def __init__(self, link: str, topic: str, side_topic: str, destination: Connection, admin: LinkAdmin,
                 timeout: float, chunk_records: int):
        # One transaction per step: bounded work for the link's scheduler.
        self.chunk_records = chunk_records
        self.topic, self.side_topic = topic, side_topic
        self._link, self._conn, self._admin, self._timeout = link, destination, admin, timeout
        self._producer: Producer | None = None
        self._next: dict[int, int] = {}  # partition -> next destination offset to set aside
        self._copied: dict[int, int] = {}  # partition -> records committed in the side topic

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(1.0)
            self._producer = None

    # -- side topic ------------------------------------------------------------

    def side_starts(self) -> dict[int, int]:
        """Creates the side topic when missing, with the destination topic's partition
        count; the end offset of each partition (where this restore starts)."""
        meta = self._admin.list_topics(timeout=self._timeout)
        own = meta.topics.get(self.topic)
        if own is None or own.error is not None:
            raise DestinationError(f"cannot read topic {self.topic!r} on the destination cluster")
        partitions = len(own.partitions)
        info = meta.topics.get(self.side_topic)
        if info is None or info.error is not None:
            configs = dict(SIDE_TOPIC_CONFIGS)
            current = kadmin.dynamic_configs_many(self._admin, {self.topic}, self._timeout).get(self.topic) or {}
            if "max.message.bytes" in current:  # the records fit the diverged topic's limit
                configs["max.message.bytes"] = current["max.message.bytes"]
            problem = kadmin.create_topics_many(self._admin, [(self.side_topic, partitions, configs)],
                                                self._timeout)[self.side_topic]
            if problem is not None:
                with _needs({KafkaError.TOPIC_AUTHORIZATION_FAILED: f"Create on the side topic {self.side_topic!r}"}):
                    raise problem
                raise DestinationError(f"cannot create the side topic {self.side_topic!r}: {problem}")
        elif len(info.partitions) < partitions:
            raise FatalMirrorError(
                f"the side topic {self.side_topic!r} has {len(info.partitions)} partitions but {self.topic!r} has "
                f"{partitions}; delete it, or create the mirror again with another set-aside topic")
        # A topic the user may not describe is missing from a full listing (and
        # "exists" when created): ask for it by name to tell the two apart.
        seen = self._admin.list_topics(topic=self.side_topic, timeout=self._timeout).topics.get(self.side_topic)
        if seen is not None and seen.error is not None and seen.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise DestinationError(f"the link's user needs Read and Write (which include Describe) on the side "
                                   f"topic {self.side_topic!r} on the destination cluster")
        return kadmin.list_offsets(self._admin, self.side_topic, list(range(partitions)), "latest", self._timeout)

    # -- copying ----------------------------------------------------------------

    def _start(self, parts: list[SetAside]) -> None:
        """Fences any earlier writer of this restore, then finds where each partition goes on from."""
        producer = Producer({**base_config(self._conn), "transactional.id": transactional_id(self._link, self.topic),
                             "acks": "all", "enable.idempotence": True, "linger.ms": 20,
                             "compression.type": "lz4", "transaction.timeout.ms": 120_000})
        tid = transactional_id(self._link, self.topic)
        with _needs({KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
                     f"Write on the TransactionalId {tid!r} (a PREFIXED ACL on 'clusterlink-restore-' covers "
                     "every mirror)"}):
            producer.init_transactions(self._timeout)
        self._producer = producer
        self._next = {s.partition: s.divergence_offset for s in parts}
        self._copied = dict.fromkeys(self._next, 0)
        consumer = _reader(self._conn)
        try:
            for msg in read_range(consumer, self.side_topic, {s.partition: s.side_start_offset for s in parts},
                                  2**62, max(self._timeout, 60.0)):
                original = dict(msg.headers() or []).get(ORIGINAL_OFFSET_HEADER)
                if original is not None:
                    self._copied[msg.partition()] += 1
                    self._next[msg.partition()] = max(self._next[msg.partition()], int(original) + 1)
        finally:
            consumer.close()

    def copy_chunk(self, parts: list[SetAside]) -> bool:
        """Sets aside up to `chunk_records` more records in one transaction; True when
        nothing is left up to the topic's current end."""
        if self._producer is None:
            self._start(parts)
        assert self._producer is not None
        producer = self._producer
        consumer = _reader(self._conn)
        moved = 0
        try:
            producer.begin_transaction()
            try:
                with _needs({KafkaError.TOPIC_AUTHORIZATION_FAILED: f"Write on the side topic {self.side_topic!r}"}):
                    for msg in read_range(consumer, self.topic, dict(self._next), self.chunk_records,
                                          max(self._timeout, 60.0)):
                        headers = list(msg.headers() or []) + [(ORIGINAL_OFFSET_HEADER, str(msg.offset()).encode())]
                        self._produce(producer, msg.partition(), msg.key(), msg.value(), headers, msg.timestamp()[1])
                        self._next[msg.partition()] = msg.offset() + 1
                        self._copied[msg.partition()] += 1
                        moved += 1
                    producer.commit_transaction(max(self._timeout, 60.0))
            except BaseException:
                self._producer = None  # a fresh start re-reads what was committed
                try:
                    producer.abort_transaction(self._timeout)
                except KafkaException:
                    pass
                raise
            # Offsets past the last committed record (aborted transactions,
            # markers) need no copy: the reader stood at the end.
            ends = kadmin.list_offsets(self._admin, self.topic, list(self._next), "latest", self._timeout)
        finally:
            consumer.close()
        if moved:
            log.info("restore of %s: set aside %d more record(s) in %s", self.topic, moved, self.side_topic)
            return False
        self._next = {p: max(o, ends[p]) for p, o in self._next.items()}
        return True

    def _produce(self, producer: Producer, partition: int, key: Any, value: Any, headers: list[Any],
                 timestamp: int) -> None:
        while True:
            try:
                producer.produce(self.side_topic, value, key, partition=partition, headers=headers,
                                 timestamp=max(timestamp, 0))
                return
            except BufferError:
                producer.poll(0.1)

    def counts(self) -> dict[int, int]:
        return dict(self._copied)

    def unchanged_since_copy(self) -> bool:
        """Nothing was written to the destination topic after the last record set aside
        (its high watermark, open transactions included, is where the copy stopped)."""
        high = kadmin.list_offsets(self._admin, self.topic, list(self._next), "high", self._timeout)
        return all(high[p] <= self._next[p] for p in self._next)

    # -- replacing ----------------------------------------------------------------

    def delete_topic(self) -> bool:
        """Deletes the destination topic; True once the cluster no longer lists it."""
        with _needs({KafkaError.TOPIC_AUTHORIZATION_FAILED: f"Delete on topic {self.topic!r}"}):
            kadmin.delete_topic(self._admin, self.topic, self._timeout)
        meta = self._admin.list_topics(timeout=self._timeout)
        info = meta.topics.get(self.topic)
        return info is None or info.error is not None


def advance(r: Restorer, factory: progress.Factory, mirror_id: int, found: DivergenceError | None) -> float | None:
    """One step of a mirror's restore; seconds until the next, or None once the
    destination topic is gone (the mirror then prepares it again from the source).

    `found` is the divergence the mirror's preparation just met (None after
    the plan is stored). The store's state says which step comes next, so a
    restarted service goes on where the dead one stopped.
    """
    state, stored = progress.read_restore(factory, mirror_id)
    parts = from_rows(stored)
    if state in ("", REQUESTED):
        if found is None:
            raise FatalMirrorError("the restore lost its plan; delete this mirror topic and create it again")
        parts = plan(found.points, found.ends, r.side_starts())
        state = SETTING_ASIDE
        progress.save_restore(factory, mirror_id, state, rows(parts))
    if state == SETTING_ASIDE:
        done = r.copy_chunk(parts)
        counts = r.counts()
        for s in parts:
            s.records = counts.get(s.partition, s.records)
        if not done:
            progress.save_restore(factory, mirror_id, state, rows(parts))
            return 0.0
        if not r.unchanged_since_copy():
            # Written meanwhile (or a transaction is still open): set that aside too.
            progress.save_restore(factory, mirror_id, state, rows(parts))
            return 1.0
        state = REPLACING
        progress.save_restore(factory, mirror_id, state, rows(parts))
        progress.set_reason(factory, mirror_id, "PENDING", describe(state, rows(parts), r.side_topic))
        log.info("restore of %s: %s set aside in %s; replacing the topic", r.topic,
                 ", ".join(f"partition {s.partition}: {s.records}" for s in parts), r.side_topic)
    if not r.delete_topic():
        return 0.5
    r.close()
    return None


def preview(source: Connection, destination: Connection, source_topic: str, topic: str, side_topic: str,
            timeout: float) -> list[SetAside]:
    """What a restore would set aside now, per diverged partition (reads both clusters, writes nothing).

    The same checks as the mirror's preparation: the divergence point by
    comparing records, then the committed records from there to the end,
    counted as the restore would copy them.
    """
    src_admin, dst_admin = LinkAdmin(source, int(timeout * 1000)), LinkAdmin(destination, int(timeout * 1000))
    meta = dst_admin.list_topics(timeout=timeout)
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        return []  # a new topic: nothing to set aside
    parts = list(info.partitions)
    dst = read_offsets(dst_admin, topic, parts, timeout)
    src_meta = src_admin.list_topics(topic=source_topic, timeout=timeout).topics.get(source_topic)
    if src_meta is None or src_meta.error is not None:
        raise FatalMirrorError(f"source topic {source_topic!r} does not exist on the source cluster")
    src_high = kadmin.list_offsets(src_admin, source_topic, list(src_meta.partitions), "latest", timeout)
    points = divergence_points({**base_config(source), "isolation.level": "read_committed"}, {**base_config(destination), "isolation.level": "read_uncommitted"},
                               source_topic, topic, dst, src_high, {}, timeout)
    counts = count_divergent(destination, topic, points, max(timeout, 60.0))
    side = meta.topics.get(side_topic)
    starts = kadmin.list_offsets(dst_admin, side_topic, sorted(points), "latest", timeout) \
        if side is not None and side.error is None and points else {}
    out = plan(points, dict(dst.high), starts)
    for s in out:
        s.records = counts[s.partition]
    return out
