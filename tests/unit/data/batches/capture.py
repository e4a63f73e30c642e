"""Capture record batches written by a real client, for tests/unit/test_batches.py.

Run once against a live broker (it creates fresh topics, nothing else):

    python -m tests.unit.data.batches.capture --bootstrap 127.0.0.1:19092

It produces with confluent-kafka (librdkafka, a real client) into one fresh topic per
codec, plus a topic with interleaved committed and aborted transactions, then fetches
each partition's raw bytes with kafka-python's Fetch (librdkafka never exposes them)
and writes, next to this file:

- `<codec>.bin`: the records bytes of a Fetch of the whole partition;
- `codecs.json`: per codec, the topic and the base timestamp of the records, which
  `expected_record` turns back into the produced records;
- `transactional.bin`, `transactional.json`: the same for the transactional topic,
  fetched read_committed, with the response's aborted transactions.

The unit tests import only the pure helpers below (no client is imported at module
level) and read the files.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
COUNT = 50
PER_BATCH = 10
#: librdkafka's idempotent producer puts a producer id on its batches; half of the
#: codecs use it so the fixtures hold batches with and without one.
IDEMPOTENT = {"none": False, "gzip": True, "snappy": False, "lz4": True, "zstd": True}

Headers = list[tuple[str, bytes | None]]


def expected_record(i: int, base_timestamp: int) -> tuple[bytes | None, bytes | None, Headers, int]:
    """Key, value, headers and timestamp of the i-th record of a codec topic."""
    key = None if i % 7 == 3 else f"key-{i}".encode()
    value = None if i % 11 == 5 else (f"value-{i}:".encode() + bytes([65 + i % 26]) * (i * 37 % 400))
    headers: Headers = []
    if i % 3:
        headers.append(("index", str(i).encode()))
        headers.append(("binary", bytes([0, 255, i % 256])))
    if i % 5 == 0:
        headers.append(("null-value", None))
    return key, value, headers, base_timestamp + i


def _admin_create(bootstrap: str, names: list[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    for future in futures.values():
        future.result(30)


def _produce_codec(bootstrap: str, topic: str, codec: str, base_timestamp: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "compression.type": codec,
        "enable.idempotence": IDEMPOTENT[codec],
        "linger.ms": 2000,  # fill batches up to batch.num.messages
        "batch.num.messages": PER_BATCH,
    })
    for i in range(COUNT):
        key, value, headers, ts = expected_record(i, base_timestamp)
        producer.produce(topic, key=key, value=value, headers=headers, timestamp=ts, partition=0)
    assert producer.flush(30) == 0


def _produce_transactions(bootstrap: str, topic: str) -> None:
    """Two transactional producers interleaved in one partition: A commits, B aborts,
    with a plain idempotent producer writing in between; then A commits once more.

    Values start with b"keep-" or b"plain-" for what a read_committed consumer sees,
    b"drop-" for what it must not.
    """
    from confluent_kafka import Producer

    def transactional(tid: str) -> Any:
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid,
                      "compression.type": "lz4", "linger.ms": 5})
        p.init_transactions(30)
        return p

    suffix = str(time.time_ns())
    a, b = transactional(f"cl-capture-a-{suffix}"), transactional(f"cl-capture-b-{suffix}")
    plain = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})

    def send(p: Any, prefix: str, n: int) -> None:
        for i in range(n):
            p.produce(topic, key=f"{prefix}-{i}".encode(), value=f"{prefix}-{i}".encode(),
                      headers=[("who", prefix.encode())], partition=0)
        assert p.flush(30) == 0

    a.begin_transaction()
    send(a, "keep-a1", 5)
    b.begin_transaction()
    send(b, "drop-b1", 5)
    send(plain, "plain", 3)
    send(a, "keep-a2", 5)
    send(b, "drop-b2", 5)
    a.commit_transaction(30)
    b.abort_transaction(30)
    a.begin_transaction()
    send(a, "keep-a3", 5)
    a.commit_transaction(30)


def fetch(bootstrap: str, topic: str, isolation_level: int) -> Any:
    """The Fetch response partition of `topic` 0 from offset 0 (Fetch v12: by name)."""
    from kafka.net import KafkaConnectionManager, NetworkSelector
    from kafka.protocol.consumer import FetchRequest

    net = NetworkSelector()
    net.start()
    manager = KafkaConnectionManager(net, bootstrap_servers=bootstrap)
    manager.bootstrap(timeout_ms=10000)
    node_id = next(iter(manager.cluster.brokers())).node_id

    async def go() -> Any:
        request = FetchRequest(
            max_wait_ms=100, min_bytes=1, max_bytes=1 << 20, isolation_level=isolation_level,
            session_id=0, session_epoch=-1, forgotten_topics_data=[], rack_id="",
            topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                FetchRequest.FetchTopic.FetchPartition(
                    partition=0, fetch_offset=0, partition_max_bytes=1 << 20,
                    current_leader_epoch=-1, log_start_offset=-1)])])
        request.API_VERSION = 12
        return await manager.send(request, node_id=node_id)

    try:
        response = net.run(go)
    finally:
        manager.close()
        net.close()
    partition = response.responses[0].partitions[0]
    assert partition.error_code == 0, partition
    return partition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d%H%M%S")
    topics = {codec: f"cl-batches-{codec}-{stamp}" for codec in CODECS}
    txn_topic = f"cl-batches-transactional-{stamp}"
    _admin_create(args.bootstrap, [*topics.values(), txn_topic])
    time.sleep(1)  # let the new partitions get their leader

    meta: dict[str, Any] = {}
    base_timestamp = int(time.time() * 1000) - 60_000  # a minute ago: far from any limit
    for codec, topic in topics.items():
        _produce_codec(args.bootstrap, topic, codec, base_timestamp)
        part = fetch(args.bootstrap, topic, isolation_level=0)
        assert part.high_watermark == COUNT, part.high_watermark
        (HERE / f"{codec}.bin").write_bytes(part.records)
        meta[codec] = {"topic": topic, "base_timestamp": base_timestamp, "count": COUNT,
                       "idempotent": IDEMPOTENT[codec], "bytes": len(part.records)}
        print(f"{codec}: {len(part.records)} bytes")
    (HERE / "codecs.json").write_text(json.dumps(meta, indent=2) + "\n")

    _produce_transactions(args.bootstrap, txn_topic)
    part = fetch(args.bootstrap, txn_topic, isolation_level=1)
    (HERE / "transactional.bin").write_bytes(part.records)
    aborted = [[t.producer_id, t.first_offset] for t in part.aborted_transactions or []]
    (HERE / "transactional.json").write_text(json.dumps({
        "topic": txn_topic, "high_watermark": part.high_watermark,
        "last_stable_offset": part.last_stable_offset, "aborted_transactions": aborted,
    }, indent=2) + "\n")
    print(f"transactional: {len(part.records)} bytes, aborted {aborted}")


if __name__ == "__main__":
    main()
