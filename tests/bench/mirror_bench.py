"""ClusterLink mirroring benchmark: `make bench` (or `python -m tests.bench.mirror_bench`).

One run, on two fresh single-node Kafka clusters it starts in a temp folder:

1. fills a source topic with ``--size-mb`` MiB of ``--record-size`` records using
   Kafka's own ProducerPerformance (the source's raw produce rate);
2. runs ProducerPerformance with the same settings into a scratch topic on the
   destination (the destination's raw produce ceiling), then deletes it;
3. reads the source topic with Kafka's ConsumerPerformance (raw consume rate);
4. starts a real `clusterlink serve`, creates a link and a mirror topic and times
   mirror creation -> every destination end offset equals the source's, then reads
   the source topic with ConsumerPerformance again: the consume rate the mirror is
   compared with is the mean of the two reads around it, since a shared machine's
   speed drifts within minutes (the report shows both);
5. with the mirror running, produces at a steady rate records carrying their send
   time and reads them on the destination mirror (and, as a baseline, straight from
   the source) to get end-to-end latency percentiles;
6. stops the service and mirrors the same source topic twice with Apache Kafka
   MirrorMaker 2 (dedicated mode, connect-mirror from Maven Central): on its
   defaults and tuned for volume, each into a fresh destination topic;
7. as a reference for a byte-for-byte copy, times Kafka's own replication on a fresh
   two-node cluster: the same data on node 1, read once with ConsumerPerformance, then
   a second replica of every partition on node 2, copied by its replica fetcher (see
   replication.py);
8. prints a report (machine, settings, rates, CPU per GiB, ratios) and optionally
   writes JSON.

It measures; it never asserts a timing. MB means MiB (2**20 bytes) throughout, as in
Kafka's perf tools. Everything it starts is stopped in a `finally`, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import re
import resource
import signal
import statistics
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from clusterlink.sandbox.cluster import KafkaCluster, java_command, stop_cluster
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.bench import replication
from tests.bench.common import PROGRESS_EVERY_S, TICKS, BenchError, BenchRun, add_cluster_args, add_output_args, \
    cluster_arg_maps, log, machine_info, middle_rate, pairs, proc_cpu_seconds, proc_peak_rss_mib, produce_waiting, publish, \
    report_end, report_head, run_bench, temp_root, topic_bytes
from tests.bench.mm2 import TUNED, effective_client_configs, ensure_mm2_jars, mm2_command, mm2_properties, \
    write_run_files

MIB = 1024 * 1024
GIB = 1024 * MIB
MM2_STOP_GRACE_S = 15.0
# Heap of the perf-tool JVMs (the brokers keep what the cluster module gives them).
TOOL_HEAP = ("-Xms256m", "-Xmx1g")
LATENCY_HEADER = struct.Struct(">QQ")  # sequence number, send time (time.time_ns)

PRODUCER_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th"
)
CONSUMER_FIELDS = (
    "start.time", "end.time", "data.consumed.in.MB", "MB.sec", "data.consumed.in.nMsg",
    "nMsg.sec", "rebalance.time.ms", "fetch.time.ms", "fetch.MB.sec", "fetch.nMsg.sec",
)


# --------------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.mirror_bench",
        description="Measure ClusterLink mirroring against Kafka's own produce/consume rates.",
    )
    parser.add_argument("--size-mb", type=float, default=1024, help="MiB of records to fill and mirror (default 1024)")
    parser.add_argument("--record-size", type=int, default=1024, help="bytes per record value (default 1024)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the bench topic (default 6)")
    parser.add_argument("--compression", default="lz4", help="producer compression.type (default lz4)")
    parser.add_argument("--linger-ms", type=int, default=5, help="ProducerPerformance linger.ms (default 5)")
    parser.add_argument("--batch-size", type=int, default=262144,
                        help="ProducerPerformance batch.size in bytes (default 262144)")
    parser.add_argument("--warmup-mb", type=float, default=256,
                        help="MiB produced and consumed on each broker before measuring (default 256; 0 skips)")
    parser.add_argument("--warmup-mirror-passes", type=int, default=8,
                        help="times the source's warm-up topic is mirrored, on a link of its own, before "
                             "round 1 (default 8; 0 skips): the rounds then meet a destination broker whose "
                             "JIT has compiled the path of the mirror's Produce requests, as a broker in "
                             "service has")
    parser.add_argument("--latency-rate", type=int, default=2000, help="records/s of the latency run (default 2000)")
    parser.add_argument("--latency-seconds", type=float, default=20, help="measured seconds of the latency run (default 20)")
    parser.add_argument("--latency-warmup-seconds", type=float, default=45,
                        help="seconds produced before the latency measurement starts (default 45: the brokers' "
                             "JIT compiles the small-request paths meanwhile, which the volume runs do not warm; "
                             "the first 40 s showed a p99 several times the steady one)")
    parser.add_argument("--latency-partitions", type=int, default=3, help="partitions of the latency topic (default 3)")
    parser.add_argument("--latency-linger-ms", type=int, default=5,
                        help="linger.ms of the latency run's Python producer (default 5, the client's own "
                             "default; 1 makes about one batch per record, which the mirror must write as "
                             "as many batches)")
    parser.add_argument("--latency-record-size", type=int, default=None,
                        help="bytes per latency record (default: --record-size)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="mirror/consume rounds (default 3): each round mirrors the whole topic again "
                             "into a new mirror topic, then reads the source once more; the headline "
                             "ratios are the medians over the rounds, each round against the mean of "
                             "the consume runs just before and after it")
    parser.add_argument("--mirror-timeout", type=float, default=3600,
                        help="seconds to wait for the mirror to catch up before giving up (default 3600)")
    parser.add_argument("--stall-seconds", type=float, default=120,
                        help="give up when the mirror makes no progress for this long (default 120)")
    add_cluster_args(parser, "ClusterLink link config entry, e.g. mirror.producer.linger.ms=20 (repeatable)")
    parser.add_argument("--skip-latency", action="store_true", help="skip the end-to-end latency run")
    parser.add_argument("--skip-mm2", action="store_true", help="skip the two MirrorMaker 2 runs")
    parser.add_argument("--skip-replication", action="store_true",
                        help="skip the reference run of Kafka's own replication (a follower catching up)")
    parser.add_argument("--mm2-prop", action="append", default=[], metavar="KEY=VALUE",
                        help="extra mm2.properties entry for both MirrorMaker 2 runs (repeatable)")
    add_output_args(parser, "--json-out")
    args = parser.parse_args(argv)
    if args.size_mb <= 0 or args.record_size <= 0 or args.partitions <= 0 or args.rounds <= 0:
        parser.error("--size-mb, --record-size, --partitions and --rounds must be positive")
    if args.warmup_mirror_passes < 0:
        parser.error("--warmup-mirror-passes must be 0 or more")
    if args.latency_rate <= 0 or args.latency_seconds <= 0 or args.latency_partitions <= 0:
        parser.error("--latency-rate, --latency-seconds and --latency-partitions must be positive")
    if args.latency_record_size is None:
        args.latency_record_size = args.record_size
    if args.latency_record_size < LATENCY_HEADER.size:
        parser.error(f"--latency-record-size must be at least {LATENCY_HEADER.size}")
    cluster_arg_maps(parser, args)
    args.mm2_props = pairs(parser, "--mm2-prop", args.mm2_prop)
    args.num_records = max(1, int(args.size_mb * MIB // args.record_size))
    return args


# ------------------------------------------------------------------ CPU accounting


def thread_cpu_seconds(pid: int | None) -> dict[int, tuple[str, float]]:
    """Per thread of a live process: (thread name, user + system CPU seconds)."""
    out: dict[int, tuple[str, float]] = {}
    if pid is None:
        return out
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            head, tail = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = tail.split()
        name = head.split("(", 1)[1]
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return out


class ThreadMeter:
    """Where a process's CPU went, by thread name (librdkafka names its threads
    rdk:main / rdk:broker-N; CPython's are all "python"), and its busiest thread:
    one near 1.0 core means a single thread (e.g. one holding the GIL) is the limit."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.before: dict[int, tuple[str, float]] = {}
        self.wall = 0.0

    def start(self) -> ThreadMeter:
        self.before = thread_cpu_seconds(self.pid)
        self.wall = time.monotonic()
        return self

    def stop(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self.wall, 1e-9)
        by_name: dict[str, float] = {}
        busiest = ("", 0.0)
        for tid, (name, seconds) in thread_cpu_seconds(self.pid).items():
            used = seconds - self.before.get(tid, (name, 0.0))[1]
            group = re.sub(r"-?\d+$", "", name)
            by_name[group] = by_name.get(group, 0.0) + used
            if used > busiest[1]:
                busiest = (name, used)
        ordered = sorted(by_name.items(), key=lambda kv: -kv[1])
        return {
            "by_name": {k: round(v / wall, 2) for k, v in ordered},
            "seconds_by_name": {k: round(v, 2) for k, v in ordered},
            "busiest_thread": {"name": busiest[0], "cores": round(busiest[1] / wall, 2)},
        }


