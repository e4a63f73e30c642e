"""Raw Kafka requests for the byte-for-byte data path (kafka-python 3.x).

librdkafka (confluent-kafka) does the admin work, but it never hands out a
record batch as bytes. kafka-python's network layer does: its connection
manager handles bootstrap, metadata, SASL, TLS and version negotiation, and
its generated protocol classes carry a partition's records as `bytes`. Two
client libraries meet here on purpose: each does what the other cannot.

Fetch and Produce are capped at v12, the last versions that name topics
(v13+ use topic ids); every Kafka 3.x/4.x broker serves them.

Everything built here carries secrets in memory: never log it.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kafka.errors as kerrors
from kafka.consumer.fetcher import FetchRequestData
from kafka.net import KafkaConnectionManager, NetworkSelector
from kafka.protocol.admin import DescribeConfigsRequest
from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest

from clusterlink.kafka.clients import Connection
from clusterlink.kafka.transport import ChunkedConnectionManager, FramePool

FETCH_VERSION = 12
PRODUCE_VERSION = 12
LIST_OFFSETS_VERSION = 7
READ_COMMITTED = 1
LATEST = -1
EARLIEST = -2

# Error codes of the Kafka protocol that the data path tells apart.
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
RECORD_LIST_TOO_LARGE = 18
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31
INVALID_TIMESTAMP = 32
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
DUPLICATE_SEQUENCE_NUMBER = 46
INVALID_PRODUCER_EPOCH = 47
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87

# Produce errors that no retry can fix: the mirror stops with the reason.
PRODUCE_FATAL = frozenset({
    CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED,
    CLUSTER_AUTHORIZATION_FAILED, INVALID_TIMESTAMP, UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD,
})
FETCH_FATAL = frozenset({TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, CORRUPT_MESSAGE})

# DescribeConfigs: the resource type of a topic, and the source of a value set on the topic itself.
TOPIC_RESOURCE = 2
DYNAMIC_TOPIC_CONFIG = 1


def error_name(code: int) -> str:
    try:
        return kerrors.for_code(code).__name__.removesuffix("Error")
    except Exception:  # noqa: BLE001 - an unknown code is still worth its number
        return f"error {code}"


def _ssl_context(conn: Connection) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=conn.ssl_ca_pem or None)
    if not conn.ssl_ca_pem:
        ctx.load_default_certs()
    if conn.ssl_certificate_pem:
        # The ssl module loads a client certificate only from files: write
        # them to a private folder for the moment of loading.
        with tempfile.TemporaryDirectory(prefix="clusterlink-tls-") as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, text in ((cert, conn.ssl_certificate_pem), (key, conn.ssl_key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
            ctx.load_cert_chain(cert, key or None)
    return ctx


def manager_config(conn: Connection, *, request_timeout_ms: int, max_in_flight: int,
                   receive_max_bytes: int, client_id: str) -> dict[str, Any]:
    protocol = conn.security_protocol or "PLAINTEXT"
    cfg: dict[str, Any] = {
        "bootstrap_servers": conn.bootstrap_servers,
        "client_id": client_id,
        "security_protocol": protocol,
        "request_timeout_ms": request_timeout_ms,
        "max_in_flight_requests_per_connection": max_in_flight,
        "receive_message_max_bytes": receive_max_bytes,
        "reconnect_backoff_ms": 100,
        "reconnect_backoff_max_ms": 2000,
        "socket_connection_setup_timeout_ms": min(request_timeout_ms, 10000),
        "socket_connection_setup_timeout_max_ms": request_timeout_ms,
        "metadata_max_age_ms": 60000,
    }
    if protocol in ("SSL", "SASL_SSL"):
        cfg["ssl_context"] = _ssl_context(conn)
    if conn.sasl_mechanism:
        cfg["sasl_mechanism"] = conn.sasl_mechanism
        cfg["sasl_plain_username"] = conn.sasl_username
        cfg["sasl_plain_password"] = conn.sasl_password
    return cfg


def new_manager(net: NetworkSelector, conn: Connection, frames: FramePool | None = None,
                **settings: Any) -> KafkaConnectionManager:
    """A connection manager for the data path; with `frames`, Fetch answers arrive in
    that pool and their records are views of it (see transport.FramePool)."""
    manager = ChunkedConnectionManager(net, frames=frames, **manager_config(conn, **settings))
    # kafka-python's metadata requests ask brokers to create missing topics by
    # default: on a broker with auto.create.topics.enable (Kafka's default), a
    # deleted mirror's destination topic would come back at the next refresh.
    manager.cluster.config["allow_auto_create_topics"] = False
    return manager


def track_only(cluster: Any, topics: Collection[str]) -> None:
    """Metadata requests of `cluster` name only `topics` from now on.

    kafka-python only ever grows the set (its set_topics returns early when
    given a subset): every later refresh would still name the topics of all
    mirrors the link ever ran, and log an error for each one since deleted.
    """
    cluster._topics = set(topics)  # noqa: SLF001 - no public way to shrink the set


def fetch_partition(partition: int, offset: int, partition_max_bytes: int) -> Any:
    # Leader epoch -1: no fencing on the read side, so a leader change never
    # leaves a partition stuck on a stale epoch.
    return FetchRequest.FetchTopic.FetchPartition(
        partition=partition, current_leader_epoch=-1, fetch_offset=offset, last_fetched_epoch=-1,
        log_start_offset=-1, partition_max_bytes=partition_max_bytes)


def fetch_request(partitions: Mapping[str, Iterable[tuple[int, int]]], *, max_wait_ms: int,
                  max_bytes: int, partition_max_bytes: int) -> FetchRequest:
    """A read_committed full fetch without a session: topic -> [(partition, offset)]."""
    topics = [FetchRequest.FetchTopic(topic=t, partitions=[fetch_partition(p, o, partition_max_bytes)
                                                           for p, o in parts])
              for t, parts in partitions.items()]
    return _fetch(topics, [], 0, -1, max_wait_ms=max_wait_ms, max_bytes=max_bytes)


def session_fetch_request(data: FetchRequestData, *, max_wait_ms: int, max_bytes: int) -> FetchRequest:
    """A read_committed fetch in an incremental fetch session (KIP-227).

    The broker remembers the session's partitions: a request names only the
    partitions whose fetch offset changed, and an answer only those with news,
    so an idle link with thousands of partitions costs next to nothing.
    """
    return _fetch(data.to_send, data.to_forget, data.id, data.epoch, max_wait_ms=max_wait_ms, max_bytes=max_bytes)


def _fetch(topics: list[Any], forgotten: list[Any], session_id: int, session_epoch: int, *,
           max_wait_ms: int, max_bytes: int) -> FetchRequest:
    req = FetchRequest(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        max_bytes=max_bytes,
        isolation_level=READ_COMMITTED,
        session_id=session_id,
        session_epoch=session_epoch,
        topics=topics,
        forgotten_topics_data=forgotten,
        rack_id="",
    )
    req.API_VERSION = FETCH_VERSION
    return req


def produce_request(batches: Mapping[str, Iterable[tuple[int, bytes]]], *, timeout_ms: int) -> ProduceRequest:
    """acks=all; exactly one record batch per partition (Produce v3+)."""
    req = ProduceRequest(
        transactional_id=None,
        acks=-1,
        timeout_ms=timeout_ms,
        topic_data=[
            ProduceRequest.TopicProduceData(name=topic, partition_data=[
                ProduceRequest.TopicProduceData.PartitionProduceData(index=p, records=data)
                for p, data in parts
            ])
            for topic, parts in batches.items()
        ],
    )
    req.API_VERSION = PRODUCE_VERSION
    return req


def list_offsets_request(partitions: Mapping[str, Iterable[int]], which: int) -> ListOffsetsRequest:
    req = ListOffsetsRequest(
        replica_id=-1,
        isolation_level=0,
        topics=[
            ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[
                ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(
                    partition_index=p, current_leader_epoch=-1, timestamp=which)
                for p in parts
            ])
            for topic, parts in partitions.items()
        ],
        timeout_ms=30000,
    )
    req.API_VERSION = LIST_OFFSETS_VERSION
    return req


class ProducerIdError(Exception):
    """The destination would not give the link a producer id."""


def init_producer_ids(conn: Connection, count: int, timeout: float) -> list[int]:
    """`count` fresh idempotent producer ids on the cluster (epoch 0), over one connection.

    The cluster never hands the same id out twice, so a mirror keeps the one
    it got for its whole life. Needs IdempotentWrite (or Write) permission.
    """
    if count <= 0:
        return []
    try:
        return _init_producer_ids(conn, count, timeout)
    except kerrors.KafkaError as exc:  # the connection itself: no bootstrap within the timeout
        raise ProducerIdError(f"cannot reach the destination cluster at {conn.bootstrap_servers}: {exc}") from exc


def _init_producer_ids(conn: Connection, count: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    out: list[int] = []
    with _one_shot(conn, timeout, client_id="clusterlink-init", receive_max_bytes=1 << 20) as (net, manager):
        last = "no answer"
        while len(out) < count and time.monotonic() < deadline:
            async def ask() -> Any:
                req = InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=-1,
                                            producer_id=-1, producer_epoch=-1)
                return await manager.send(req, node_id=manager.least_loaded_node())
            try:
                resp = net.run(ask)
            except kerrors.KafkaError as exc:
                last = str(exc)
                time.sleep(0.2)
                continue
            if resp.error_code == NONE:
                if resp.producer_epoch != 0:
                    raise ProducerIdError(f"the destination gave producer epoch {resp.producer_epoch}, not 0")
                out.append(int(resp.producer_id))
                continue
            last = error_name(resp.error_code)
            if resp.error_code not in (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR):
                break
            time.sleep(0.2)  # the coordinator is still loading: ask again
        if len(out) < count:
            raise ProducerIdError(f"cannot get a producer id from the destination cluster: {last}")
        return out


@contextmanager
def _one_shot(conn: Connection, timeout: float, *, client_id: str,
              receive_max_bytes: int) -> Iterator[tuple[NetworkSelector, KafkaConnectionManager]]:
    """A bootstrapped connection manager for a few control requests, closed afterwards."""
    net = NetworkSelector()
    manager = new_manager(net, conn, request_timeout_ms=int(timeout * 1000), max_in_flight=1,
                          receive_max_bytes=receive_max_bytes, client_id=client_id)
    try:
        manager.bootstrap(timeout_ms=int(timeout * 1000))
        yield net, manager
    finally:
        manager.close()
        net.close()


def _ask_once(conn: Connection, request: Any, timeout: float, *, client_id: str) -> Any:
    """The answer to one control request (up to 100 MiB), on a connection of its own."""
    with _one_shot(conn, timeout, client_id=client_id, receive_max_bytes=100 * 1024 * 1024) as (net, manager):
        async def ask() -> Any:
            return await manager.send(request, node_id=manager.least_loaded_node())
        return net.run(ask)


def topic_id_text(topic_id: uuid.UUID) -> str:
    """A topic id as librdkafka writes it: standard base64 without padding."""
    return base64.b64encode(topic_id.bytes).rstrip(b"=").decode()


def topic_ids(conn: Connection, topics: Collection[str], timeout: float) -> dict[str, str | None]:
    """Each topic's id (the cluster's UUID for it, new when a topic is created again
    under the same name), in one Metadata request; None for a topic that does not
    exist. Raises kafka.errors.KafkaError.

    The text is librdkafka's (standard base64 without padding; Kafka's own tools use
    the URL-safe alphabet): the ids kept in the store were written in it.

    librdkafka's DescribeTopics builds an object for every partition and replica:
    over 500 topics of 10 partitions it cost about three times the CPU of this
    request, and the link's topology step asks every 10 s.
    """
    if not topics:
        return {}
    request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=t) for t in topics],
                              allow_auto_topic_creation=False, min_version=10)  # v10: topic ids
    response = _ask_once(conn, request, timeout, client_id="clusterlink-topics")
    out: dict[str, str | None] = {}
    for topic in response.topics:
        if topic.error_code == UNKNOWN_TOPIC_OR_PARTITION:
            out[topic.name] = None
        elif topic.error_code != NONE and not topic.topic_id.int:
            raise kerrors.for_code(topic.error_code)(f"Metadata of topic {topic.name}")
        else:  # an id, maybe with an error of its partitions' leaders (a topic being created)
            out[topic.name] = topic_id_text(topic.topic_id)
    return out


def dynamic_topic_configs(conn: Connection, topics: Collection[str], keys: Collection[str],
                          timeout: float) -> dict[str, dict[str, str] | None]:
    """The values of `keys` set on each topic itself (not defaults), in one DescribeConfigs
    request; None for a topic that does not exist. Raises kafka.errors.KafkaError.

    librdkafka's DescribeConfigs always asks for every key and its synonyms: about
    a hundred entries per topic, each built into a Python object. Asking for the
    synced keys only, without synonyms, makes a run over 500 topics about four
    times cheaper in CPU, for the service and the broker alike.
    """
    if not topics:
        return {}
    request = DescribeConfigsRequest(
        resources=[(TOPIC_RESOURCE, topic, sorted(keys)) for topic in topics],
        include_synonyms=False, min_version=1)  # v1: each value says where it was set
    response = _ask_once(conn, request, timeout, client_id="clusterlink-configs")
    out: dict[str, dict[str, str] | None] = {}
    for result in response.results:
        if result.error_code == UNKNOWN_TOPIC_OR_PARTITION:
            out[result.resource_name] = None
        elif result.error_code != NONE:
            raise kerrors.for_code(result.error_code)(
                f"DescribeConfigs of topic {result.resource_name}: {result.error_message or ''}".rstrip(": "))
        else:
            out[result.resource_name] = {
                c.name: c.value for c in result.configs
                if c.config_source == DYNAMIC_TOPIC_CONFIG and c.value is not None}
    return out
