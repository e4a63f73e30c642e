#!/usr/bin/env python3
"""A small helper for trying the examples against the sandbox: create topics with
records in them, produce more, and compare offsets between clusters.

    python examples/kafka_tool.py create  --bootstrap 127.0.0.1:19092 orders payments
    python examples/kafka_tool.py produce --bootstrap 127.0.0.1:19092 --records 500 orders
    python examples/kafka_tool.py offsets --bootstrap 127.0.0.1:19092 --bootstrap 127.0.0.1:29092 orders

It uses confluent-kafka, which `make install` puts into .venv/.
"""

from __future__ import annotations

import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(bootstrap: str, topics: list[str], partitions: int, records: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    for topic, future in futures.items():
        try:
            future.result(30)
            print(f"created {topic} ({partitions} partitions) on {bootstrap}")
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
            print(f"{topic} already exists on {bootstrap}")
    produce(bootstrap, topics, records)


def produce(bootstrap: str, topics: list[str], records: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    stamp = int(time.time())
    for topic in topics:
        for i in range(records):
            producer.produce(topic, key=f"key-{i}", value=f"{topic} record {i} of run {stamp}",
                             headers=[("run", str(stamp).encode())])
    if producer.flush(60):
        raise SystemExit("error: some records were not delivered")
    print(f"produced {records} records into each of {', '.join(topics)} on {bootstrap}")


def offsets(bootstraps: list[str], topics: list[str]) -> None:
    print(f"{'cluster':<22} {'topic':<24} {'partition':>9} {'start':>8} {'end':>8}")
    for bootstrap in bootstraps:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        metadata = admin.list_topics(timeout=10).topics
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafka-tool-offsets"})
        try:
            for topic in topics:
                if topic not in metadata or metadata[topic].error is not None:
                    print(f"{bootstrap:<22} {topic:<24} {'(no such topic)':>27}")
                    continue
                for p in sorted(metadata[topic].partitions):
                    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                    print(f"{bootstrap:<22} {topic:<24} {p:>9} {low:>8} {high:>8}")
        finally:
            consumer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("create", help="create topics (if missing) and produce records into them")
    c.add_argument("--bootstrap", default="127.0.0.1:19092", help="default: %(default)s (sandbox source)")
    c.add_argument("--partitions", type=int, default=3)
    c.add_argument("--records", type=int, default=1000, help="records per topic (default: %(default)s)")
    c.add_argument("topics", nargs="+")
    p = commands.add_parser("produce", help="produce records into existing topics")
    p.add_argument("--bootstrap", default="127.0.0.1:19092", help="default: %(default)s (sandbox source)")
    p.add_argument("--records", type=int, default=1000, help="records per topic (default: %(default)s)")
    p.add_argument("topics", nargs="+")
    o = commands.add_parser("offsets", help="print start and end offsets of topics on one or more clusters")
    o.add_argument("--bootstrap", action="append", required=True, help="repeat to compare clusters")
    o.add_argument("topics", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "create":
        create(args.bootstrap, args.topics, args.partitions, args.records)
    elif args.command == "produce":
        produce(args.bootstrap, args.topics, args.records)
    else:
        offsets(args.bootstrap, args.topics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