def jvm_cpu_split(seconds_by_name: dict[str, float]) -> dict[str, float]:
    """A JVM's CPU seconds by what its threads do: `jit` (HotSpot's C1/C2 compiler
    threads), `gc` (G1's threads and the VM thread, which runs its safepoints) and
    `work` (every other thread: for a broker, its network and request threads).

    Thread names as /proc shows them, cut to 15 characters: "C2 CompilerThre",
    "GC Thread#", "G1 Conc#", "G1 Refine#", "VM Thread", "data-plane-kafk"..."""
    split = {"jit": 0.0, "gc": 0.0, "work": 0.0}
    for name, seconds in seconds_by_name.items():
        if "CompilerThre" in name:
            split["jit"] += seconds
        elif name.startswith(("GC Thread", "G1 ", "VM Thread")):
            split["gc"] += seconds
        else:
            split["work"] += seconds
    return {k: round(v, 2) for k, v in split.items()}


def broker_pid(cluster: KafkaCluster, node_id: int | None = None) -> int | None:
    try:
        node = cluster.node_ids[0] if node_id is None else node_id
        return int((cluster.node_folder(node) / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all CPUs spent neither idle nor waiting for I/O since boot."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / TICKS


class CpuMeter:
    """CPU used by named processes between start() and stop(), as cores busy.

    Also the whole machine's busy cores, and `other`: what processes outside this
    run used (other people's tests on a shared machine make a run less telling).
    """

    def __init__(self, pids: dict[str, int | None]):
        self.pids = {"bench": os.getpid(), **pids}
        self.before: dict[str, float | None] = {}
        self.machine: float | None = None
        self.wall = 0.0

    def start(self) -> CpuMeter:
        self.before = {name: proc_cpu_seconds(pid) for name, pid in self.pids.items()}
        self.machine = machine_busy_seconds()
        self.wall = time.monotonic()
        return self

    def stop(self, extra: dict[str, float] | None = None) -> dict[str, float]:
        wall = max(time.monotonic() - self.wall, 1e-9)
        used: dict[str, float] = {}
        for name, pid in self.pids.items():
            after, before = proc_cpu_seconds(pid), self.before.get(name)
            if after is not None and before is not None:
                used[name] = after - before
        used.update(extra or {})
        out = {name: round(seconds / wall, 2) for name, seconds in used.items()}
        machine_after = machine_busy_seconds()
        if machine_after is not None and self.machine is not None:
            machine = machine_after - self.machine
            out["machine"] = round(machine / wall, 2)
            out["other"] = round(max(0.0, machine - sum(used.values())) / wall, 2)
        return out


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------ the benchmark


@dataclass
class Bench(BenchRun):
    tools: list[subprocess.Popen[str]] = field(default_factory=list)
    topic: str = ""
    warmup_topic: str | None = None  # the source's warm-up topic, until warm_up_mirror mirrored it
    link: str = ""  # the last mirror round's link
    round_topic: str | None = None  # the last mirror round's destination topic, until dropped
    mm2_libs: Path | None = None

    # -- set-up and tear-down (the rest in BenchRun) --------------------------

    def before_clusters(self) -> None:
        if not self.args.skip_mm2:
            # Before anything starts: a Maven failure is then the first thing reported.
            self.mm2_libs = ensure_mm2_jars()
            log(f"MirrorMaker 2 jars in {self.mm2_libs}")

    def stop_tools(self) -> None:
        for proc in self.tools:
            _kill_group(proc)

    # -- Kafka's own tools ----------------------------------------------------

    def run_tool(self, cluster: KafkaCluster, main_class: str, tool_args: list[str],
                 timeout: float) -> tuple[str, float]:
        """Runs a Kafka tool JVM; returns its output and the CPU seconds it used."""
        cmd = java_command(cluster.libs, main_class, tool_args, heap=TOOL_HEAP)
        cpu_before = children_cpu_seconds()
        # Own session: Ctrl-C reaches us, and we stop it ourselves in `close`.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.tools.append(proc)
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise BenchError(f"{main_class.rsplit('.', 1)[-1]} did not finish within {timeout:.0f}s") from None
        finally:
            if proc.poll() is not None:
                self.tools.remove(proc)
        if proc.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-20:])
            raise BenchError(f"{main_class} exited with {proc.returncode}:\n{tail}")
        return output, children_cpu_seconds() - cpu_before

    def producer_props(self, cluster: KafkaCluster) -> list[str]:
        a = self.args
        return [
            f"bootstrap.servers={cluster.bootstrap}", f"compression.type={a.compression}",
            f"linger.ms={a.linger_ms}", f"batch.size={a.batch_size}", "acks=all",
        ]

    def producer_perf(self, cluster: KafkaCluster, topic: str, label: str,
                      records: int | None = None) -> dict[str, Any]:
        a = self.args
        records = a.num_records if records is None else records
        tool_args = ["--topic", topic, "--num-records", str(records), "--record-size", str(a.record_size),
                     "--throughput", "-1", "--producer-props", *self.producer_props(cluster)]
        log(f"{label}: ProducerPerformance, {records} records of {a.record_size} B into {topic}")
        meter = CpuMeter({"broker": broker_pid(cluster)}).start()
        output, tool_cpu = self.run_tool(cluster, "org.apache.kafka.tools.ProducerPerformance", tool_args,
                                         timeout=max(600.0, a.size_mb * 2))
        cpu = meter.stop({"tool": tool_cpu})
        matches = list(PRODUCER_SUMMARY.finditer(output))
        if not matches:
            raise BenchError(f"no summary line in ProducerPerformance output:\n{output[-2000:]}")
        m = matches[-1]
        result = {
            "records": int(m["records"]), "records_per_s": float(m["rps"]), "mib_per_s": float(m["mbps"]),
            "latency_ms": {"avg": float(m["avg"]), "max": float(m["max"]), "p50": int(m["p50"]),
                           "p95": int(m["p95"]), "p99": int(m["p99"]), "p99.9": int(m["p999"])},
            "cores_busy": cpu, "summary": m.group(0),
        }
        log(f"{label}: {result['mib_per_s']:.1f} MiB/s, {result['records_per_s']:.0f} records/s")
        return result

    def consumer_perf(self, cluster: KafkaCluster, topic: str, records: int,
                      label: str = "source consume") -> dict[str, Any]:
        config = self.root / "consumer-perf.properties"
        # The same fetch sizes as the ClusterLink source consumer, so the ratio shows
        # engine overhead rather than fetch tuning.
        config.write_text("fetch.max.bytes=52428800\nmax.partition.fetch.bytes=10485760\n")
        tool_args = ["--bootstrap-server", cluster.bootstrap, "--topic", topic, "--messages", str(records),
                     "--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--consumer.config", str(config),
                     "--timeout", "30000"]
        log(f"{label}: ConsumerPerformance, {records} records from {topic}")
        meter = CpuMeter({"broker": broker_pid(cluster)}).start()
        output, tool_cpu = self.run_tool(cluster, "org.apache.kafka.tools.ConsumerPerformance", tool_args,
                                         timeout=max(600.0, self.args.size_mb * 2))
        cpu = meter.stop({"tool": tool_cpu})
        row = _consumer_row(output)
        consumed = int(float(row["data.consumed.in.nMsg"]))
        result = {
            "records": consumed,
            # fetch.* excludes the group join (rebalance.time.ms): the steady read rate.
            "records_per_s": float(row["fetch.nMsg.sec"]), "mib_per_s": float(row["fetch.MB.sec"]),
            "incl_group_join": {"records_per_s": float(row["nMsg.sec"]), "mib_per_s": float(row["MB.sec"])},
            "rebalance_ms": int(float(row["rebalance.time.ms"])), "fetch_ms": int(float(row["fetch.time.ms"])),
            "cores_busy": cpu,
        }
        if consumed < records:
            result["warning"] = f"consumed only {consumed} of {records} records before the tool's timeout"
        log(f"{label}: {result['mib_per_s']:.1f} MiB/s, {result['records_per_s']:.0f} records/s")
        return result

    # -- phases ---------------------------------------------------------------

    def warm_up(self) -> None:
        """Produce and consume --warmup-mb on each broker first: a fresh broker's JIT
        needs a few hundred thousand records before it runs at full speed, and every
        measured phase should meet equally warm brokers."""
        a = self.args
        records = int(a.warmup_mb * MIB // a.record_size)
        if records <= 0:
            return
        assert self.source is not None and self.destination is not None
        log(f"warm-up: {records} records produced and consumed on each broker")

        def one(cluster: KafkaCluster) -> None:
            topic = f"warmup-{uuid.uuid4().hex[:6]}"
            create_topic(cluster.bootstrap, topic, a.partitions)
            try:
                self.run_tool(cluster, "org.apache.kafka.tools.ProducerPerformance",
                              ["--topic", topic, "--num-records", str(records), "--record-size", str(a.record_size),
                               "--throughput", "-1", "--producer-props", *self.producer_props(cluster)],
                              timeout=max(600.0, a.warmup_mb * 4))
                self.run_tool(cluster, "org.apache.kafka.tools.ConsumerPerformance",
                              ["--bootstrap-server", cluster.bootstrap, "--topic", topic, "--messages", str(records),
                               "--group", f"bench-warmup-{uuid.uuid4().hex[:8]}", "--timeout", "30000"],
                              timeout=max(600.0, a.warmup_mb * 4))
            finally:
                if cluster is self.source and self.args.warmup_mirror_passes:
                    self.warmup_topic = topic  # mirrored by warm_up_mirror, then deleted
                else:
                    delete_topic(cluster.bootstrap, topic)

        # Both brokers at once: the warm-up is not measured, so sharing the CPUs is fine.
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="warmup")
        try:
            futures = [pool.submit(one, c) for c in (self.source, self.destination)]
            for future in futures:
                future.result()
        except BaseException:
            for proc in list(self.tools):  # so the threads return at once on Ctrl-C
                _kill_group(proc)
            raise
        finally:
            pool.shutdown(wait=True)

    def warm_up_mirror(self, stub: pb_grpc.ClusterLinkServiceStub) -> None:
        """Mirror the source's warm-up topic --warmup-mirror-passes times, on a link of
        its own, then delete the link and the topics it wrote.

        The warm-up's ProducerPerformance does not reach the destination broker's code
        for the mirror's Produce requests (many partitions per request, one batch
        each). Without this its C2 compiler threads took 1.5-3.1 CPU s in each of
        rounds 1-3 (a quarter to two fifths of the broker's CPU), on the cores the
        mirror is measured on. A destination broker in service compiled that path
        long ago. Each pass writes a new mirror topic, all deleted at the end; the
        broker's JIT, GC and other threads' CPU seconds in each pass are in
        results["warmup_mirror"].
        """
        topic = self.warmup_topic
        if topic is None:
            return
        assert self.source is not None and self.destination is not None and self.service is not None
        a = self.args
        self.warmup_topic = None
        link = f"warmup-{uuid.uuid4().hex[:6]}"
        targets = {p: h for p, (_lo, h) in watermarks(self.source.bootstrap, topic, a.partitions).items()}
        passes: list[dict[str, float]] = []
        written: list[str] = []
        self.results["warmup_mirror"] = {"passes": passes}
        try:
            self.create_link(stub, link)
            for n in range(1, a.warmup_mirror_passes + 1):
                broker = ThreadMeter(broker_pid(self.destination)).start()
                mirror_topic = f"{topic}-{n}"
                written.append(mirror_topic)
                stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
                    parent=f"links/{link}", mirror_topic_id=mirror_topic,
                    mirror_topic=pb.MirrorTopic(source_topic=topic)))
                outcome = self._wait_caught_up(mirror_topic, targets, time.monotonic(), self.service.process,
                                               None, None, f"warm-up mirror {n}")
                if not outcome.get("caught_up"):
                    raise BenchError(f"the warm-up mirror did not catch up: {outcome.get('why')}")
                split = jvm_cpu_split(broker.stop()["seconds_by_name"])
                passes.append(split)
                log(f"warm-up mirror {n}: destination broker CPU s: JIT {split['jit']}, GC {split['gc']}, "
                    f"other threads {split['work']}")
        finally:
            stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))
            delete_topic(self.source.bootstrap, topic)
            # All at once, right before round 1: it then reuses their page cache (see drop_round).
            drop_topics(self.destination, written)

    def fill_and_raw_rates(self) -> None:
        a = self.args
        assert self.source is not None and self.destination is not None
        self.topic = f"bench-{uuid.uuid4().hex[:6]}"
        create_topic(self.source.bootstrap, self.topic, a.partitions)
        self.results["source_produce"] = self.producer_perf(self.source, self.topic, "source produce")
        self.source_ends = watermarks(self.source.bootstrap, self.topic, a.partitions)
        self.results["source_topic"] = {
            "records": sum(h - lo for lo, h in self.source_ends.values()),
            "on_disk_mib": round(topic_bytes(self.source, self.topic) / MIB, 1),
            "per_partition": {p: h for p, (_lo, h) in sorted(self.source_ends.items())},
        }

        scratch = f"scratch-{uuid.uuid4().hex[:6]}"
        create_topic(self.destination.bootstrap, scratch, a.partitions)
        try:
            self.results["destination_produce"] = self.producer_perf(self.destination, scratch, "destination produce")
        finally:
            delete_topic(self.destination.bootstrap, scratch)

        self.read_source("source_consume")

    def read_source(self, key: str) -> None:
        """The source's raw consume rate into results[key]: before the mirror phase and once more after it."""
        assert self.source is not None
        self.results[key] = self.consumer_perf(self.source, self.topic, self.results["source_topic"]["records"])

    def mirror(self, stub: pb_grpc.ClusterLinkServiceStub, round_no: int = 1) -> dict[str, Any]:
        """One mirror round: a new link and a new mirror topic of the whole source topic,
        timed until lag 0 (the latency run uses the last round's link). Round 1 is
        results["mirror"], later ones go to results["rounds"]."""
        a = self.args
        assert self.source is not None and self.destination is not None and self.service is not None
        self.drop_round(stub)
        # A new link every round, so each round starts the same way: a link that is
        # already fetching would first wait for its in-flight fetch (up to
        # mirror.fetch.max.wait.ms) before it asks for the new mirror's partitions.
        self.link = f"bench-{uuid.uuid4().hex[:6]}"
        self.create_link(stub, self.link)
        targets = {p: h for p, (_lo, h) in self.source_ends.items()}
        total = sum(h - lo for lo, h in self.source_ends.values())
        service_pid = self.service.process.pid if self.service.process else None
        meter = CpuMeter({"clusterlink": service_pid, "source_broker": broker_pid(self.source),
                          "destination_broker": broker_pid(self.destination)})
        # A destination name of its own: the MirrorMaker 2 runs later write the source
        # topic's name (IdentityReplicationPolicy) on the same destination cluster.
        mirror_topic = f"{self.topic}-clusterlink" + ("" if round_no == 1 else f"-{round_no}")
        self.round_topic = mirror_topic
        log(f"mirror: creating mirror topic {mirror_topic} of {self.topic} ({total} records)")
        threads = ThreadMeter(service_pid)
        broker_threads = ThreadMeter(broker_pid(self.destination))
        meter.start()
        threads.start()
        broker_threads.start()
        cpu_before = proc_cpu_seconds(service_pid)
        t0 = time.monotonic()
        mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=f"links/{self.link}", mirror_topic_id=mirror_topic,
            mirror_topic=pb.MirrorTopic(source_topic=self.topic)))
        name = mirror.name

        def status() -> tuple[bool, str | None, str]:
            m = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))
            state = pb.MirrorTopic.State.Name(m.state)
            text = f"state {state}{': ' + m.reason if m.reason else ''}"
            if m.state in (pb.MirrorTopic.FAILED, pb.MirrorTopic.DELETING):
                return False, f"mirror went {state}: {m.reason}", text
            return m.state == pb.MirrorTopic.ACTIVE, None, text

        outcome = self._wait_caught_up(mirror_topic, targets, t0, self.service.process, status, service_pid,
                                       "mirror")
        cpu_after = proc_cpu_seconds(service_pid)
        cpu = meter.stop()
        cpu_first = outcome.pop("cpu_at_first_record")
        result: dict[str, Any] = {"mirror_topic": name, **outcome, "cores_busy": cpu,
                                  "clusterlink_threads": threads.stop(),
                                  "destination_broker_cpu_s": jvm_cpu_split(broker_threads.stop()["seconds_by_name"]),
                                  "clusterlink_peak_rss_mib": proc_peak_rss_mib(service_pid)}
        # The whole `clusterlink serve` process: API, reconciler, worker, librdkafka.
        result.update(_cpu_per_gib(cpu_before, cpu_after, cpu_first, outcome["records_mirrored"] * a.record_size))
        if not self._add_rates(result, outcome, mirror_topic, f"mirror round {round_no}"):
            result["service_log_tail"] = "".join(self.service.output[-40:])
        if round_no == 1:
            self.results["mirror"] = result
        else:
            self.results.setdefault("rounds", []).append(result)
        return result

    def drop_round(self, stub: pb_grpc.ClusterLinkServiceStub | None) -> None:
        """Delete the last round's link and destination topic, and wait until its files are gone.

        So every round writes into memory the page cache has held seconds before, as a
        broker in service, whose page cache is full, recycles its pages. A VM with free
        page reporting hands memory that stays free back to its host, which maps it
        again on the guest's next touch: in rounds that wrote into such memory the
        destination broker spent 36% of its samples (perf) copying the written bytes
        into the page cache, against 3.5% in a round after a deleted topic, and its
        network and request threads used 4.6-5.2 CPU s per GiB against 1.6-2.3 s.
        """
        if self.round_topic is None:
            return
        assert self.destination is not None
        if stub is not None and self.link:
            stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{self.link}", force=True))
        drop_topics(self.destination, [self.round_topic])
        self.round_topic = None

    def _add_rates(self, result: dict[str, Any], outcome: dict[str, Any], topic: str, label: str) -> bool:
        """Once caught up: the rates (whole run, first -> last record, 10% -> 90%) and
        the destination `topic`'s size into `result`, and a log line. Says whether the
        run caught up (if not, only logs why)."""
        assert self.destination is not None
        if not outcome["caught_up"]:
            log(f"{label}: DID NOT catch up: {outcome['why']}")
            return False
        size = self.args.record_size
        done = outcome["records_mirrored"]
        seconds, copy_seconds = outcome["seconds_total"], outcome["seconds_copying"]
        result["records_per_s"] = round(done / seconds, 1)
        result["mib_per_s"] = round(done * size / MIB / seconds, 2)
        if outcome.get("middle_records_per_s"):
            result["middle_mib_per_s"] = round(outcome["middle_records_per_s"] * size / MIB, 2)
        if copy_seconds and copy_seconds > 0:
            result["copy_records_per_s"] = round(done / copy_seconds, 1)
            result["copy_mib_per_s"] = round(done * size / MIB / copy_seconds, 2)
        result["destination_on_disk_mib"] = round(topic_bytes(self.destination, topic) / MIB, 1)
        log(f"{label}: caught up in {seconds:.1f}s: {result['mib_per_s']:.1f} MiB/s, "
            f"{result['records_per_s']:.0f} records/s, {result.get('cpu_s_per_gib')} CPU s/GiB")
        return True

    def _wait_caught_up(self, topic: str, targets: dict[int, int], t0: float,
                        process: subprocess.Popen[str] | None,
                        status: Callable[[], tuple[bool, str | None, str]] | None,
                        cpu_pid: int | None, label: str) -> dict[str, Any]:
        """Polls the destination's end offsets of `topic` until each reaches `targets`.

        `status` (polled once a second) says whether the mirror is active, why it
        failed (None while fine) and a state line for progress messages; without it
        the destination is read from the start. `process` must stay alive. The CPU
        seconds of `cpu_pid` are sampled when the first record shows up.
        """
        a = self.args
        assert self.destination is not None
        total = sum(targets.values())
        deadline = t0 + a.mirror_timeout
        t_active: float | None = None if status is not None else t0
        t_first: float | None = None
        cpu_first: float | None = None
        state_text = ""
        last_status = 0.0
        last_progress_at = t0
        last_done = -1
        last_print = t0
        highs: dict[int, int] = {}
        samples: list[tuple[float, int]] = []
        reader = AdminClient({"bootstrap.servers": self.destination.bootstrap, "log_level": 5})
        specs = {TopicPartition(topic, p): OffsetSpec.latest() for p in targets}

        def failed(why: str) -> dict[str, Any]:
            out = self._not_caught_up(why, samples, last_done, total, t0, t_active, t_first)
            out["cpu_at_first_record"] = cpu_first
            return out

        try:
            while True:
                now = time.monotonic()
                if process is not None and process.poll() is not None:
                    return failed(f"{label} process exited with code {process.returncode}")
                if status is not None and (now - last_status >= 1.0 or t_active is None):
                    last_status = now
                    active, failure, state_text = status()
                    if active and t_active is None:
                        t_active = now
                    if failure:
                        return failed(failure)
                done = 0
                if t_active is not None:
                    highs = {}
                    try:
                        # One ListOffsets request for all partitions: cheap enough to poll often.
                        # Until the destination topic exists this fails, and counts as nothing yet.
                        for tp, future in reader.list_offsets(specs, request_timeout=5).items():
                            highs[tp.partition] = future.result().offset
                    except KafkaException:
                        highs = {}
                    done = sum(min(highs.get(p, 0), t) for p, t in targets.items())
                    now = time.monotonic()
                    if done > 0 and t_first is None:
                        t_first = now
                        cpu_first = proc_cpu_seconds(cpu_pid)
                    if highs and all(highs.get(p, 0) >= t for p, t in targets.items()):
                        samples.append((now - t0, done))
                        extra = sum(max(0, highs.get(p, 0) - t) for p, t in targets.items())
                        return {
                            **middle_rate(samples, total),
                            "caught_up": True, "records_mirrored": done,
                            # Records past the source's end offsets: duplicates (at-least-once).
                            "extra_records_on_destination": extra,
                            "seconds_total": round(now - t0, 2),
                            "seconds_to_active": round(t_active - t0, 2),
                            "seconds_to_first_record": round((t_first or now) - t0, 2),
                            # From the first record on the destination to the last: the
                            # copy rate without the preparation and reconcile delays.
                            "seconds_copying": round(now - (t_first or now), 2),
                            "rate_trace": _trace(samples),
                            "cpu_at_first_record": cpu_first,
                        }
                if done != last_done:
                    last_done, last_progress_at = done, now
                    samples.append((now - t0, done))
                if now - last_print >= PROGRESS_EVERY_S:
                    last_print = now
                    log(f"{label}: {done}/{total} records ({100 * done / max(total, 1):.0f}%)"
                        f"{', ' + state_text if state_text else ''}")
                if now - last_progress_at > a.stall_seconds:
                    return failed(f"no progress for {a.stall_seconds:.0f}s{' (' + state_text + ')' if state_text else ''}")
                if now > deadline:
                    return failed(f"not caught up within {a.mirror_timeout:g}s"
                                  f"{' (' + state_text + ')' if state_text else ''}")
                time.sleep(0.05)  # polling interval, not synchronisation: the deadline bounds it
        finally:
            del reader

    @staticmethod
    def _not_caught_up(why: str, samples: list[tuple[float, int]], done: int, total: int, t0: float,
                       t_active: float | None, t_first: float | None) -> dict[str, Any]:
        return {
            "caught_up": False, "why": why, "records_mirrored": max(done, 0), "records_expected": total,
            "seconds_total": round(time.monotonic() - t0, 2),
            "seconds_to_active": round(t_active - t0, 2) if t_active else None,
            "seconds_to_first_record": round(t_first - t0, 2) if t_first else None,
            "rate_trace": _trace(samples),
        }

    def latency(self, stub: pb_grpc.ClusterLinkServiceStub) -> None:
        a = self.args
        assert self.source is not None and self.destination is not None
        topic = f"latency-{uuid.uuid4().hex[:6]}"
        create_topic(self.source.bootstrap, topic, a.latency_partitions)
        mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=f"links/{self.link}", mirror_topic=pb.MirrorTopic(source_topic=topic)))
        deadline = time.monotonic() + 120
        while True:
            m = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror.name))
            if m.state == pb.MirrorTopic.ACTIVE:
                break
            if m.state == pb.MirrorTopic.FAILED or time.monotonic() > deadline:
                raise BenchError(f"latency mirror never became ACTIVE (state "
                                 f"{pb.MirrorTopic.State.Name(m.state)}: {m.reason})")
            time.sleep(0.2)  # polling interval with a deadline

        warmup = int(a.latency_rate * a.latency_warmup_seconds)
        measured = int(a.latency_rate * a.latency_seconds)
        total = warmup + measured
        mirror_topic = mirror.name.rsplit("/", 1)[-1]
        mirror_rx = LatencyReader(self.destination.bootstrap, mirror_topic, a.latency_partitions, warmup, "mirror")
        direct_rx = LatencyReader(self.source.bootstrap, topic, a.latency_partitions, warmup, "direct")
        mirror_rx.start()
        direct_rx.start()
        producer = Producer({
            "bootstrap.servers": self.source.bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": a.latency_linger_ms, "compression.type": a.compression,
        })
        padding = b"x" * (a.latency_record_size - LATENCY_HEADER.size)
        log(f"latency: {a.latency_rate} records/s for {a.latency_warmup_seconds:g}s warm-up + "
            f"{a.latency_seconds:g}s into {topic}, read from the mirror on the destination")
        assert self.service is not None and self.service.process is not None
        meter = CpuMeter({"clusterlink": self.service.process.pid, "source_broker": broker_pid(self.source),
                          "destination_broker": broker_pid(self.destination),
                          "mirror_reader": mirror_rx.process.pid, "direct_reader": direct_rx.process.pid})
        try:
            start = time.monotonic()
            meter.start()
            for seq in range(total):
                due = start + seq / a.latency_rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # pacing the steady send rate
                value = LATENCY_HEADER.pack(seq, time.time_ns()) + padding
                produce_waiting(producer, topic, value, seq % a.latency_partitions, 0.01)
                producer.poll(0)
            send_seconds = time.monotonic() - start
            cpu = meter.stop()
            unsent = producer.flush(60)
            wait_deadline = time.monotonic() + 60
            while time.monotonic() < wait_deadline and not (mirror_rx.complete(total) and direct_rx.complete(total)):
                time.sleep(0.1)  # polling interval with a deadline
        finally:
            mirror_rx.stop()
            direct_rx.stop()
        self.results["latency"] = {
            "topic": topic, "partitions": a.latency_partitions, "record_size": a.latency_record_size,
            "target_rate": a.latency_rate, "achieved_rate": round(total / send_seconds, 1),
            "sent": total, "measured": measured, "unsent_after_flush": unsent,
            "mirror": mirror_rx.summary(measured), "direct_from_source": direct_rx.summary(measured),
            "cores_busy": cpu,
        }
        ms = self.results["latency"]["mirror"]
        log(f"latency: mirror p50 {ms.get('p50_ms')} ms, p99 {ms.get('p99_ms')} ms "
            f"({ms.get('received')}/{measured} measured records received)")

    # -- Kafka's own replication ---------------------------------------------

    def replication(self) -> None:
        """Kafka's own copy between brokers of the same data shape (see replication.py),
        and a ConsumerPerformance read on the same cluster to set it against. The new
        cluster first gets the warm-up the others had, with a replication of its own:
        its produce, fetch and follower paths meet the measured run warm."""
        a = self.args
        log("replication: a two-node cluster, the data on node 1, then a second replica on node 2")
        pair = replication.start_pair(self.root / "replication", dict(a.broker_props))
        try:
            warm = int(a.warmup_mb * MIB // a.record_size)
            if warm > 0:
                log(f"replication warm-up: {warm} records produced, consumed and replicated")
                self._replicate(pair, warm, "replication warm-up")
            result = self._replicate(pair, a.num_records, "replication")
            self.results["replication"] = result
            log(f"replication: the follower copied {result['on_disk_mib']} MiB in "
                f"{result.get('seconds_copying')}s: {result.get('copy_mib_per_s')} MiB/s "
                f"(consume on that cluster {result['consume_mib_per_s']:.1f} MiB/s)")
        finally:
            stop_cluster(pair, remove=not a.keep)

    def _replicate(self, pair: KafkaCluster, records: int, label: str) -> dict[str, Any]:
        """A topic of `records` on node 1: produced, read once, then replicated to node 2 and timed."""
        a = self.args
        topic = f"repl-{uuid.uuid4().hex[:6]}"
        replication.create_on_leader(pair.bootstrap, topic, a.partitions)
        self.producer_perf(pair, topic, f"{label} produce", records)
        records = sum(h - lo for lo, h in watermarks(pair.bootstrap, topic, a.partitions).values())
        consume = self.consumer_perf(pair, topic, records, f"{label} consume")
        target = topic_bytes(pair, topic, replication.LEADER)
        plan = replication.write_plan(self.root / f"{topic}.json", topic, a.partitions)
        follower = broker_pid(pair, replication.FOLLOWER)
        meter = CpuMeter({"leader_broker": broker_pid(pair, replication.LEADER),
                          "follower_broker": follower}).start()
        follower_cpu = proc_cpu_seconds(follower)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reassign")
        try:
            # The tool runs beside the sampling: the follower starts copying before its JVM exits.
            tool = pool.submit(self.run_tool, pair, replication.REASSIGN_TOOL,
                               ["--bootstrap-server", pair.bootstrap, "--reassignment-json-file", str(plan),
                                "--execute"], 120.0)
            samples = replication.wait_copied(pair, topic, target, a.mirror_timeout, tool)
            cpu = meter.stop()
            follower_after = proc_cpu_seconds(follower)
            tool.result()
        finally:
            pool.shutdown(wait=True)
        replication.wait_in_sync(pair.bootstrap, topic)
        result = replication.copy_rates(samples, target, records, a.record_size)
        result["consume_mib_per_s"] = consume["mib_per_s"]
        result["follower_props"] = dict(replication.FOLLOWER_PROPS)
        result["cores_busy"] = cpu
        if follower_cpu is not None and follower_after is not None:
            result["follower_cpu_s_per_gib"] = round(
                (follower_after - follower_cpu) / (records * a.record_size / GIB), 2)
        return result

    # -- MirrorMaker 2 --------------------------------------------------------

    def stop_service(self) -> None:
        """The service is done (mirror and latency measured): stop it so it does not
        share the CPUs with the MirrorMaker 2 runs."""
        if self.service is not None:
            self.service.stop()
            log("clusterlink serve stopped")
        self.drop_round(None)  # the service's links went with its store

    def mirrormaker(self, run: str, extra: dict[str, str]) -> None:
        """Mirrors the bench topic with MirrorMaker 2 into the destination topic of the
        same name (IdentityReplicationPolicy), timed from the JVM's launch to lag 0.

        The destination topic must not exist yet: a run deletes it again when done, so
        the next run also starts from an empty destination."""
        a = self.args
        assert self.source is not None and self.destination is not None and self.mm2_libs is not None
        targets = {p: h for p, (_lo, h) in self.source_ends.items()}
        total = sum(h - lo for lo, h in self.source_ends.values())
        run_id = f"{run}-{uuid.uuid4().hex[:6]}"
        folder = self.root / f"mm2-{run}"
        props = mm2_properties(source=self.source.bootstrap, destination=self.destination.bootstrap,
                               topic=self.topic, tasks=a.partitions, run_id=run_id,
                               extra={**extra, **a.mm2_props})
        config, log4j = write_run_files(folder, props)
        cmd = mm2_command(self.mm2_libs, config, log4j, folder)
        label = f"MM2 {run}"
        log(f"{label}: mirroring {self.topic} ({total} records) into {self.topic} on the destination"
            + (f" with {extra}" if extra else ""))
        meter = CpuMeter({"source_broker": broker_pid(self.source),
                          "destination_broker": broker_pid(self.destination)})
        meter.start()
        t0 = time.monotonic()
        with open(folder / "stdout.log", "w") as out:
            proc: subprocess.Popen[str] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                start_new_session=True)
        self.tools.append(proc)
        # Java's CPU counts from its launch (start-up, JIT, Connect's start-up included).
        meter.pids["mm2"] = proc.pid
        meter.before["mm2"] = 0.0
        try:
            outcome = self._wait_caught_up(self.topic, targets, t0, proc, None, proc.pid, label)
            cpu_after = proc_cpu_seconds(proc.pid)
            cpu = meter.stop()
            rss = proc_peak_rss_mib(proc.pid)
        finally:
            self._stop_mm2(proc)
        cpu_first = outcome.pop("cpu_at_first_record")
        result: dict[str, Any] = {"settings": extra, "mm2_properties": props, **outcome, "cores_busy": cpu,
                                  "mm2_peak_rss_mib": rss,
                                  "effective_client_configs": effective_client_configs(folder / "mirrormaker.log")}
        result.update(_cpu_per_gib(0.0, cpu_after, cpu_first, outcome["records_mirrored"] * a.record_size))
        if not self._add_rates(result, outcome, self.topic, label):
            try:
                result["mm2_log_tail"] = "".join(
                    (folder / "mirrormaker.log").read_text(errors="replace").splitlines(keepends=True)[-40:])
            except OSError:
                pass
        self.results[f"mm2_{run}"] = result
        # The next run (or nothing) starts from an empty destination again.
        delete_topic(self.destination.bootstrap, self.topic)
        _wait_topic_gone(self.destination.bootstrap, self.topic)

    def _stop_mm2(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(MM2_STOP_GRACE_S)
            except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
                pass
        _kill_group(proc)
        if proc in self.tools:
            self.tools.remove(proc)


def _cpu_per_gib(before: float | None, after: float | None, at_first: float | None,
                 mirrored_bytes: int) -> dict[str, Any]:
    """CPU seconds of the mirroring process per GiB of record values mirrored: over the
    whole run (start-up included) and from the first record on the destination."""
    out: dict[str, Any] = {}
    if before is None or after is None or mirrored_bytes <= 0:
        return out
    gib = mirrored_bytes / GIB
    out["cpu_seconds"] = round(after - before, 2)
    out["cpu_s_per_gib"] = round((after - before) / gib, 2)
    if at_first is not None:
        out["cpu_seconds_copying"] = round(after - at_first, 2)
        out["copy_cpu_s_per_gib"] = round((after - at_first) / gib, 2)
    return out


def _wait_topic_gone(bootstrap: str, topic: str, timeout: float = 60.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic not in admin.list_topics(timeout=10).topics:
            return
        time.sleep(0.2)  # polling interval with a deadline
    raise BenchError(f"topic {topic} still on {bootstrap} {timeout:.0f}s after its deletion")


class LatencyReader:
    """Reads a latency topic from its beginning in a process of its own; keeps
    receive - send per record.

    A process, not a thread: the paced producer and both readers would otherwise
    share this process's interpreter lock, and each would add the others' turns to
    the latencies it measures (the direct baseline as much as the mirror)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, warmup: int, name: str):
        ctx = multiprocessing.get_context("spawn")
        self.received = ctx.Value("q", 0)
        self.halt = ctx.Event()
        self.results: Any = ctx.Queue()
        self.process = ctx.Process(target=_read_latencies, name=f"latency-{name}", daemon=True,
                                   args=(bootstrap, topic, partitions, warmup, name, self.received, self.halt,
                                         self.results))
        self._summary: dict[str, Any] | None = None

    def start(self, timeout: float = 60) -> None:
        """Starts the reader and returns once it is assigned its partitions."""
        self.process.start()
        ready = self.results.get(timeout=timeout)
        if ready != "ready":
            raise BenchError(f"latency reader did not start: {ready}")

    def complete(self, total: int) -> bool:
        return self.received.value >= total

    def stop(self) -> None:
        self.halt.set()
        try:
            self._summary = self.results.get(timeout=30)
        except queue.Empty:
            self._summary = {"error": "the latency reader gave no result"}
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()

    def summary(self, measured: int) -> dict[str, Any]:
        out = dict(self._summary or {"error": "the latency reader was not stopped"})
        if "received" in out:
            out["missing"] = measured - out["received"]
        return out


def _read_latencies(bootstrap: str, topic: str, partitions: int, warmup: int, name: str,
                    received: Any, halt: Any, results: Any) -> None:
    """The body of a LatencyReader's process."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-latency-{name}-{uuid.uuid4().hex[:6]}",
        "enable.auto.commit": False, "fetch.wait.max.ms": 50, "enable.partition.eof": False,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    results.put("ready")
    latencies_ns: list[int] = []
    seen: set[int] = set()
    duplicates = 0
    # One message per poll: a batch call would stamp every record with the time
    # the batch was returned, adding up to its timeout to each latency.
    poll = consumer.poll
    while not halt.is_set():
        m = poll(0.1)
        if m is None:
            continue
        now = time.time_ns()
        if m.error() is None and m.value() is not None:
            seq, sent = LATENCY_HEADER.unpack_from(m.value())
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            received.value = len(seen)
            if seq >= warmup:
                latencies_ns.append(now - sent)
    consumer.close()
    values = sorted(latencies_ns)
    out: dict[str, Any] = {"received": len(values), "duplicates": duplicates}
    if values:
        def pct(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))] / 1e6, 2)
        out.update({"p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "p99.9_ms": pct(0.999),
                    "max_ms": round(values[-1] / 1e6, 2), "mean_ms": round(statistics.fmean(values) / 1e6, 2)})
    results.put(out)


