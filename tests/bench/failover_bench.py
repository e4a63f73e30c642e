"""Failover re-reads against the consumer offset sync interval: `make bench-failover`.

For each `--sync-ms` value, on two fresh single-node clusters:

1. a producer writes `--rate` records/s into a source topic while a consumer group
   reads it on the source, committing every `--commit-ms` (auto-commit);
2. a link mirrors the topic with the consumer offset sync on at that interval;
3. after `--steady-seconds`, the consumer stops (its last read offsets are the truth)
   and the mirror fails over at once;
4. a consumer of the same group starts on the destination and reports the first
   offset it reads per partition.

Re-read records = what the destination consumer reads again that the source consumer
had already read: sum over partitions of (last read + 1 - first read there). A
negative value would be a skipped record (the sync promises there are none). It
measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, Producer

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.bench.common import BenchError, BenchRun, add_cluster_args, add_output_args, cluster_arg_maps, log, \
    machine_info, publish, report_end, report_head, run_bench, temp_root
from tests.integration.kafka_io import create_topic

PARTITIONS = 3


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.failover_bench",
                                     description="Measure records re-read after a failover, per offset sync interval.")
    parser.add_argument("--sync-ms", type=int, action="append", default=None,
                        help="consumer.offset.sync.ms to try (repeatable; default 1000, 5000 and 15000)")
    parser.add_argument("--rate", type=int, default=1000, help="records/s produced and consumed (default 1000)")
    parser.add_argument("--commit-ms", type=int, default=1000,
                        help="the source consumer's auto.commit.interval.ms (default 1000)")
    parser.add_argument("--steady-seconds", type=float, default=None,
                        help="seconds of steady traffic before the failover (default: 3 sync intervals + 5 s)")
    add_cluster_args(parser, "extra link config entry (repeatable)")
    add_output_args(parser, "--json-out")
    args = parser.parse_args(argv)
    args.sync_ms = args.sync_ms or [1000, 5000, 15000]
    cluster_arg_maps(parser, args)
    return args


class Traffic:
    """A paced producer and a source consumer group, each in its own thread."""

    def __init__(self, bootstrap: str, topic: str, group: str, rate: int, commit_ms: int):
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "auto.offset.reset": "earliest", "enable.auto.commit": True,
                                  "auto.commit.interval.ms": commit_ms})
        self.topic, self.rate = topic, rate
        self.last_read: dict[int, int] = {}
        self.halt_producer, self.halt_consumer = threading.Event(), threading.Event()
        self.threads = [threading.Thread(target=self._produce, daemon=True),
                        threading.Thread(target=self._consume, daemon=True)]

    def start(self) -> None:
        self.consumer.subscribe([self.topic])
        for t in self.threads:
            t.start()

    def _produce(self) -> None:
        start, n = time.monotonic(), 0
        while not self.halt_producer.is_set():
            wait = start + n / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # pacing the steady rate
            self.producer.produce(self.topic, b"x" * 100, partition=n % PARTITIONS)
            self.producer.poll(0)
            n += 1
        self.producer.flush(30)

    def _consume(self) -> None:
        while not self.halt_consumer.is_set():
            msg = self.consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                self.last_read[msg.partition()] = msg.offset()

    def stop_consumer(self) -> dict[int, int]:
        """Stops reading at once (no final commit: as a crash would) and returns the last read offsets."""
        self.halt_consumer.set()
        self.threads[1].join(10)
        return dict(self.last_read)

    def stop_producer(self) -> None:
        self.halt_producer.set()
        self.threads[0].join(30)
        self.consumer.close()


def first_reads(bootstrap: str, topic: str, group: str, deadline_s: float = 60) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    firsts: dict[int, int] = {}
    deadline = time.monotonic() + deadline_s
    try:
        while len(firsts) < PARTITIONS and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                firsts.setdefault(msg.partition(), msg.offset())
    finally:
        consumer.close()
    if len(firsts) < PARTITIONS:
        raise BenchError(f"the destination consumer read only partitions {sorted(firsts)}")
    return firsts


def one_run(bench: BenchRun, stub: Any, sync_ms: int) -> dict[str, Any]:
    a = bench.args
    assert bench.source is not None and bench.destination is not None
    run = uuid.uuid4().hex[:6]
    topic, group, link = f"failover-{run}", f"app-{run}", f"failover-{run}"
    create_topic(bench.source.bootstrap, topic, PARTITIONS)
    traffic = Traffic(bench.source.bootstrap, topic, group, a.rate, a.commit_ms)
    traffic.start()
    stub.CreateLink(pb.CreateLinkRequest(link_id=link, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=bench.source.bootstrap),
        destination=pb.ClusterConnection(bootstrap_servers=bench.destination.bootstrap),
        config={**a.link_config_map, "consumer.offset.sync.enable": "true", "consumer.offset.sync.ms": str(sync_ms),
                "consumer.offset.group.filters": '{"groupFilters":[{"name":"%s"}]}' % group})))
    mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic)))
    steady = a.steady_seconds if a.steady_seconds is not None else 3 * sync_ms / 1000 + 5
    log(f"sync every {sync_ms} ms: {a.rate} records/s for {steady:g} s, then failover")
    time.sleep(steady)  # the measured steady period itself
    last = traffic.stop_consumer()
    stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=mirror.name))
    traffic.stop_producer()
    firsts = first_reads(bench.destination.bootstrap, topic, group)
    per_partition = {p: last.get(p, -1) + 1 - firsts[p] for p in range(PARTITIONS)}
    result = {"sync_ms": sync_ms, "steady_seconds": steady, "rate": a.rate, "commit_ms": a.commit_ms,
              "reread_records": sum(per_partition.values()), "per_partition": per_partition,
              "skipped_partitions": [p for p, v in per_partition.items() if v < 0]}
    log(f"sync every {sync_ms} ms: {result['reread_records']} records re-read "
        f"({result['reread_records'] / a.rate:.2f} s of traffic)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    bench = BenchRun(args, temp_root(args.workdir, "clusterlink-failover-"))
    bench.results["runs"] = []

    def phases() -> str:
        stub = bench.start_service()
        for sync_ms in args.sync_ms:
            bench.results["runs"].append(one_run(bench, stub, sync_ms))
        return "complete"

    status = run_bench(bench, machine, phases)
    report = {"status": status, "machine": machine, "settings": {"rate": args.rate, "commit_ms": args.commit_ms},
              "results": bench.results}
    software = f"software: Python {sys.version.split()[0]}, librdkafka {confluent_kafka.libversion()[0]}"
    out = report_head("ClusterLink failover re-read benchmark", machine, software)
    out.append(f"{args.rate} records/s over {PARTITIONS} partitions; the source consumer auto-commits every "
               f"{args.commit_ms} ms; it stops (no final commit), then the mirror fails over")
    out.append("")
    out.append(f"{'sync interval':>14}  {'re-read records':>16}  {'= seconds of traffic':>21}  skipped")
    for r in bench.results["runs"]:
        out.append(f"{r['sync_ms']:>11} ms  {r['reread_records']:>16}  {r['reread_records'] / r['rate']:>21.2f}  "
                   f"{'none' if not r['skipped_partitions'] else r['skipped_partitions']}")
    return publish(report, report_end(out, report), args.json_out)


if __name__ == "__main__":
    sys.exit(main())
