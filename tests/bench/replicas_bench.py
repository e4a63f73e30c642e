"""Replicas sharing one link: throughput with 1, 2, 3 ... replicas, and how fast a killed one's work moves.

Measured, never asserted. One run starts two fresh single-node clusters and a
PostgreSQL, fills one source topic, then per replica count starts that many
`clusterlink serve --replica-id` processes on a fresh database and mirrors the
topic (a new link with its own `mirror.topic.prefix`, so every round copies
the whole topic) until lag 0. On the largest count it then kills one replica
(kill -9) several times under live traffic and times until every partition's
status names a surviving replica.

On one machine every replica shares the same cores, so expect no gain from
more replicas here: the figures show the cost of sharing (group membership,
takeover resyncs), not the scaling on separate machines.

    python -m tests.bench.replicas_bench --size-mb 256 --replicas 1,2,3
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from clusterlink.sandbox.jars import KAFKA_VERSION
from clusterlink.v1 import clusterlink_pb2 as pb
from tests.bench.common import (
    PROGRESS_EVERY_S,
    BenchError,
    BenchRun,
    add_cluster_args,
    add_output_args,
    cluster_arg_maps,
    log,
    machine_info,
    produce_waiting,
    publish,
    report_end,
    report_head,
    run_bench,
    temp_root,
)
from tests.fixtures.postgres import new_database, temporary_postgres
from tests.fixtures.service import Service

SESSION_MS = 10000


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=256, help="source data in MiB (default 256)")
    p.add_argument("--partitions", type=int, default=12, help="source partitions (default 12)")
    p.add_argument("--record-size", type=int, default=1024, help="bytes per record value (default 1024)")
    p.add_argument("--replicas", default="1,2,3", help="replica counts to measure, in order (default 1,2,3)")
    p.add_argument("--kills", type=int, default=3, help="kill -9 rounds on the largest count (default 3)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per round (default 600)")
    add_cluster_args(p, "link config for every round's link")
    add_output_args(p, "--json-out")
    args = p.parse_args(argv)
    args.counts = [int(x) for x in args.replicas.split(",") if x.strip()]
    if not args.counts or min(args.counts) < 1:
        p.error("--replicas takes counts >= 1, e.g. 1,2,3")
    cluster_arg_maps(p, args)
    return args


@dataclass
class ReplicasBench(BenchRun):
    postgres: str = ""
    topic: str = ""
    ends: dict[int, int] = field(default_factory=dict)
    replicas: list[Service] = field(default_factory=list)

    def stop_tools(self) -> None:
        self._stop_replicas()

    def _stop_replicas(self) -> None:
        for service in self.replicas:
            try:
                service.kill()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                log(f"stopping a replica failed: {exc}")
        self.replicas = []

    def fill_source(self) -> None:
        a = self.args
        assert self.source is not None
        self.topic = f"replicas-{uuid.uuid4().hex[:6]}"
        admin = AdminClient({"bootstrap.servers": self.source.bootstrap, "log_level": 5})
        admin.create_topics([NewTopic(self.topic, a.partitions, 1)])[self.topic].result(60)
        producer = Producer({"bootstrap.servers": self.source.bootstrap, "linger.ms": 20, "acks": "all",
                             "compression.type": "lz4", "log_level": 5})
        count = a.size_mb * 1024 * 1024 // a.record_size
        # Random values, more of them than lz4's 64 KiB window holds: the MiB are real bytes.
        values = [os.urandom(a.record_size) for _ in range(1024)]
        t0 = time.monotonic()
        for i in range(count):
            produce_waiting(producer, self.topic, values[i % len(values)], i % a.partitions, 0.05)
        if producer.flush(120):
            raise BenchError("source records were still unsent after 120 s")
        self.ends = self._source_ends()
        self.results["source"] = {"topic": self.topic, "partitions": a.partitions, "records": sum(self.ends.values()),
                                  "mib": a.size_mb, "seconds_producing": round(time.monotonic() - t0, 1)}
        log(f"source: {sum(self.ends.values())} records in {a.partitions} partitions")

    def _source_ends(self) -> dict[int, int]:
        from tests.integration.kafka_io import end_offsets

        assert self.source is not None
        return {p: hi for p, (_lo, hi) in end_offsets(self.source.bootstrap, self.topic, self.args.partitions).items()}

    def start_replicas(self, count: int, db_url: str) -> None:
        workdir = self.root / "replicas"  # one secret key for all
        for i in range(count):
            service = Service(db_url=db_url, workdir=workdir, extra_args=[
                "--replica-id", f"r{i + 1}", "--reconcile-interval", "1.0",
                "--replica-session-timeout-ms", str(SESSION_MS)])
            service.start()
            self.replicas.append(service)
        log(f"{count} replica(s) up on {db_url.rsplit('/', 1)[-1]}")

    def round(self, count: int) -> dict[str, Any]:
        """Mirrors the whole topic with `count` replicas; MiB/s until lag 0."""
        db_url = new_database(self.postgres, f"bench_{uuid.uuid4().hex[:10]}")
        self.start_replicas(count, db_url)
        stub = self.replicas[0].stub()
        link = f"r{count}-{uuid.uuid4().hex[:4]}"
        self.args.link_config_map = {**self.args.link_config_map, "mirror.topic.prefix": f"{link}."}
        self.create_link(stub, link)
        # The replicas form the link's groups on a small topic first, so the measured copy
        # is not the time the group takes to form (new topics still spread during the copy).
        warm = f"warm-{link}"
        assert self.source is not None
        admin = AdminClient({"bootstrap.servers": self.source.bootstrap, "log_level": 5})
        admin.create_topics([NewTopic(warm, self.args.partitions, 1)])[warm].result(60)
        warm_mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=warm))).name
        expected = {f"r{i + 1}" for i in range(count)}
        self._wait(lambda: set(self._owners(stub, warm_mirror).values()) == expected,
                   f"the link's partitions to spread over {count} replica(s)")
        t0 = time.monotonic()
        mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=self.topic))).name
        seconds, owners = self._until_caught_up(stub, mirror, t0)
        mib_s = self.args.size_mb / seconds
        log(f"{count} replica(s): lag 0 after {seconds:.1f}s = {mib_s:.1f} MiB/s; partitions per replica {owners}")
        return {"replicas": count, "seconds_to_lag_0": round(seconds, 2), "mib_per_s": round(mib_s, 1),
                "partitions_per_replica": owners, "link": link, "mirror": mirror, "db": db_url}

    def _until_caught_up(self, stub: Any, mirror: str, t0: float) -> tuple[float, dict[str, int]]:
        last_print = t0
        while time.monotonic() - t0 < self.args.timeout:
            m = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror))
            done = len(m.partitions) == self.args.partitions and all(
                p.lag == 0 and p.mirror_end_offset >= self.ends[p.partition] for p in m.partitions)
            if done:
                owners: dict[str, int] = {}
                for p in m.partitions:
                    owners[p.replica.removeprefix("replicas/")] = owners.get(p.replica.removeprefix("replicas/"), 0) + 1
                return time.monotonic() - t0, owners
            if time.monotonic() - last_print >= PROGRESS_EVERY_S:
                last_print = time.monotonic()
                log(f"  {sum(p.mirror_end_offset for p in m.partitions)} of {sum(self.ends.values())} records")
            time.sleep(0.2)
        raise BenchError(f"the mirror {mirror} did not reach lag 0 within {self.args.timeout}s")

    def kills(self, last: dict[str, Any]) -> dict[str, Any]:
        """Kill -9 one replica under live traffic, time until its partitions show other owners; restart it."""
        stub = self.replicas[0].stub()
        mirror = last["mirror"]
        stop = threading.Event()
        traffic = threading.Thread(target=self._traffic, args=(stop,), daemon=True)
        traffic.start()
        moves: list[float] = []
        try:
            for n in range(self.args.kills):
                victim_index = 1 + n % (len(self.replicas) - 1)  # never the API replica
                victim = self.replicas[victim_index]
                name = f"r{victim_index + 1}"
                self._wait(lambda: name in self._owners(stub, mirror).values(), f"{name} to own partitions")
                assert victim.process is not None
                victim.kill()
                t0 = time.monotonic()
                self._wait(lambda: name not in self._owners(stub, mirror).values(), f"{name}'s partitions to move")
                moves.append(time.monotonic() - t0)
                log(f"kill {n + 1}: {name}'s partitions moved in {moves[-1]:.1f}s")
                fresh = Service(db_url=last["db"], workdir=self.root / "replicas", extra_args=victim.extra_args)
                fresh.start()
                self.replicas[victim_index] = fresh
        finally:
            stop.set()
            traffic.join(30)
        return {"kills": len(moves), "session_timeout_s": SESSION_MS / 1000,
                "seconds_to_move": [round(x, 1) for x in moves],
                "median_seconds_to_move": round(statistics.median(moves), 1) if moves else None}

    def _traffic(self, stop: threading.Event) -> None:
        assert self.source is not None
        producer = Producer({"bootstrap.servers": self.source.bootstrap, "linger.ms": 5, "log_level": 5})
        i = 0
        while not stop.wait(0.01):
            for _ in range(50):
                produce_waiting(producer, self.topic, b"live", i % self.args.partitions, 0.05)
                i += 1
            producer.poll(0)
        producer.flush(30)

    @staticmethod
    def _owners(stub: Any, mirror: str) -> dict[int, str]:
        m = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror))
        return {p.partition: p.replica.removeprefix("replicas/") for p in m.partitions}

    def _wait(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise BenchError(f"timed out waiting for {what}")


def format_report(report: dict[str, Any]) -> str:
    out = report_head("ClusterLink replicas benchmark", report["machine"],
                      f"software: Apache Kafka {KAFKA_VERSION}, PostgreSQL, one link, "
                      f"{report['args']['partitions']} partitions, {report['args']['size_mb']} MiB per round")
    rounds = report["results"].get("rounds", [])
    if rounds:
        base = rounds[0]["mib_per_s"]
        out.append("")
        out.append("replicas  seconds to lag 0   MiB/s   vs 1 replica   partitions per replica")
        for r in rounds:
            out.append(f"{r['replicas']:>8}  {r['seconds_to_lag_0']:>16}  {r['mib_per_s']:>6}   "
                       f"{r['mib_per_s'] / base:>12.2f}   {r['partitions_per_replica']}")
    kills = report["results"].get("kills")
    if kills:
        out.append("")
        out.append(f"kill -9 of one replica (session timeout {kills['session_timeout_s']}s): its partitions moved "
                   f"in {kills['seconds_to_move']} s, median {kills['median_seconds_to_move']} s")
    return report_end(out, report)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    bench = ReplicasBench(args=args, root=temp_root(args.workdir, "clusterlink-replicas-bench-"))

    def phases() -> str:
        with temporary_postgres() as url:
            bench.postgres = url
            bench.fill_source()
            rounds = []
            for count in args.counts:
                rounds.append(bench.round(count))
                bench.results["rounds"] = rounds
                if count != args.counts[-1]:
                    bench._stop_replicas()
            if args.kills and args.counts[-1] > 1:
                bench.results["kills"] = bench.kills(rounds[-1])
            bench._stop_replicas()
        return "complete"

    status = run_bench(bench, machine, phases)
    report = {"status": status, "machine": machine, "args": {k: v for k, v in vars(args).items()
                                                             if isinstance(v, (int, float, str, list))},
              "results": bench.results}
    return publish(report, format_report(report), args.json_out)


if __name__ == "__main__":
    raise SystemExit(main())