# ------------------------------------------------------------------- small helpers


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def _consumer_row(output: str) -> dict[str, str]:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("start.time") and i + 1 < len(lines):
            values = [v.strip() for v in lines[i + 1].split(",")]
            names = [n.strip() for n in line.split(",")]
            if len(values) == len(names):
                return dict(zip(names, values))
    raise BenchError(f"no result row in ConsumerPerformance output:\n{output[-2000:]}")


def _trace(samples: list[tuple[float, int]], points: int = 20) -> list[tuple[float, int]]:
    """At most `points` (seconds since mirror creation, records on the destination) samples."""
    if len(samples) <= points:
        return [(round(t, 1), n) for t, n in samples]
    step = (len(samples) - 1) / (points - 1)
    return [(round(samples[round(i * step)][0], 1), samples[round(i * step)][1]) for i in range(points)]


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def delete_topic(bootstrap: str, topic: str) -> None:
    delete_topics(bootstrap, [topic])


def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Delete `topics` in one request; one that cannot be deleted is logged, not raised."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    for topic, future in admin.delete_topics(list(topics)).items():
        try:
            future.result(30)
        except KafkaException as exc:
            log(f"could not delete topic {topic}: {exc}")


def drop_topics(cluster: KafkaCluster, topics: Sequence[str], timeout: float = 60.0) -> None:
    """Delete `topics` and wait until the broker removed their folders, so their page cache is free."""
    if not topics:
        return
    delete_topics(cluster.bootstrap, topics)
    data = cluster.node_folder(cluster.node_ids[0]) / "data"
    # A deleted partition's folder is renamed `<topic>-<partition>.<id>-delete` until
    # file.delete.delay.ms (1 s in the sandbox) has passed.
    pattern = re.compile("(" + "|".join(map(re.escape, topics)) + r")-\d+(\.[0-9a-f]+-delete)?$")
    deadline = time.monotonic() + timeout
    while left := sorted({m[1] for f in data.iterdir() if (m := pattern.match(f.name))}):
        if time.monotonic() > deadline:
            raise BenchError(f"the files of {', '.join(left)} still on disk {timeout:.0f}s after their deletion")
        time.sleep(0.2)  # polling interval with a deadline


def watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                for p in range(partitions)}
    finally:
        consumer.close()


# ------------------------------------------------------------------------ report


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def build_report(args: argparse.Namespace, machine: dict[str, Any], results: dict[str, Any],
                 status: str) -> dict[str, Any]:
    settings = {
        "size_mib": args.size_mb, "record_size": args.record_size, "records": args.num_records,
        "partitions": args.partitions, "compression": args.compression, "linger_ms": args.linger_ms,
        "warmup_mib_per_broker": args.warmup_mb,
        "batch_size": args.batch_size, "acks": "all",
        "latency_rate": args.latency_rate, "latency_seconds": args.latency_seconds,
        "latency_partitions": args.latency_partitions, "latency_linger_ms": args.latency_linger_ms,
        "broker_props": args.broker_props,
        "link_config": args.link_config_map,
        "mm2": None if args.skip_mm2 else {"tuned": dict(TUNED), "extra_props": args.mm2_props},
    }
    mirror = results.get("mirror", {})
    rounds: list[dict[str, Any]] = []
    ratios: dict[str, float | None] = {}
    dest = results.get("destination_produce", {}).get("mib_per_s")
    cons = consume_rate(results)
    if mirror.get("caught_up"):
        ratios = {
            "source_consume_after_vs_before": ratio(results.get("source_consume_after", {}).get("mib_per_s"),
                                                    results.get("source_consume", {}).get("mib_per_s")),
            "mirror_vs_destination_produce": ratio(mirror.get("mib_per_s"), dest),
            "mirror_vs_source_consume": ratio(mirror.get("mib_per_s"), cons),
            "mirror_copy_vs_destination_produce": ratio(mirror.get("copy_mib_per_s"), dest),
            "mirror_copy_vs_source_consume": ratio(mirror.get("copy_mib_per_s"), cons),
            "mirror_middle_vs_destination_produce": ratio(mirror.get("middle_mib_per_s"), dest),
            "mirror_middle_vs_source_consume": ratio(mirror.get("middle_mib_per_s"), cons),
        }
        rounds = round_table(results)
        if rounds:
            for key in ("vs_source_consume", "copy_vs_source_consume", "middle_vs_source_consume"):
                ratios[f"median_mirror_{key}"] = median_of(rounds, key)
            ratios["median_cpu_s_per_gib"] = median_of(rounds, "cpu_s_per_gib")
    for run in ("tuned", "default"):
        mm2 = results.get(f"mm2_{run}", {})
        if not mm2.get("caught_up"):
            continue
        if mirror.get("caught_up"):
            ratios[f"clusterlink_vs_mm2_{run}"] = ratio(mirror.get("mib_per_s"), mm2.get("mib_per_s"))
            ratios[f"clusterlink_copy_vs_mm2_{run}_copy"] = ratio(mirror.get("copy_mib_per_s"),
                                                                   mm2.get("copy_mib_per_s"))
            ratios[f"cpu_per_gib_clusterlink_vs_mm2_{run}"] = ratio(mirror.get("cpu_s_per_gib"),
                                                                     mm2.get("cpu_s_per_gib"))
            ratios[f"copy_cpu_per_gib_clusterlink_vs_mm2_{run}"] = ratio(mirror.get("copy_cpu_s_per_gib"),
                                                                          mm2.get("copy_cpu_s_per_gib"))
        ratios[f"mm2_{run}_vs_source_consume"] = ratio(mm2.get("mib_per_s"), cons)
    rep = results.get("replication", {})
    if rep.get("copy_mib_per_s"):
        ratios["replication_copy_vs_its_consume"] = ratio(rep["copy_mib_per_s"], rep.get("consume_mib_per_s"))
        if mirror.get("caught_up"):
            ratios["mirror_copy_vs_replication_copy"] = ratio(mirror.get("copy_mib_per_s"), rep["copy_mib_per_s"])
        if rounds:
            copies = [row["copy_mib_per_s"] for row in rounds if row.get("copy_mib_per_s")]
            if copies:
                ratios["median_mirror_copy_vs_replication_copy"] = ratio(statistics.median(copies),
                                                                         rep["copy_mib_per_s"])
    return {"status": status, "machine": machine, "settings": settings, "results": results,
            "rounds": rounds, "ratios": ratios}


