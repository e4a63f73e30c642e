"""Kafka's own copy between brokers, the reference the mirror bench sets beside ClusterLink.

A follower broker's replica fetcher is Kafka's byte-for-byte copy: it fetches the
leader's record batches and appends them as they are, without the produce path's
validation (no decompression, no offset assignment). The bench puts the same data on
node 1 of a fresh two-node cluster, reads it once with ConsumerPerformance there, then
gives every partition a second replica on node 2 (kafka-reassign-partitions) and times
the follower from its first byte on disk to the leader's size. That is the fastest copy
Kafka itself makes between two brokers on this machine, in the bench's units.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from clusterlink.sandbox.cluster import KafkaCluster, start_cluster
from tests.bench.common import BenchError, free_port, middle_rate, topic_bytes

LEADER, FOLLOWER = 1, 2
REASSIGN_TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
POLL_S = 0.05
MIB = 1024 * 1024


# The follower fetches like ClusterLink on its defaults: the same fetch sizes
# (mirror.fetch.partition.max.bytes, mirror.fetch.max.bytes) and as many appending
# threads as ClusterLink has connections to the destination broker
# (mirror.produce.connections). On Kafka's defaults (1 MiB, 10 MiB, one fetcher) the
# follower copied at 272 and 222 MiB/s in two runs on the same machine, against 314
# and 337 MiB/s with these (timed from the reassignment tool's exit).
FOLLOWER_PROPS = {
    "replica.fetch.max.bytes": "10485760",
    "replica.fetch.response.max.bytes": "52428800",
    "num.replica.fetchers": "3",
}


def start_pair(folder: Path, extra: dict[str, str]) -> KafkaCluster:
    """A two-node cluster on free ports, its followers fetching as FOLLOWER_PROPS say."""
    return start_cluster(folder, free_port(), nodes=2, controller_port=free_port(),
                         extra={**FOLLOWER_PROPS, **extra})


def create_on_leader(bootstrap: str, topic: str, partitions: int) -> None:
    """`topic` with its only replica on the leader node, so node 2 starts empty."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    new = NewTopic(topic, num_partitions=partitions, replica_assignment=[[LEADER]] * partitions)
    admin.create_topics([new])[topic].result(timeout=60)


def write_plan(path: Path, topic: str, partitions: int) -> Path:
    """kafka-reassign-partitions' JSON: every partition on both nodes, the leader first."""
    plan = {"version": 1, "partitions": [{"topic": topic, "partition": p, "replicas": [LEADER, FOLLOWER]}
                                         for p in range(partitions)]}
    path.write_text(json.dumps(plan))
    return path


def wait_copied(cluster: KafkaCluster, topic: str, target: int, timeout: float,
                tool: Future[Any]) -> list[tuple[float, int]]:
    """Samples (monotonic time, follower bytes) until the follower holds `target` bytes;
    raises at once when the reassignment `tool` failed."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        copied = topic_bytes(cluster, topic, FOLLOWER)
        samples.append((now, copied))
        if copied >= target:
            return samples
        if tool.done() and tool.exception() is not None:
            raise BenchError(f"kafka-reassign-partitions failed: {tool.exception()}")
        if now > deadline:
            raise BenchError(f"the follower copied {copied} of {target} bytes of {topic} in {timeout:.0f}s")
        time.sleep(POLL_S)


def wait_in_sync(bootstrap: str, topic: str, timeout: float = 60.0) -> None:
    """Every partition of `topic` has both replicas in its ISR (the copy is complete, not only on disk)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    deadline = time.monotonic() + timeout
    while True:
        desc = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
        if all(len(p.isr) == 2 for p in desc.partitions):
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{topic}: the new replicas did not join the ISR within {timeout:.0f}s")
        time.sleep(POLL_S)


def copy_rates(samples: list[tuple[float, int]], target: int, records: int, record_size: int) -> dict[str, Any]:
    """The follower's rates in the bench's units (records x record size, as the mirror's):
    first byte -> last byte, and 10% -> 90% of the bytes (left out under 2 s)."""
    first = next((t for t, n in samples if n > 0), None)
    last = samples[-1][0]
    payload_mib = records * record_size / MIB
    out: dict[str, Any] = {"records": records, "on_disk_mib": round(target / MIB, 1)}
    if first is not None and last > first:
        seconds = last - first
        out["seconds_copying"] = round(seconds, 2)
        out["copy_mib_per_s"] = round(payload_mib / seconds, 2)
        out["copy_records_per_s"] = round(records / seconds, 1)
    # The same 10% -> 90% rule as the mirror's, on the bytes counted as records.
    middle = middle_rate([(t, n * records // target) for t, n in samples], records)
    if middle:
        out["middle_records_per_s"] = middle["middle_records_per_s"]
        out["middle_mib_per_s"] = round(middle["middle_records_per_s"] * record_size / MIB, 2)
    return out
