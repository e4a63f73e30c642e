"""Reading single records at known offsets (resume checks, filler detection)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition


def read_at(
    config: dict[str, Any], topic: str, offsets: dict[int, int], timeout: float
) -> dict[int, Message | None]:
    """The first readable record at or after each requested offset.

    None for a partition with nothing readable there before the deadline.
    The caller compares `msg.offset()` with what it asked for.
    """
    if not offsets:
        return {}
    consumer = Consumer(
        {
            **config,
            "group.id": f"clusterlink-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "latest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in offsets.items()])
        found: dict[int, Message | None] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(offsets) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.partition() in found:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    found[msg.partition()] = None
                    continue
                if err.fatal() or not err.retriable():
                    raise KafkaException(err)
                continue
            found[msg.partition()] = msg
        return {p: found.get(p) for p in offsets}
    finally:
        consumer.close()