def format_report(report: dict[str, Any]) -> str:
    m, s, r, q = report["machine"], report["settings"], report["results"], report["ratios"]
    out = report_head("ClusterLink mirror benchmark", m,
                      f"software: Kafka {m['kafka_version']} ({m['java']}), Python {m['python']}, "
                      f"confluent-kafka {m['confluent_kafka']} / librdkafka {m['librdkafka']}")
    out.append(f"settings: {s['records']} records x {s['record_size']} B = {s['size_mib']:g} MiB, "
               f"{s['partitions']} partitions, {s['compression']}, linger.ms={s['linger_ms']}, "
               f"batch.size={s['batch_size']}, acks=all; single-node source and destination clusters")
    if s["link_config"]:
        out.append(f"link    : {s['link_config']}")
    if s["broker_props"]:
        out.append(f"brokers : {s['broker_props']}")
    if s.get("mm2"):
        out.append(f"MM2     : dedicated mode, tasks.max={s['partitions']}, IdentityReplicationPolicy; "
                   f"tuned run adds {s['mm2']['tuned']}"
                   + (f"; both runs add {s['mm2']['extra_props']}" if s["mm2"]["extra_props"] else ""))
    src = r.get("source_topic")
    if src:
        out.append(f"data    : {src['records']} records, {src['on_disk_mib']} MiB on disk at the source "
                   f"({s['compression']} batches)")
    out.append("")
    out.append(f"{'phase':<44}{'MiB/s':>9}{'records/s':>12}")
    out.append("-" * 78)

    cpu_rows: list[tuple[str, dict[str, float]]] = []

    def row(label: str, res: dict[str, Any] | None, mib: str = "mib_per_s", rps: str = "records_per_s") -> None:
        if not res or res.get(mib) is None:
            return
        out.append(f"{label:<44}{res[mib]:>9.1f}{res[rps]:>12.0f}")
        if res.get("cores_busy"):
            cpu_rows.append((label, res["cores_busy"]))

    row("source produce (ProducerPerformance)", r.get("source_produce"))
    row("destination produce (ProducerPerformance)", r.get("destination_produce"))
    row("source consume (ConsumerPerformance)", r.get("source_consume"))
    row("source consume again, after the mirror", r.get("source_consume_after"))
    mir = r.get("mirror")
    if mir:
        if mir.get("caught_up"):
            row("ClusterLink mirror, create -> lag 0", mir)
            out.append(f"{'ClusterLink mirror, first -> last record':<44}{mir.get('copy_mib_per_s', 0):>9.1f}"
                       f"{mir.get('copy_records_per_s', 0):>12.0f}")
            if mir.get("middle_mib_per_s"):
                out.append(f"{'ClusterLink mirror, 10% -> 90% of records':<44}{mir['middle_mib_per_s']:>9.1f}"
                           f"{mir['middle_records_per_s']:>12.0f}")
            out.append("")
            out.append(f"mirror timing: ACTIVE after {mir['seconds_to_active']}s, first record after "
                       f"{mir['seconds_to_first_record']}s, lag 0 after {mir['seconds_total']}s")
            out.append(f"mirror on disk at the destination: {mir.get('destination_on_disk_mib')} MiB; "
                       f"clusterlink peak RSS {mir.get('clusterlink_peak_rss_mib')} MiB")
            th = mir.get("clusterlink_threads")
            if th:
                out.append("clusterlink CPU by thread (cores): "
                           + ", ".join(f"{k} {v}" for k, v in th["by_name"].items())
                           + f"; busiest single thread {th['busiest_thread']['name']} "
                           f"{th['busiest_thread']['cores']}")
        else:
            out.append(f"ClusterLink mirror: DID NOT CATCH UP - {mir.get('why')}")
            out.append(f"  {mir.get('records_mirrored')}/{mir.get('records_expected')} records on the destination "
                       f"after {mir.get('seconds_total')}s; last lines of the service's output:")
            out.extend("    " + line for line in (mir.get("service_log_tail") or "").splitlines()[-15:])
            if mir.get("cores_busy"):
                cpu_rows.append(("ClusterLink mirror (not caught up)", mir["cores_busy"]))
    cpu_per_gib: list[tuple[str, dict[str, Any]]] = []
    if mir and mir.get("caught_up"):
        cpu_per_gib.append(("ClusterLink (whole serve process)", mir))
    for run in ("default", "tuned"):
        mm = r.get(f"mm2_{run}")
        if not mm:
            continue
        name = f"MirrorMaker 2 {run}"
        out.append("")
        if mm.get("caught_up"):
            row(f"{name}, launch -> lag 0", mm)
            out.append(f"{name + ', first -> last record':<44}{mm.get('copy_mib_per_s', 0):>9.1f}"
                       f"{mm.get('copy_records_per_s', 0):>12.0f}")
            if mm.get("middle_mib_per_s"):
                out.append(f"{name + ', 10% -> 90% of records':<44}{mm['middle_mib_per_s']:>9.1f}"
                           f"{mm['middle_records_per_s']:>12.0f}")
            out.append(f"  timing: first record after {mm['seconds_to_first_record']}s (JVM and Connect start-up), "
                       f"lag 0 after {mm['seconds_total']}s; on disk at the destination "
                       f"{mm.get('destination_on_disk_mib')} MiB; peak RSS {mm.get('mm2_peak_rss_mib')} MiB"
                       + (f"; {mm['extra_records_on_destination']} duplicate records"
                          if mm.get("extra_records_on_destination") else ""))
            cpu_per_gib.append((f"{name} (java process)", mm))
        else:
            out.append(f"{name}: DID NOT CATCH UP - {mm.get('why')}")
            out.append(f"  {mm.get('records_mirrored')}/{mm.get('records_expected')} records on the destination "
                       f"after {mm.get('seconds_total')}s; last lines of its log:")
            out.extend("    " + line for line in (mm.get("mm2_log_tail") or "").splitlines()[-15:])
        eff = mm.get("effective_client_configs") or {}
        if eff.get("verified"):
            pr, co = eff["producer"], eff["consumer"]
            out.append(f"  as run (from its log): {eff['tasks_seen']} tasks; producers ({pr['clients']}) "
                       f"batch.size={pr['batch.size']} linger.ms={pr['linger.ms']} "
                       f"compression.type={pr['compression.type']} acks={pr['acks']} "
                       f"max.in.flight={pr['max.in.flight.requests.per.connection']}; consumers ({co['clients']}) "
                       f"fetch.max.bytes={co['fetch.max.bytes']} "
                       f"max.partition.fetch.bytes={co['max.partition.fetch.bytes']}")
        else:
            out.append("  could not read the clients' settings from its log")
        if not mm.get("caught_up") and mm.get("cores_busy"):
            cpu_rows.append((f"{name} (not caught up)", mm["cores_busy"]))
    rep = r.get("replication")
    if rep and rep.get("copy_mib_per_s"):
        out.append("")
        out.append(f"{'Kafka replication, first -> last byte':<44}{rep['copy_mib_per_s']:>9.1f}"
                   f"{rep['copy_records_per_s']:>12.0f}")
        if rep.get("middle_mib_per_s"):
            out.append(f"{'Kafka replication, 10% -> 90% of bytes':<44}{rep['middle_mib_per_s']:>9.1f}"
                       f"{rep['middle_records_per_s']:>12.0f}")
        out.append(f"  a follower catching up, on its own two-node cluster: ConsumerPerformance there "
                   f"{rep['consume_mib_per_s']:.1f} MiB/s; "
                   f"{rep['on_disk_mib']} MiB copied in {rep['seconds_copying']}s; the follower broker's CPU "
                   f"{rep.get('follower_cpu_s_per_gib')} s/GiB (it appends without the produce path's validation); "
                   + " ".join(f"{k}={v}" for k, v in rep.get("follower_props", {}).items()))
        cpu_rows.append(("Kafka replication, reassign -> copied", rep["cores_busy"]))
    if cpu_per_gib:
        out.append("")
        out.append("CPU seconds of the mirroring process per GiB mirrored (whole run; from first record):")
        for label, res in cpu_per_gib:
            out.append(f"  {label:<42} {res.get('cpu_s_per_gib')}  ({res.get('cpu_seconds')} s);  "
                       f"{res.get('copy_cpu_s_per_gib')}  ({res.get('cpu_seconds_copying')} s)")
    rounds = report.get("rounds") or []
    if rounds:
        out.append("")
        out.append("mirror rounds, each against the source consume runs just before and after it (MiB/s):")
        out.append(f"  {'':<48}{'ratio to consume':^24}{'':>11}{'destination broker CPU s':^27}")
        out.append(f"  {'round':<7}{'mirror':>8}{'copy':>8}{'10-90%':>8}{'consume':>9}"
                   f"{'ratio':>8}{'copy':>8}{'10-90%':>8}{'CPU s/GiB':>11}{'JIT':>9}{'GC':>9}{'other':>9}")

        def cell(value: float | None, width: int, digits: int) -> str:
            return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

        for rd in rounds:
            out.append(f"  {rd['round']:<7}" + cell(rd["mib_per_s"], 8, 1) + cell(rd["copy_mib_per_s"], 8, 1)
                       + cell(rd["middle_mib_per_s"], 8, 1) + cell(rd["consume_mib_per_s"], 9, 1)
                       + cell(rd["vs_source_consume"], 8, 3) + cell(rd["copy_vs_source_consume"], 8, 3)
                       + cell(rd["middle_vs_source_consume"], 8, 3) + cell(rd["cpu_s_per_gib"], 11, 2)
                       + "".join(cell(rd["destination_broker_cpu_s"].get(k), 9, 2) for k in ("jit", "gc", "work")))
        out.append(f"  {'median':<40}" + cell(q.get("median_mirror_vs_source_consume"), 8, 3)
                   + cell(q.get("median_mirror_copy_vs_source_consume"), 8, 3)
                   + cell(q.get("median_mirror_middle_vs_source_consume"), 8, 3)
                   + cell(q.get("median_cpu_s_per_gib"), 11, 2))
        out.append("  (destination broker CPU s: its JIT compiler threads, its GC and VM threads, and all its "
                   "other threads, over the round)")
    warmup = r.get("warmup_mirror")
    if warmup and warmup["passes"]:
        out.append("")
        out.append("warm-up mirror passes before round 1, the destination broker's CPU s in each (JIT / GC / "
                   "other threads):")
        out.append("  " + ";  ".join(f"{n}: {ps['jit']} / {ps['gc']} / {ps['work']}"
                                     for n, ps in enumerate(warmup["passes"], 1)))
    if q:
        out.append("")
        out.append("ratios (MiB/s; 'copy' = first -> last record, without the start-up delay; 'source_consume' = "
                   "the mean of the two ConsumerPerformance reads around round 1; 'median_' = over the rounds):")
        for key, value in q.items():
            out.append(f"  {key:<40} {value}")
    lat = r.get("latency")
    if lat:
        out.append("")
        out.append(f"end-to-end latency at {lat['achieved_rate']:.0f} records/s (target {lat['target_rate']}), "
                   f"{lat['record_size']} B records, {lat['partitions']} partitions, {lat['measured']} measured:")
        out.append(f"  {'path':<34}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p99.9':>9}{'max':>9}  received")
        for label, key in (("produce -> mirror on destination", "mirror"),
                           ("produce -> source (baseline)", "direct_from_source")):
            d = lat[key]
            if "p50_ms" in d:
                out.append(f"  {label:<34}{d['p50_ms']:>9}{d['p90_ms']:>9}{d['p99_ms']:>9}{d['p99.9_ms']:>9}"
                           f"{d['max_ms']:>9}  {d['received']}/{lat['measured']}"
                           + (f", {d['duplicates']} duplicates" if d["duplicates"] else ""))
            else:
                out.append(f"  {label:<34} nothing received")
        mir, direct = lat["mirror"], lat["direct_from_source"]
        if "p99_ms" in mir and "p99_ms" in direct:
            out.append(f"  the mirror adds {mir['p50_ms'] - direct['p50_ms']:.1f} ms at p50 and "
                       f"{mir['p99_ms'] - direct['p99_ms']:.1f} ms at p99")
        if lat.get("cores_busy"):
            cpu_rows.append(("latency run (steady rate)", lat["cores_busy"]))
    if cpu_rows:
        out.append("")
        out.append("CPU, cores busy on average over each phase (tool JVM start included; machine = every")
        out.append("process on the machine; other = processes not started by this run):")
        for label, cores in cpu_rows:
            out.append(f"  {label:<42} " + ", ".join(f"{k} {v}" for k, v in cores.items()))
    return report_end(out, report)


