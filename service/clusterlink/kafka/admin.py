"""Admin operations used by the engine and the reconciler, one call each.

Every function takes an AdminClient and a timeout in seconds, and raises
confluent_kafka.KafkaException (or KafkaError inside it) when the cluster
refuses or cannot be reached.
"""

from __future__ import annotations

import time

from confluent_kafka import IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)

# Topic settings a mirror copies from its source when it creates the
# destination topic. The timestamp type is always CreateTime (see below).
# LogAppendTime would overwrite the source timestamps; compression.type
# "producer" makes the broker keep each mirrored batch's bytes as they are
# (any other codec would make it recompress them).
MIRROR_FIXED_CONFIGS = {"message.timestamp.type": "CreateTime", "compression.type": "producer"}
_LEADER_NOT_READY = (
    KafkaError._NOENT,
    KafkaError._UNKNOWN_PARTITION,  # partitions added a moment ago: not in the metadata yet
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)
# Errors that mean "ask again": a broker restarting or frozen, a leader that just moved.
# confluent-kafka marks per-partition admin errors as not retriable, so they are named.
_TRANSIENT = (
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.UNKNOWN_LEADER_EPOCH,
    KafkaError.OFFSET_NOT_AVAILABLE,
)


def _ask_again(err: KafkaError) -> bool:
    return err.retriable() or err.code() in _TRANSIENT


def list_offsets(
    admin: AdminClient, topic: str, partitions: list[int], which: str, timeout: float
) -> dict[int, int]:
    """`which` is "earliest", "latest" (the end as read_committed sees it) or "high"
    (the high watermark, past open transactions)."""
    return list_offsets_many(admin, {topic: partitions}, which, timeout)[topic]


def grow_partitions(admin: AdminClient, topic: str, total: int, timeout: float) -> None:
    """Adds partitions so the topic has `total` (Kafka only ever adds them)."""
    fut = admin.create_partitions([NewPartitions(topic, total)], request_timeout=timeout)[topic]
    fut.result(timeout=timeout)


def set_topic_configs(admin: AdminClient, topic: str, configs: dict[str, str], timeout: float) -> None:
    error = set_topic_configs_many(admin, {topic: configs}, timeout)[topic]
    if error is not None:
        raise error


def delete_records_before(admin: AdminClient, topic: str, offsets: dict[int, int], timeout: float) -> None:
    request = [TopicPartition(topic, p, o) for p, o in offsets.items()]
    for fut in admin.delete_records(request, request_timeout=timeout).values():
        fut.result(timeout=timeout)


def delete_topic(admin: AdminClient, topic: str, timeout: float) -> None:
    try:
        admin.delete_topics([topic], request_timeout=timeout)[topic].result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise


# -- the same calls for many topics at once (one request each, whatever the count) --


def list_offsets_many(
    admin: AdminClient, partitions: dict[str, list[int]], which: str, timeout: float
) -> dict[str, dict[int, int]]:
    """`list_offsets` for several topics in one request: topic -> partition -> offset."""
    spec = OffsetSpec.earliest() if which == "earliest" else OffsetSpec.latest()
    request = {TopicPartition(t, p): spec for t, parts in partitions.items() for p in parts}
    if not request:
        return {}
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        tries += 1
        isolation = IsolationLevel.READ_UNCOMMITTED if which == "high" else IsolationLevel.READ_COMMITTED
        futures = admin.list_offsets(request, isolation_level=isolation, request_timeout=timeout)
        try:
            out: dict[str, dict[int, int]] = {t: {} for t in partitions}
            for tp, fut in futures.items():
                out[tp.topic][tp.partition] = fut.result(timeout=timeout).offset
            return out
        except KafkaException as exc:
            err = exc.args[0]
            retriable = err.code() in _LEADER_NOT_READY or _ask_again(err)
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(retry_pause(tries))  # topics created a moment ago have no leader yet


def dynamic_configs_many(admin: AdminClient, topics: set[str], timeout: float) -> dict[str, dict[str, str] | None]:
    """The configs set on each topic itself (not broker defaults), in one request;
    None for a topic that does not exist."""
    resources = {t: ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics}
    if not resources:
        return {}
    futures = admin.describe_configs(list(resources.values()), request_timeout=timeout)
    out: dict[str, dict[str, str] | None] = {}
    for topic, resource in resources.items():
        try:
            entries = futures[resource].result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                out[topic] = None
                continue
            raise
        out[topic] = {
            name: entry.value
            for name, entry in entries.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None
        }
    return out


