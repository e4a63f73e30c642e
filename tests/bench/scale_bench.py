"""ClusterLink at many mirror topics: `make bench-scale` (or `python -m tests.bench.scale_bench`).

One run, on two fresh single-node Kafka clusters it starts in a temp folder:

1. creates ``--topics`` topics of ``--partitions`` partitions on the source and
   writes ``--records-per-partition`` small records into every partition with one
   confluent-kafka producer;
2. starts a real `clusterlink serve`, creates one link and, one call after the other,
   a mirror topic per source topic (CreateMirrorTopic; each call is timed);
3. from the first CreateMirrorTopic call, polls ListMirrorTopics (every page) and the
   destination's end offsets until every mirror is ACTIVE with lag 0;
4. then reads the service process's RSS, thread count and established TCP
   connections, and its CPU over ``--idle-seconds`` of idling;
5. prints a report and optionally writes JSON.

Only the public gRPC API and Kafka are used, so it runs unchanged against any engine
behind `clusterlink serve`. It measures; it never asserts. Everything it starts is
stopped in a `finally`, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.bench.common import PROGRESS_EVERY_S, BenchError, BenchRun, add_cluster_args, add_output_args, \
    cluster_arg_maps, log, machine_info, proc_cpu_seconds, proc_peak_rss_mib, proc_status, produce_waiting, publish, \
    report_end, report_head, run_bench, temp_root

TOPICS_PER_CREATE = 50  # topics per CreateTopics request on the source
TCP_ESTABLISHED = "01"  # st column of /proc/net/tcp


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.scale_bench",
        description="Measure ClusterLink with many mirror topics on one link: creation, catch-up, footprint.",
    )
    parser.add_argument("--topics", type=int, default=500, help="source topics, each mirrored (default 500)")
    parser.add_argument("--partitions", type=int, default=10, help="partitions per topic (default 10)")
    parser.add_argument("--records-per-partition", type=int, default=3,
                        help="records written into every source partition (default 3)")
    parser.add_argument("--record-size", type=int, default=100, help="bytes per record value (default 100)")
    parser.add_argument("--idle-seconds", type=float, default=60,
                        help="seconds the service's idle CPU is measured over once caught up (default 60)")
    parser.add_argument("--page-size", type=int, default=500,
                        help="ListMirrorTopics page_size (default 500; the service caps it at 1000)")
    parser.add_argument("--poll-seconds", type=float, default=1.0,
                        help="seconds between two status polls (default 1)")
    parser.add_argument("--mirror-timeout", type=float, default=3600,
                        help="seconds from the first CreateMirrorTopic to wait for lag 0 everywhere (default 3600)")
    parser.add_argument("--stall-seconds", type=float, default=300,
                        help="give up when no further mirror catches up for this long (default 300)")
    add_cluster_args(parser, "ClusterLink link config entry (repeatable)")
    add_output_args(parser, "--json", "--json-out")
    args = parser.parse_args(argv)
    if min(args.topics, args.partitions, args.records_per_partition, args.record_size) <= 0:
        parser.error("--topics, --partitions, --records-per-partition and --record-size must be positive")
    if args.idle_seconds < 0 or args.poll_seconds <= 0:
        parser.error("--idle-seconds must be >= 0 and --poll-seconds > 0")
    cluster_arg_maps(parser, args)
    return args


# ------------------------------------------------------------ process footprint


def _established(pid: int) -> dict[int, tuple[int, int]]:
    """Socket inode -> (local port, remote port), for every ESTABLISHED TCP socket in
    the process's network namespace (/proc/PID/net/tcp and tcp6)."""
    out: dict[int, tuple[int, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == TCP_ESTABLISHED:
                out[int(cols[9])] = (int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16))
    return out


def tcp_connections(pid: int | None, peers: dict[int, str], served: dict[int, str] | None = None) -> dict[str, Any]:
    """The process's open file descriptors that are ESTABLISHED TCP sockets, by peer
    (`peers` maps a remote port to a name, e.g. the brokers; `served` a local port,
    e.g. the gRPC port, whose accepted connections are counted under that name)."""
    if pid is None:
        return {}
    established = _established(pid)
    fds = 0
    by_peer: Counter[str] = Counter()
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return {}
    for fd in entries:
        fds += 1
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inode = int(target[8:-1])
            if inode in established:
                local, remote = established[inode]
                by_peer[(served or {}).get(local) or peers.get(remote, "other")] += 1
    return {"established": sum(by_peer.values()), "by_peer": dict(by_peer.most_common()), "open_fds": fds}


def raise_fd_limit() -> tuple[int, int]:
    """Soft open-files limit up to the hard one, inherited by the brokers and the
    service started from here (thousands of partitions and sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft, hard


# ------------------------------------------------------------------ the benchmark


@dataclass
class ScaleBench(BenchRun):
    topics: list[str] = field(default_factory=list)
    source_ends: dict[str, list[int]] = field(default_factory=dict)
    example: pb.MirrorTopic | None = None

    def fill_source(self) -> None:
        a = self.args
        assert self.source is not None
        run = uuid.uuid4().hex[:6]
        self.topics = [f"scale-{run}-{i:04d}" for i in range(a.topics)]
        admin = AdminClient({"bootstrap.servers": self.source.bootstrap, "log_level": 5})
        log(f"source: creating {a.topics} topics x {a.partitions} partitions")
        t0 = time.monotonic()
        for i in range(0, len(self.topics), TOPICS_PER_CREATE):
            batch = self.topics[i:i + TOPICS_PER_CREATE]
            futures = admin.create_topics([NewTopic(t, a.partitions, 1) for t in batch], request_timeout=120)
            for future in futures.values():
                future.result(180)
        # CreateTopics answers once the controller has the topics; the broker serves them
        # a moment later, and librdkafka fails a record sent meanwhile (unknown partition).
        deadline = time.monotonic() + 120
        while True:
            known = admin.list_topics(timeout=30).topics
            waiting = [t for t in self.topics
                       if t not in known or len(known[t].partitions) < a.partitions
                       or any(pm.leader < 0 for pm in known[t].partitions.values())]
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{len(waiting)} new source topics still unknown to the broker, e.g. {waiting[:3]}")
            time.sleep(0.2)
        create_s = time.monotonic() - t0
        log(f"source: topics created in {create_s:.1f}s; writing {a.records_per_partition} records per partition")
        failures: Counter[str] = Counter()

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failures[str(err)] += 1

        producer = Producer({"bootstrap.servers": self.source.bootstrap, "linger.ms": 20, "acks": "all",
                             "log_level": 5, "on_delivery": delivered})
        value = b"x" * a.record_size
        t1 = time.monotonic()
        for topic in self.topics:
            for p in range(a.partitions):
                for _ in range(a.records_per_partition):
                    produce_waiting(producer, topic, value, p, 0.05)
            producer.poll(0)
        unsent = producer.flush(120)
        if unsent:
            raise BenchError(f"{unsent} source records were still unsent after 120 s")
        if failures:
            raise BenchError(f"{sum(failures.values())} source records were not written: {dict(failures)}")
        produce_s = time.monotonic() - t1
        ends = end_offsets(self.source.bootstrap, {t: a.partitions for t in self.topics})
        self.source_ends = {t: [ends.get((t, p), -1) for p in range(a.partitions)] for t in self.topics}
        short = [(t, p) for t, offs in self.source_ends.items() for p, o in enumerate(offs)
                 if o < a.records_per_partition]
        if short:
            raise BenchError(f"{len(short)} source partitions hold fewer records than written, e.g. {short[:3]}")
        self.results["source"] = {
            "topics": a.topics, "partitions_per_topic": a.partitions, "partitions": a.topics * a.partitions,
            "records": sum(sum(v) for v in self.source_ends.values()),
            "seconds_creating_topics": round(create_s, 2), "seconds_producing": round(produce_s, 2),
        }
        log(f"source: {self.results['source']['records']} records written in {produce_s:.1f}s")

    def mirror_all(self, stub: pb_grpc.ClusterLinkServiceStub) -> None:
        assert self.source is not None and self.destination is not None and self.service is not None
        assert self.service.process is not None
        pid = self.service.process.pid
        link = f"scale-{uuid.uuid4().hex[:6]}"
        self.create_link(stub, link)
        parent = f"links/{link}"
        before = proc_status(pid)
        cpu0 = proc_cpu_seconds(pid)
        calls: list[float] = []
        destination_of: dict[str, str] = {}  # destination topic -> source topic
        log(f"mirror: creating {len(self.topics)} mirror topics on link {link}")
        t0 = time.monotonic()
        last_print = t0
        for topic in self.topics:
            c0 = time.monotonic()
            m = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
                parent=parent, mirror_topic=pb.MirrorTopic(source_topic=topic)), timeout=120)
            calls.append(time.monotonic() - c0)
            destination_of[m.name.rsplit("/", 1)[-1]] = topic
            if time.monotonic() - last_print >= PROGRESS_EVERY_S:
                last_print = time.monotonic()
                log(f"mirror: {len(calls)}/{len(self.topics)} created, last call {calls[-1] * 1000:.0f} ms")
        t_created = time.monotonic()
        self.results["create"] = {
            "calls": len(calls),
            "first_call_ms": round(calls[0] * 1000, 1), "last_call_ms": round(calls[-1] * 1000, 1),
            "median_call_ms": round(statistics.median(calls) * 1000, 1),
            "p90_call_ms": round(sorted(calls)[int(0.9 * (len(calls) - 1))] * 1000, 1),
            "max_call_ms": round(max(calls) * 1000, 1),
            "seconds_all_calls": round(t_created - t0, 2),
        }
        log(f"mirror: {len(calls)} created in {t_created - t0:.1f}s (median call "
            f"{self.results['create']['median_call_ms']} ms); waiting for ACTIVE with lag 0")
        outcome = self._wait_all(stub, parent, destination_of, t0)
        cpu1 = proc_cpu_seconds(pid)
        outcome["service_cpu_seconds"] = round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None
        outcome["service_cores_busy"] = (round((cpu1 - cpu0) / max(outcome["seconds_total"], 1e-9), 2)
                                         if cpu0 is not None and cpu1 is not None else None)
        if not outcome["caught_up"]:
            outcome["service_log_tail"] = "".join(self.service.output[-40:])
        self.results["catch_up"] = outcome
        self.results["service_before_mirrors"] = before
        if self.service.process.poll() is not None:
            raise BenchError(f"clusterlink serve exited with code {self.service.process.returncode}")

    def _wait_all(self, stub: pb_grpc.ClusterLinkServiceStub, parent: str, destination_of: dict[str, str],
                  t0: float) -> dict[str, Any]:
        """Until every mirror is ACTIVE and reports lag 0 with its destination end
        offsets at the source's (read from ListMirrorTopics) and the destination
        itself says so too (ListOffsets)."""
        a = self.args
        assert self.destination is not None and self.service is not None and self.service.process is not None
        n = len(destination_of)
        first: dict[str, float | None] = {"all_active": None, "api_lag_0": None, "destination_complete": None}
        dest_done: set[str] = set()
        best = -1
        last_progress = t0
        last_print = t0
        states: Counter[str] = Counter()
        polls = 0
        while True:
            now = time.monotonic()
            if self.service.process.poll() is not None:
                return self._partial(f"clusterlink serve exited with code {self.service.process.returncode}",
                                     t0, first, states, best, dest_done, n, polls)
            polls += 1
            listed, active, api_done = self._list_all(stub, parent, destination_of)
            self.example = next((m for m in listed
                                 if m.name.rsplit("/", 1)[-1] not in dest_done or m.max_lag != 0), None)
            states = Counter(pb.MirrorTopic.State.Name(m.state) for m in listed)
            failed = [m for m in listed if m.state == pb.MirrorTopic.FAILED]
            if failed:
                return self._partial(f"{len(failed)} mirror(s) FAILED, e.g. {failed[0].name}: {failed[0].reason}",
                                     t0, first, states, best, dest_done, n, polls)
            dest_done |= self._destination_complete(destination_of, dest_done)
            now = time.monotonic()
            for key, count in (("all_active", active), ("api_lag_0", api_done), ("destination_complete",
                                                                                 len(dest_done))):
                if count >= n and first[key] is None:
                    first[key] = now
            if all(v is not None for v in first.values()):
                # All three hold at once now (the API's view can only be trusted together).
                if active >= n and api_done >= n:
                    return {"caught_up": True, "seconds_total": round(now - t0, 2),
                            **{f"seconds_to_{k}": round(v - t0, 2) for k, v in first.items() if v is not None},
                            "states": dict(states), "status_polls": polls}
            progress = min(api_done, len(dest_done))
            if progress > best:
                best, last_progress = progress, now
            if now - last_print >= PROGRESS_EVERY_S:
                last_print = now
                log(f"catch-up: {active}/{n} ACTIVE, {api_done}/{n} lag 0 by the API, "
                    f"{len(dest_done)}/{n} complete on the destination ({now - t0:.0f}s); states {dict(states)}")
            if now - last_progress > a.stall_seconds:
                return self._partial(f"no further mirror caught up for {a.stall_seconds:.0f}s",
                                     t0, first, states, best, dest_done, n, polls)
            if now - t0 > a.mirror_timeout:
                return self._partial(f"not caught up within {a.mirror_timeout:g}s", t0, first, states, best,
                                     dest_done, n, polls)
            time.sleep(a.poll_seconds)  # polling interval; the deadlines above bound the loop

    def _list_all(self, stub: pb_grpc.ClusterLinkServiceStub, parent: str,
                  destination_of: dict[str, str]) -> tuple[list[pb.MirrorTopic], int, int]:
        """Every mirror of the link (all pages); how many are ACTIVE, and how many are
        ACTIVE with every partition reported at lag 0 and at the source's end offset."""
        listed: list[pb.MirrorTopic] = []
        token = ""
        while True:
            resp = stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(
                parent=parent, page_size=self.args.page_size, page_token=token), timeout=120)
            listed.extend(resp.mirror_topics)
            token = resp.next_page_token
            if not token:
                break
        active = done = 0
        for m in listed:
            if m.state != pb.MirrorTopic.ACTIVE:
                continue
            active += 1
            ends = self.source_ends.get(destination_of.get(m.name.rsplit("/", 1)[-1], ""), [])
            parts = {p.partition: p for p in m.partitions}
            if (ends and m.max_lag == 0 and len(parts) == len(ends)
                    and all(parts[i].lag == 0 and parts[i].mirror_end_offset >= e
                            for i, e in enumerate(ends) if i in parts)):
                done += 1
        return listed, active, done

    def _destination_complete(self, destination_of: dict[str, str], already: set[str]) -> set[str]:
        """Destination topics (not yet known complete) whose end offsets reached the source's."""
        assert self.destination is not None
        todo = {d: len(self.source_ends[s]) for d, s in destination_of.items() if d not in already}
        if not todo:
            return set()
        ends = end_offsets(self.destination.bootstrap, todo)
        return {d for d, parts in todo.items()
                if all(ends.get((d, p), -1) >= self.source_ends[destination_of[d]][p] for p in range(parts))}

    def _partial(self, why: str, t0: float, first: dict[str, float | None], states: Counter[str], best: int,
                 dest_done: set[str], n: int, polls: int) -> dict[str, Any]:
        return {"caught_up": False, "why": why, "seconds_total": round(time.monotonic() - t0, 2),
                **{f"seconds_to_{k}": round(v - t0, 2) for k, v in first.items() if v is not None},
                "states": dict(states), "mirrors_caught_up": max(best, 0),
                "destination_topics_complete": len(dest_done), "mirrors": n, "status_polls": polls,
                # One mirror that is not done, as ListMirrorTopics shows it, to tell why.
                "example_not_done": _mirror_summary(self.example)}

    def footprint(self) -> None:
        """RSS, threads and TCP connections once caught up; then CPU over an idle period."""
        a = self.args
        assert self.service is not None and self.service.process is not None
        assert self.source is not None and self.destination is not None
        pid = self.service.process.pid
        peers = {port: "source broker" for port in self.source.ports}
        peers.update({port: "destination broker" for port in self.destination.ports})
        served = {int(self.service.endpoint.rsplit(":", 1)[1]): "gRPC clients (this bench)"}
        after = {**proc_status(pid), "tcp": tcp_connections(pid, peers, served)}
        self.results["service_caught_up"] = after
        log(f"service: RSS {after.get('vmrss_mib')} MiB, {after.get('threads')} threads, "
            f"{after['tcp'].get('established')} established TCP connections")
        if a.idle_seconds > 0:
            log(f"service: measuring idle CPU over {a.idle_seconds:g}s")
            c0, w0 = proc_cpu_seconds(pid), time.monotonic()
            time.sleep(a.idle_seconds)  # the measurement window itself
            c1, w1 = proc_cpu_seconds(pid), time.monotonic()
            if c0 is not None and c1 is not None:
                self.results["idle"] = {"seconds": round(w1 - w0, 1), "cpu_seconds": round(c1 - c0, 2),
                                        "percent_of_one_core": round(100 * (c1 - c0) / (w1 - w0), 1),
                                        **proc_status(pid), "tcp": tcp_connections(pid, peers, served)}
                log(f"service: idle CPU {self.results['idle']['percent_of_one_core']}% of one core")
        self.results["service_peak_rss_mib"] = proc_peak_rss_mib(pid)