def round_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per mirror round: its rates and CPU, the source's consume rate around it (the
    mean of the reads just before and after it) and the ratios to that rate. A shared
    machine's speed drifts within minutes: a round's ratio compares runs seconds apart."""
    mirrors = [results.get("mirror", {}), *results.get("rounds", [])]
    reads = ["source_consume", "source_consume_after",
             *(f"source_consume_round_{n}" for n in range(2, len(mirrors) + 1))]
    table = []
    for i, mir in enumerate(mirrors):
        around = [rate for key in reads[i:i + 2] if (rate := results.get(key, {}).get("mib_per_s"))]
        if not mir.get("caught_up") or len(around) < 2:
            break
        consume = round(statistics.fmean(around), 2)
        table.append({
            "round": i + 1, "mib_per_s": mir.get("mib_per_s"), "copy_mib_per_s": mir.get("copy_mib_per_s"),
            "middle_mib_per_s": mir.get("middle_mib_per_s"), "cpu_s_per_gib": mir.get("cpu_s_per_gib"),
            "consume_mib_per_s": consume,
            "vs_source_consume": ratio(mir.get("mib_per_s"), consume),
            "copy_vs_source_consume": ratio(mir.get("copy_mib_per_s"), consume),
            "middle_vs_source_consume": ratio(mir.get("middle_mib_per_s"), consume),
            "destination_broker_cpu_s": mir.get("destination_broker_cpu_s", {}),
        })
    return table


def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [v for row in rows if (v := row.get(key)) is not None]
    return round(statistics.median(values), 3) if values else None


def consume_rate(results: dict[str, Any]) -> float | None:
    """MiB/s of the source's raw consume: the mean of the reads before and after the mirror phase."""
    rates = [rate for key in ("source_consume", "source_consume_after")
             if (rate := results.get(key, {}).get("mib_per_s"))]
    return round(statistics.fmean(rates), 2) if rates else None


