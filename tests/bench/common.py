"""What both benchmarks share (`mirror_bench` and `scale_bench`).

The machine description, the /proc readers, the options both take, the run itself
(two fresh single-node clusters on free ports in a temp folder, a real `clusterlink
serve`, one link) with its tear-down, and the report's frame: the run loop that turns
SIGTERM into Ctrl-C and stops everything in a `finally`, and the printing and JSON
writing at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from confluent_kafka import KafkaException, Producer
from confluent_kafka import libversion as librdkafka_version
from confluent_kafka import version as confluent_kafka_version

from clusterlink.sandbox.cluster import KafkaCluster, SandboxError, start_cluster, stop_cluster
from clusterlink.sandbox.jars import KAFKA_VERSION, ensure_jars, find_java
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.fixtures.ports import free_port
from tests.fixtures.service import Service

REPO = Path(__file__).resolve().parents[2]
PROGRESS_EVERY_S = 10.0
RULE = "=" * 78
EXIT_CODES = {"complete": 0, "interrupted": 130}  # any other status exits with 1


class BenchError(RuntimeError):
    """A phase could not be measured; the message says what happened."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same path as Ctrl-C so every `finally` runs."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Interrupted()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------- arguments


def add_cluster_args(parser: argparse.ArgumentParser, link_config_help: str) -> None:
    """--broker-prop and --link-config (read with `cluster_arg_maps`)."""
    parser.add_argument("--broker-prop", action="append", default=[], metavar="KEY=VALUE",
                        help="extra broker property for both clusters (repeatable)")
    parser.add_argument("--link-config", action="append", default=[], metavar="KEY=VALUE", help=link_config_help)


def add_output_args(parser: argparse.ArgumentParser, *json_flags: str) -> None:
    """--workdir, --keep and the JSON report's file (`args.json_out`), under `json_flags`."""
    parser.add_argument("--workdir", type=Path, default=None, help="parent folder of the temp folder (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (broker and service logs) afterwards")
    parser.add_argument(*json_flags, dest="json_out", type=Path, default=None,
                        help="also write the report as JSON to this file")