def _mirror_summary(m: pb.MirrorTopic | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"name": m.name, "state": pb.MirrorTopic.State.Name(m.state), "reason": m.reason, "max_lag": m.max_lag,
            "partitions": [{"partition": p.partition, "source_end_offset": p.source_end_offset,
                            "mirror_end_offset": p.mirror_end_offset, "lag": p.lag} for p in m.partitions]}


def end_offsets(bootstrap: str, topics: dict[str, int]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset, one ListOffsets round for all; missing topics are left out."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    specs = {TopicPartition(t, p): OffsetSpec.latest() for t, n in topics.items() for p in range(n)}
    out: dict[tuple[str, int], int] = {}
    try:
        futures = admin.list_offsets(specs, request_timeout=60)
    except KafkaException:
        return out
    for tp, future in futures.items():
        try:
            out[(tp.topic, tp.partition)] = future.result().offset
        except KafkaException:
            continue  # e.g. a destination topic not created yet
    return out


# ------------------------------------------------------------------------ report


def format_report(report: dict[str, Any]) -> str:
    m, s, r = report["machine"], report["settings"], report["results"]
    out = report_head("ClusterLink scale benchmark", m,
                      f"software: Kafka {m['kafka_version']}, Python {m['python']}, librdkafka {m['librdkafka']}")
    out.append(f"settings: {s['topics']} topics x {s['partitions']} partitions, {s['records_per_partition']} "
               f"records of {s['record_size']} B per partition; one link; ListMirrorTopics page_size "
               f"{s['page_size']}; open-files limit {s['nofile_limit']}")
    if s["link_config"]:
        out.append(f"link    : {s['link_config']}")
    src = r.get("source")
    if src:
        out.append(f"source  : {src['partitions']} partitions, {src['records']} records (topics created in "
                   f"{src['seconds_creating_topics']}s, records written in {src['seconds_producing']}s)")
    c = r.get("create")
    if c:
        out.append("")
        out.append(f"CreateMirrorTopic x {c['calls']} (one after the other): first {c['first_call_ms']} ms, "
                   f"last {c['last_call_ms']} ms, median {c['median_call_ms']} ms, p90 {c['p90_call_ms']} ms, "
                   f"max {c['max_call_ms']} ms; all calls {c['seconds_all_calls']} s")
    cu = r.get("catch_up")
    if cu:
        if cu.get("caught_up"):
            out.append(f"from the first CreateMirrorTopic: every mirror ACTIVE after {cu.get('seconds_to_all_active')} s,"
                       f" every destination at the source's end offsets after "
                       f"{cu.get('seconds_to_destination_complete')} s,")
            out.append(f"  every mirror ACTIVE with lag 0 (ListMirrorTopics) after {cu.get('seconds_to_api_lag_0')} s"
                       f" -> all ACTIVE with lag 0: {cu['seconds_total']} s")
        else:
            out.append(f"NOT CAUGHT UP: {cu.get('why')} after {cu.get('seconds_total')} s; "
                       f"{cu.get('mirrors_caught_up')}/{cu.get('mirrors')} mirrors at lag 0, "
                       f"{cu.get('destination_topics_complete')} destination topics complete; states {cu.get('states')}")
            ex = cu.get("example_not_done")
            if ex:
                out.append(f"  e.g. {ex['name']}: {ex['state']} {ex['reason']!r}, max_lag {ex['max_lag']}, partitions "
                           + ", ".join(f"{p['partition']}: {p['mirror_end_offset']}/{p['source_end_offset']}"
                                       for p in ex["partitions"]))
            out.append("  last lines of the service's output:")
            out.extend("    " + line for line in (cu.get("service_log_tail") or "").splitlines()[-15:])
        out.append(f"  service CPU during that time: {cu.get('service_cpu_seconds')} s "
                   f"({cu.get('service_cores_busy')} cores on average)")
    b = r.get("service_before_mirrors")
    a = r.get("service_caught_up")
    if a:
        out.append("")
        out.append(f"clusterlink serve {'caught up' if cu and cu.get('caught_up') else 'at the end'}: "
                   f"RSS {a.get('vmrss_mib')} MiB (before the mirrors {b.get('vmrss_mib') if b else '?'} MiB; "
                   f"peak {r.get('service_peak_rss_mib')} MiB), {a.get('threads')} threads "
                   f"(before {b.get('threads') if b else '?'}),")
        tcp = a.get("tcp") or {}
        out.append(f"  {tcp.get('established')} established TCP connections {tcp.get('by_peer')}, "
                   f"{tcp.get('open_fds')} open file descriptors")
    idle = r.get("idle")
    if idle:
        out.append(f"idle for {idle['seconds']} s: {idle['cpu_seconds']} CPU s = {idle['percent_of_one_core']}% "
                   f"of one core; then RSS {idle.get('vmrss_mib')} MiB, {idle.get('threads')} threads, "
                   f"{(idle.get('tcp') or {}).get('established')} TCP connections")
    return report_end(out, report)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_fd_limit()
    machine = machine_info()
    bench = ScaleBench(args, temp_root(args.workdir, "clusterlink-scale-"))

    def phases() -> str:
        status = "complete"
        bench.fill_source()
        stub = bench.start_service()
        bench.mirror_all(stub)
        if not bench.results["catch_up"].get("caught_up"):
            status = "mirrors did not catch up"
        bench.footprint()
        return status

    status = run_bench(bench, machine, phases)
    settings = {"topics": args.topics, "partitions": args.partitions,
                "records_per_partition": args.records_per_partition, "record_size": args.record_size,
                "idle_seconds": args.idle_seconds, "page_size": args.page_size, "poll_seconds": args.poll_seconds,
                "broker_props": args.broker_props, "link_config": args.link_config_map,
                "nofile_limit": nofile[0]}
    report = {"status": status, "machine": machine, "settings": settings, "results": bench.results}
    return publish(report, format_report(report), args.json_out)


if __name__ == "__main__":
    sys.exit(main())