# -------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    bench = Bench(args, temp_root(args.workdir, "clusterlink-bench-"))

    def phases() -> str:
        status = "complete"
        bench.warm_up()
        bench.fill_and_raw_rates()
        stub = bench.start_service()
        bench.warm_up_mirror(stub)
        bench.mirror(stub)
        if not bench.results["mirror"].get("caught_up"):
            status = "mirror did not catch up"
        else:
            bench.read_source("source_consume_after")
            for round_no in range(2, args.rounds + 1):
                if not bench.mirror(stub, round_no).get("caught_up"):
                    status = f"mirror round {round_no} did not catch up"
                    break
                bench.read_source(f"source_consume_round_{round_no}")
            if not args.skip_latency:
                bench.latency(stub)
        if not args.skip_mm2:
            bench.stop_service()
            bench.mirrormaker("default", {})
            bench.mirrormaker("tuned", dict(TUNED))
            if status == "complete" and not all(bench.results[f"mm2_{run}"].get("caught_up")
                                                for run in ("default", "tuned")):
                status = "MirrorMaker 2 did not catch up"
        if not args.skip_replication:
            bench.replication()
        return status

    status = run_bench(bench, machine, phases)
    report = build_report(args, machine, bench.results, status)
    return publish(report, format_report(report), args.json_out)


if __name__ == "__main__":
    sys.exit(main())