def cluster_arg_maps(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """args.broker_props and args.link_config_map from the repeated KEY=VALUE options."""
    args.broker_props = pairs(parser, "--broker-prop", args.broker_prop)
    args.link_config_map = pairs(parser, "--link-config", args.link_config)


def pairs(parser: argparse.ArgumentParser, flag: str, items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"{flag} wants KEY=VALUE, not {item!r}")
        out[key.strip()] = value.strip()
    return out


# ----------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    return {
        "nproc": cpus,
        "memory_gib": round(mem_total / 2**30, 1) if mem_total else None,
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "kafka_version": KAFKA_VERSION,
        "java": _java_version(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka_version()[0],
        "librdkafka": librdkafka_version()[0],
        "clusterlink_commit": _git_commit(),
        "loadavg_at_start": loadavg(),
    }


def loadavg() -> str:
    """1, 5 and 15 minute load averages, e.g. "0.95 0.58 0.23"."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _java_version() -> str:
    try:
        done = subprocess.run([find_java(), "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired, SandboxError):
        return "unknown"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "service"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{head}{' (service/ has uncommitted changes)' if dirty else ''}" if head else "unknown"


# ------------------------------------------------------------------ /proc readers


TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a live process (None when it cannot be read)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_status(pid: int | None) -> dict[str, Any]:
    """VmRSS / VmHWM in MiB and the thread count, from /proc/PID/status."""
    out: dict[str, Any] = {}
    if pid is None:
        return out
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[f"{key.lower()}_mib"] = round(int(value.split()[0]) / 1024, 1)
        elif key == "Threads":
            out["threads"] = int(value.strip())
    return out


def proc_peak_rss_mib(pid: int | None) -> float | None:
    """Peak resident set size (VmHWM) in MiB; None when it cannot be read."""
    return proc_status(pid).get("vmhwm_mib")


# ------------------------------------------------------------------ the clusters


def topic_bytes(cluster: KafkaCluster, topic: str, node_id: int | None = None) -> int:
    """Bytes of the topic's log segments on one node's disk (the first node unless named):
    record batches as they travel, compressed."""
    node = cluster.node_ids[0] if node_id is None else node_id
    total = 0
    for folder in (cluster.node_folder(node) / "data").glob(f"{topic}-*"):
        name, _, partition = folder.name.rpartition("-")
        if name == topic and partition.isdigit():  # not `{topic}-clusterlink-0`
            total += sum(f.stat().st_size for f in folder.glob("*.log"))
    return total


def middle_rate(samples: list[tuple[float, int]], total: int) -> dict[str, Any]:
    """Records/s between the samples where 10% and 90% of the records had arrived:
    the steady copy rate, without start-up and the last partitions' tail."""
    lo = next(((t, n) for t, n in samples if n >= 0.1 * total), None)
    hi = next(((t, n) for t, n in samples if n >= 0.9 * total), None)
    if lo is None or hi is None or hi[0] - lo[0] < 2.0:
        return {}  # too short to tell (a small --size-mb)
    return {"middle_records_per_s": round((hi[1] - lo[1]) / (hi[0] - lo[0]), 1),
            "middle_seconds": round(hi[0] - lo[0], 2)}


def start_on_free_ports(folder: Path, extra: dict[str, str]) -> KafkaCluster:
    last: Exception | None = None
    for _ in range(5):
        try:
            return start_cluster(folder, free_port(), controller_port=free_port(), extra=extra)
        except SandboxError as exc:
            # Only a port race is worth another try; anything else is reported.
            if "already in use" not in str(exc):
                raise
            last = exc
    raise BenchError(f"could not find free ports for a cluster in {folder}: {last}")


def produce_waiting(producer: Producer, topic: str, value: bytes, partition: int, poll_seconds: float) -> None:
    """Produces one record, serving delivery reports while the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, partition=partition)
            return
        except BufferError:
            producer.poll(poll_seconds)


@dataclass
class BenchRun:
    """What one run starts: two single-node clusters (source, destination) and a
    `clusterlink serve` on SQLite, all below `root`; `close` stops it all."""

    args: argparse.Namespace
    root: Path
    source: KafkaCluster | None = None
    destination: KafkaCluster | None = None
    service: Service | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def before_clusters(self) -> None:
        """Called once the Kafka jars are there, before the first cluster starts."""

    def stop_tools(self) -> None:
        """Stops the run's own processes besides the service and the clusters (first thing in `close`)."""

    def start_clusters(self) -> None:
        libs = ensure_jars()
        self.before_clusters()
        for role in ("source", "destination"):
            cluster = start_on_free_ports(self.root / role, dict(self.args.broker_props))
            setattr(self, role, cluster)
            log(f"{role} cluster up at {cluster.bootstrap} (jars {libs})")

    def close(self) -> None:
        """Stops everything this run started; never raises."""
        self.stop_tools()
        if self.service is not None:
            try:
                self.service.stop()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                log(f"stopping the service failed: {exc}")
        for cluster in (self.source, self.destination):
            if cluster is None:
                continue
            try:
                stop_cluster(cluster, remove=not self.args.keep)
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                log(f"stopping the cluster in {cluster.folder} failed: {exc}")
        if self.args.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def start_service(self) -> pb_grpc.ClusterLinkServiceStub:
        # The reconciler on `serve`'s own default interval (the test fixture's is shorter).
        self.service = Service(db_url=f"sqlite:///{self.root}/clusterlink.db", workdir=self.root / "service",
                               extra_args=["--reconcile-interval", "1.0"])
        self.service.start()
        log(f"clusterlink serve up at {self.service.endpoint} (pid {self.service.process.pid})")  # type: ignore[union-attr]
        return self.service.stub()

    def create_link(self, stub: pb_grpc.ClusterLinkServiceStub, link_id: str) -> None:
        """One link from the source to the destination cluster, with --link-config."""
        assert self.source is not None and self.destination is not None
        stub.CreateLink(pb.CreateLinkRequest(link_id=link_id, link=pb.Link(
            source=pb.ClusterConnection(bootstrap_servers=self.source.bootstrap),
            destination=pb.ClusterConnection(bootstrap_servers=self.destination.bootstrap),
            config=self.args.link_config_map,
        )))


# ------------------------------------------------------------------ one whole run


def temp_root(workdir: Path | None, prefix: str) -> Path:
    """A fresh temp folder for the run, below --workdir (made if missing) or the system temp."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))


def run_bench(bench: BenchRun, machine: dict[str, Any], phases: Callable[[], str]) -> str:
    """Starts the clusters and runs `phases` (which returns the run's status) with
    SIGTERM turned into Ctrl-C; whatever happens, stops everything afterwards.

    Returns the status ("complete", what `phases` said, "interrupted" or "failed");
    errors go into bench.results["errors"], the end's load average into `machine`.
    """
    status = "complete"
    errors: list[str] = []
    with sigterm_as_interrupt():
        try:
            log(f"working in {bench.root}")
            bench.start_clusters()
            status = phases()
        except KeyboardInterrupt:
            status = "interrupted"
            log("interrupted; stopping everything")
        except (BenchError, SandboxError, KafkaException, grpc.RpcError, RuntimeError) as exc:
            status = "failed"
            errors.append(f"{type(exc).__name__}: {exc}")
            if bench.service is not None and bench.service.output:
                errors.append("last service output:\n" + "".join(bench.service.output[-30:]))
        finally:
            machine["loadavg_at_end"] = loadavg()
            # A second Ctrl-C must not cut the clean-up short.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                bench.close()
            finally:
                signal.signal(signal.SIGINT, previous)
    if errors:
        bench.results["errors"] = errors
    return status


def report_head(title: str, machine: dict[str, Any], software: str) -> list[str]:
    """The report's first lines: title, machine, `software` (a whole line) and commit."""
    m = machine
    return [
        "", RULE, title, RULE,
        f"machine : {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}",
        software,
        f"commit  : {m['clusterlink_commit']}; load average at start {m['loadavg_at_start']}, "
        f"at end {m.get('loadavg_at_end', 'unknown')}",
    ]


def report_end(out: list[str], report: dict[str, Any]) -> str:
    """`out` with the run's errors and status appended, as one text."""
    errors = report["results"].get("errors")
    if errors:
        out.append("")
        out.extend(f"ERROR: {e}" for e in errors)
    out.append(f"status: {report['status']}")
    out.append(RULE)
    return "\n".join(out)


def publish(report: dict[str, Any], text: str, json_out: Path | None) -> int:
    """Prints the report's text, writes the report as JSON to `json_out` if given,
    and returns the process's exit code for the report's status."""
    print(text, flush=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n")
        log(f"JSON report written to {json_out}")
    return EXIT_CODES.get(report["status"], 1)