def alter_topic_configs_many(
    admin: AdminClient, changes: dict[str, tuple[dict[str, str], list[str]]], timeout: float
) -> dict[str, KafkaException | None]:
    """Per topic (keys to set, keys to delete), in one IncrementalAlterConfigs request;
    per topic the error, if any."""
    resources = {
        topic: ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
            *(ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in to_set.items()),
            *(ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in to_delete),
        ])
        for topic, (to_set, to_delete) in changes.items()
    }
    if not resources:
        return {}
    futures = admin.incremental_alter_configs(list(resources.values()), request_timeout=timeout)
    out: dict[str, KafkaException | None] = {}
    for topic, resource in resources.items():
        try:
            futures[resource].result(timeout=timeout)
            out[topic] = None
        except KafkaException as exc:
            out[topic] = exc
    return out


def create_topics_many(
    admin: AdminClient, topics: list[tuple[str, int, dict[str, str]]], timeout: float
) -> dict[str, KafkaException | None]:
    """Creates (name, partitions, configs) topics in one request; per topic the error, if any.

    A topic that exists already counts as created.
    """
    if not topics:
        return {}
    new = [NewTopic(t, num_partitions=n, replication_factor=-1, config=c) for t, n, c in topics]
    out: dict[str, KafkaException | None] = {}
    for topic, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
            out[topic] = None
        except KafkaException as exc:
            out[topic] = None if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS else exc
    return out


def retry_pause(tries: int) -> float:
    """Seconds before asking again after `tries` answers of "not yet": a broker serves a
    topic some tens of milliseconds after it was created, so the first pauses are short."""
    return min(0.1, 0.0125 * 2 ** (tries - 1))


def list_offsets_settled(
    admin: AdminClient, partitions: dict[str, list[int]], which: str, timeout: float, wait: float
) -> tuple[dict[str, dict[int, int]], dict[str, KafkaError]]:
    """`list_offsets_many`, but a topic whose partitions have no leader yet is left out
    after `wait` seconds instead of failing all: (topic -> partition -> offset,
    topic -> its last error) for the topics still without a leader.

    A broker serves a topic a moment after CreateTopics answered (in KRaft the
    controller commits the topic, then each broker creates its logs); with
    thousands of new partitions on a busy broker that moment can be a minute.
    Other retriable errors (a broker restarting, a leader epoch moving) are asked
    again until `timeout`, and anything else raises, as in `list_offsets_many`.
    """
    spec = OffsetSpec.earliest() if which == "earliest" else OffsetSpec.latest()
    start = asked_at = time.monotonic()
    out: dict[str, dict[int, int]] = {}
    left_out: dict[str, KafkaError] = {}
    pending = dict(partitions)
    tries = 0
    while pending:
        tries += 1
        request = {TopicPartition(t, p): spec for t, parts in pending.items() for p in parts}
        futures = admin.list_offsets(request, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout)
        found: dict[str, dict[int, int]] = {t: {} for t in pending}
        unsettled: dict[str, KafkaError] = {}
        again: set[str] = set()
        for tp, fut in futures.items():
            try:
                found[tp.topic][tp.partition] = fut.result(timeout=timeout).offset
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() in _LEADER_NOT_READY:
                    unsettled[tp.topic] = err
                elif _ask_again(err) and time.monotonic() - start < timeout:
                    again.add(tp.topic)
                else:
                    raise
        out.update({t: offsets for t, offsets in found.items() if t not in unsettled and t not in again})
        waited = time.monotonic() - start >= wait
        if waited:
            left_out.update({t: e for t, e in unsettled.items() if t not in again})
        pending = {t: pending[t] for t in (again if waited else again | set(unsettled))}
        if pending:
            time.sleep(retry_pause(tries))  # bounded by `wait` (no leader yet) or `timeout` (anything retriable)
            stale = [t for t in pending if t in unsettled and unsettled[t].code() == KafkaError._NOENT]
            if stale and time.monotonic() - asked_at >= STALE_METADATA_REFRESH_S:
                _refresh_metadata(admin, stale, timeout)
                asked_at = time.monotonic()
    return out, left_out


# librdkafka's ListOffsets finds leaders in its metadata cache. A topic cached
# while the broker was still creating it stays leaderless there ("No leaders
# found", _NOENT) until the next full refresh, minutes later. Its metadata is
# asked for again, at most this often, in one request however many topics.
STALE_METADATA_REFRESH_S = 0.25


def _refresh_metadata(admin: AdminClient, topics: list[str], timeout: float) -> None:
    try:
        if len(topics) == 1:
            admin.list_topics(topics[0], timeout=timeout)
        else:
            admin.list_topics(timeout=timeout)
    except KafkaException:
        pass  # only a hint: the next ListOffsets says what is wrong


def set_topic_configs_many(
    admin: AdminClient, configs: dict[str, dict[str, str]], timeout: float
) -> dict[str, KafkaException | None]:
    """`set_topic_configs` for several topics in one request; per topic the error, if any."""
    return alter_topic_configs_many(admin, {topic: (values, []) for topic, values in configs.items()}, timeout)
