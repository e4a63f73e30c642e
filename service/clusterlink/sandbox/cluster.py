"""Start, stop and inspect real Apache Kafka clusters (KRaft mode) in a folder.

Every node is a detached `java ... kafka.Kafka server.properties` process. All the
state needed to find and stop it again (ports, pid files, cluster id) lives in the
folder, so a different process (a later CLI call, a test's clean-up) can take over
with `load_cluster(folder)`.

Layout of a cluster folder::

    cluster.json          ports, cluster id, jar folder (written before any node starts)
    log4j2.properties     shared logging config; each node logs to its own logs/
    node-<id>/server.properties, data/, logs/server.log, stdout.log, kafka.pid
    tls/, users/          only for a secured cluster (SASL_SSL, SCRAM-SHA-512, ACLs):
                          see security.py

Nodes are all combined broker+controller with a static voter set: any single node
of a 3-node cluster can then be stopped and the other two keep a quorum, which is
what fault tests need.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from clusterlink.sandbox.jars import KAFKA_VERSION, SandboxError, ensure_jars, find_java
from clusterlink.sandbox.security import ADMIN, LINKER, TLS_DIR, USERS_DIR, ClusterSecurity, create_security

__all__ = [
    "KafkaCluster",
    "KafkaNode",
    "NodeStatus",
    "ClusterStatus",
    "SandboxError",
    "PortInUseError",
    "start_cluster",
    "resume_cluster",
    "load_cluster",
    "start_node",
    "stop_node",
    "stop_cluster",
    "cluster_status",
    "wait_ready",
    "java_command",
    "port_is_free",
]

HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
LOG4J_FILE = "log4j2.properties"
PID_FILE = "kafka.pid"
STDOUT_FILE = "stdout.log"
SERVER_LOG = "server.log"
# Small heap: test machines have 2 cores and run several brokers side by side.
JVM_HEAP = ("-Xms256m", "-Xmx512m")
# What Kafka's bin/kafka-run-class.sh gives a broker (KAFKA_JVM_PERFORMANCE_OPTS): G1 with
# a 20-ms pause goal rather than the JVM's 200 ms, so GC pauses do not stall requests.
BROKER_JVM_OPTS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                   "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
# When the data is removed anyway a clean shutdown buys nothing; don't wait long.
DISCARD_STOP_TIMEOUT_S = 2.0
POLL_INTERVAL_S = 0.2
LOG_TAIL_LINES = 40

LOG4J2_PROPERTIES = """\
# Written by clusterlink.sandbox. Each JVM gets -Dkafka.logs.dir=<node>/logs.
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Per-request and state-change chatter would drown the lines that explain a failure.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller process."""

    node_id: int
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass(frozen=True)
class KafkaCluster:
    """A cluster on disk: its folder, its nodes and how clients reach it."""

    folder: Path
    cluster_id: str
    nodes: tuple[KafkaNode, ...]
    libs: Path
    kafka_version: str = KAFKA_VERSION
    # Set for a cluster whose client listener is SASL_SSL (see security.py).
    security: ClusterSecurity | None = None

    @property
    def bootstrap(self) -> str:
        """`127.0.0.1:PORT[,127.0.0.1:PORT...]`, ready for `bootstrap.servers`.

        For a secured cluster this is its SASL_SSL listener: see `client_config`.
        """
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def secure(self) -> bool:
        return self.security is not None

    def client_config(self, user: str = ADMIN, password: str | None = None) -> dict[str, Any]:
        """confluent-kafka settings to reach the cluster (as `user` when it is secured)."""
        return _client_config(self, self.bootstrap, user, password)

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def node_ids(self) -> list[int]:
        return [node.node_id for node in self.nodes]

    def node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise SandboxError(f"cluster in {self.folder} has no node {node_id} (nodes: {self.node_ids})")

    def node_folder(self, node_id: int) -> Path:
        return self.folder / f"node-{node_id}"

    def log_file(self, node_id: int) -> Path:
        return self.node_folder(node_id) / "logs" / SERVER_LOG

    def properties_file(self, node_id: int) -> Path:
        return self.node_folder(node_id) / "server.properties"


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    port: int
    pid: int | None
    alive: bool
    answers: bool


@dataclass(frozen=True)
class ClusterStatus:
    folder: Path
    bootstrap: str
    nodes: tuple[NodeStatus, ...] = field(default_factory=tuple)
    security: ClusterSecurity | None = None

    @property
    def running(self) -> bool:
        """Every node's process is alive and answers a metadata request."""
        return bool(self.nodes) and all(n.alive and n.answers for n in self.nodes)

    @property
    def stopped(self) -> bool:
        return not any(n.alive for n in self.nodes)


class PortInUseError(SandboxError):
    """A port the cluster needs is taken by another program; nothing was started or written."""


# Popen handles of nodes started by this process, kept so they are reaped (no zombies
# that would look alive) and so Python does not warn about running children on exit.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


# --------------------------------------------------------------------------- start


def start_cluster(
    folder: Path,
    port: int,
    nodes: int = 1,
    controller_port: int | None = None,
    *,
    extra: Mapping[str, str] | None = None,
    libs: Path | None = None,
    timeout: float = START_TIMEOUT_S,
    secure: bool = False,
    users: Sequence[str] = (ADMIN, LINKER),
) -> KafkaCluster:
    """Format and start a fresh KRaft cluster in `folder`; return once every node answers.

    Node i (1-based) listens on `port + i - 1` for clients and `controller_port + i - 1`
    for the quorum; `controller_port` defaults to `port + nodes`. `extra` overrides
    or adds broker properties on every node.

    With `secure`, clients connect with SASL_SSL (SCRAM-SHA-512, a CA made for this
    cluster) and the StandardAuthorizer checks ACLs: `users` are created with random
    passwords, `admin` (always one of them) is a super user. See security.py.
    """
    if nodes < 1:
        raise SandboxError(f"a cluster needs at least one node, not {nodes}")
    folder = Path(folder).absolute()
    if (folder / STATE_FILE).exists():
        raise SandboxError(
            f"{folder} already holds a Kafka cluster; restart it with resume_cluster() "
            "or remove it with stop_cluster(load_cluster(folder), remove=True)"
        )
    java = find_java()  # before fetching jars: a missing Java is the likelier, cheaper error
    jar_dir = ensure_jars(libs)
    cport = controller_port if controller_port is not None else port + nodes
    cluster = KafkaCluster(
        folder=folder,
        cluster_id=_random_cluster_id(),
        nodes=tuple(KafkaNode(i, port + i - 1, cport + i - 1) for i in range(1, nodes + 1)),
        libs=jar_dir,
    )
    _require_free_ports(cluster.nodes)
    folder.mkdir(parents=True, exist_ok=True)
    if secure:
        cluster = dataclasses.replace(cluster, security=create_security(folder, users))
    (folder / LOG4J_FILE).write_text(LOG4J2_PROPERTIES)
    for node in cluster.nodes:
        _write_properties(cluster, node, extra or {})
    # Written before anything runs, so a failed start can still be found and cleaned up.
    _save_state(cluster)
    _format_storage(cluster, java)
    for node in cluster.nodes:
        _launch(cluster, node, java)
    _wait_or_fail(cluster, cluster.node_ids, timeout, started=cluster.node_ids)
    return cluster


def resume_cluster(folder: Path, timeout: float = START_TIMEOUT_S) -> KafkaCluster:
    """Start every stopped node of an existing cluster (same data, same ports) and wait."""
    cluster = load_cluster(folder)
    java = find_java()
    stopped = [n for n in cluster.nodes if _alive_pid(cluster, n.node_id) is None]
    _require_free_ports(stopped)
    for node in stopped:
        _launch(cluster, node, java)
    _wait_or_fail(cluster, cluster.node_ids, timeout, started=[n.node_id for n in stopped])
    return cluster


def start_node(cluster: KafkaCluster, node_id: int, timeout: float = START_TIMEOUT_S) -> None:
    """Start a stopped node again with its data and ports; wait until the running nodes see it."""
    node = cluster.node(node_id)
    started: list[int] = []
    if _alive_pid(cluster, node_id) is None:
        _require_free_ports([node])
        _launch(cluster, node, find_java())
        started.append(node_id)
    _wait_or_fail(cluster, _running_node_ids(cluster), timeout, started=started)


def load_cluster(folder: Path) -> KafkaCluster:
    """Rebuild the handle of a cluster started (possibly by another process) in `folder`."""
    folder = Path(folder).absolute()
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except FileNotFoundError:
        raise SandboxError(f"no Kafka cluster in {folder} (missing {STATE_FILE})") from None
    except ValueError as exc:
        raise SandboxError(f"{folder / STATE_FILE} is damaged: {exc}") from exc
    security = state.get("security")
    return KafkaCluster(
        folder=folder,
        cluster_id=state["cluster_id"],
        nodes=tuple(KafkaNode(n["node_id"], n["port"], n["controller_port"]) for n in state["nodes"]),
        libs=Path(state["libs"]),
        kafka_version=state.get("kafka_version", KAFKA_VERSION),
        security=ClusterSecurity.from_state(folder, security) if security else None,
    )


def java_command(libs: Path, main_class: str, args: Sequence[str], heap: Sequence[str] = JVM_HEAP) -> list[str]:
    """Command line for any Kafka main class (e.g. org.apache.kafka.tools.ProducerPerformance)."""
    return [find_java(), *heap, "-cp", f"{libs}/*", main_class, *args]


# ---------------------------------------------------------------------------- stop


def stop_node(cluster: KafkaCluster, node_id: int, kill: bool = False, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop one node: SIGTERM (clean shutdown) or, with `kill`, SIGKILL at once (a crash)."""
    cluster.node(node_id)  # fail clearly on an unknown id
    _stop_nodes(cluster, [node_id], kill=kill, timeout=timeout)


def stop_cluster(cluster: KafkaCluster, remove: bool = True, timeout: float | None = None) -> None:
    """Stop every node; with `remove`, delete everything the cluster wrote into its folder."""
    if timeout is None:
        timeout = DISCARD_STOP_TIMEOUT_S if remove else STOP_TIMEOUT_S
    _stop_nodes(cluster, cluster.node_ids, kill=False, timeout=timeout)
    if remove:
        _remove_files(cluster)


def _stop_nodes(cluster: KafkaCluster, node_ids: Iterable[int], kill: bool, timeout: float) -> None:
    # Signal all first, then wait once: nodes shut down in parallel.
    pids = {nid: pid for nid in node_ids if (pid := _alive_pid(cluster, nid)) is not None}
    for pid in pids.values():
        _signal(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids.values()):
        time.sleep(POLL_INTERVAL_S)
    for pid in pids.values():
        if _pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids.values()):
        time.sleep(POLL_INTERVAL_S)
    for nid, pid in pids.items():
        if _pid_alive(pid):
            raise SandboxError(f"Kafka node {nid} (pid {pid}) in {cluster.folder} did not stop even after SIGKILL")
        (cluster.node_folder(nid) / PID_FILE).unlink(missing_ok=True)
        _CHILDREN.pop(pid, None)


def _remove_files(cluster: KafkaCluster) -> None:
    for node in cluster.nodes:
        shutil.rmtree(cluster.node_folder(node.node_id), ignore_errors=True)
    for name in (TLS_DIR, USERS_DIR):
        shutil.rmtree(cluster.folder / name, ignore_errors=True)
    for name in (LOG4J_FILE, STATE_FILE):
        (cluster.folder / name).unlink(missing_ok=True)
    try:
        cluster.folder.rmdir()  # only when nothing but our files was there
    except OSError:
        pass


# -------------------------------------------------------------------------- status


def cluster_status(folder: Path, timeout: float = 3.0) -> ClusterStatus:
    """Which nodes have a live process and which answer a metadata request right now."""
    cluster = load_cluster(folder)
    statuses = []
    for node in cluster.nodes:
        pid = _alive_pid(cluster, node.node_id)
        answers = pid is not None and _broker_ids(cluster, node, timeout) is not None
        statuses.append(NodeStatus(node.node_id, node.port, pid, pid is not None, answers))
    return ClusterStatus(cluster.folder, cluster.bootstrap, tuple(statuses), cluster.security)


def wait_ready(cluster: KafkaCluster, node_ids: Sequence[int] | None = None, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until each given node (default: all) answers and its metadata lists all of them.

    When every node of the cluster is meant to run, also wait until every partition
    has a leader, so a restarted cluster is really "back" for clients.
    """
    _wait_or_fail(cluster, list(node_ids) if node_ids is not None else cluster.node_ids, timeout)


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (TIME_WAIT leftovers don't count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Kafka binds with SO_REUSEADDR too, so a just-closed port is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


# -------------------------------------------------------------------------- config


def _broker_properties(cluster: KafkaCluster, node: KafkaNode) -> dict[str, str]:
    count = len(cluster.nodes)
    replication = min(3, count)
    # Tolerates one stopped node in a 3-node cluster; a single node can only have 1.
    min_isr = 2 if count >= 3 else 1
    voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in cluster.nodes)
    node_dir = cluster.node_folder(node.node_id)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        # Static voters (not controller.quorum.bootstrap.servers): storage is formatted
        # without --standalone and every node knows the quorum from its own config.
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(node_dir / "data"),
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_isr),
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        # Internal topics must fit a cluster of 1-3 nodes; fewer partitions than the
        # default 50 make the first group/transaction/share coordinator load fast.
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "share.coordinator.state.topic.num.partitions": "5",
        "group.initial.rebalance.delay.ms": "0",
        # Retention, DeleteRecords and compaction tests should not wait minutes.
        "log.retention.check.interval.ms": "1000",
        "log.segment.delete.delay.ms": "1000",
        "file.delete.delay.ms": "1000",
        "log.cleaner.backoff.ms": "1000",
        # A restarted or killed broker is only let back in / fenced once its old session
        # times out (default 9 s); shorter sessions make fault tests quicker.
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "5000",
        # Fewer threads than the defaults: several brokers share 2 cores.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    if cluster.security is not None:
        props.update(cluster.security.broker_properties(node.port, node.controller_port, HOST))
    return props


def _write_properties(cluster: KafkaCluster, node: KafkaNode, extra: Mapping[str, str]) -> None:
    props = {**_broker_properties(cluster, node), **{str(k): str(v) for k, v in extra.items()}}
    node_dir = cluster.node_folder(node.node_id)
    (node_dir / "logs").mkdir(parents=True, exist_ok=True)
    lines = ["# Written by clusterlink.sandbox.cluster; edits are kept across restarts."]
    lines += [f"{key}={_escape_property(value)}" for key, value in props.items()]
    path = cluster.properties_file(node.node_id)
    if cluster.security is not None:
        # It holds the admin's password (the brokers' own SASL login): owner only.
        path.touch(mode=0o600)
        path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")


def _escape_property(value: str) -> str:
    # java.util.Properties treats a backslash as an escape character.
    return value.replace("\\", "\\\\")


def _random_cluster_id() -> str:
    # Kafka's form: a 16-byte uuid, base64url without padding; one starting with "-"
    # would be taken for an option by the storage tool.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _save_state(cluster: KafkaCluster) -> None:
    state = {
        "kafka_version": cluster.kafka_version,
        "cluster_id": cluster.cluster_id,
        "libs": str(cluster.libs),
        "bootstrap": cluster.bootstrap,
        "security": cluster.security.to_state() if cluster.security is not None else None,
        "nodes": [
            {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port}
            for n in cluster.nodes
        ],
    }
    tmp = cluster.folder / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(cluster.folder / STATE_FILE)


def _require_free_ports(nodes: Iterable[KafkaNode]) -> None:
    busy = [p for n in nodes for p in (n.port, n.controller_port) if not port_is_free(p)]
    if busy:
        raise PortInUseError(
            f"port(s) {', '.join(map(str, busy))} on {HOST} are already in use by another "
            "program; stop it or choose other ports"
        )


# --------------------------------------------------------------------- processes


def _jvm_args(cluster: KafkaCluster, node_id: int, java: str) -> list[str]:
    return [
        java,
        *JVM_HEAP,
        "-Djava.awt.headless=true",
        "-cp",
        f"{cluster.libs}/*",
        f"-Dlog4j2.configurationFile={cluster.folder / LOG4J_FILE}",
        f"-Dkafka.logs.dir={cluster.node_folder(node_id) / 'logs'}",
    ]


def _format_storage(cluster: KafkaCluster, java: str) -> None:
    # One JVM per node; run them side by side since each costs a JVM start-up.
    def fmt(node: KafkaNode) -> subprocess.CompletedProcess[str]:
        cmd = [
            *_jvm_args(cluster, node.node_id, java),
            # A one-shot tool: the quick JIT tier and serial GC start it faster.
            "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "kafka.tools.StorageTool", "format",
            "-t", cluster.cluster_id,
            "-c", str(cluster.properties_file(node.node_id)),
            # SCRAM users live in the metadata log: KRaft creates them at format time.
            *(cluster.security.scram_format_args() if cluster.security is not None else ()),
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)

    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        results = list(pool.map(fmt, cluster.nodes))
    for node, done in zip(cluster.nodes, results):
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            first = _summary(output) or f"exit code {done.returncode}"
            raise SandboxError(
                f"formatting the storage of Kafka node {node.node_id} in {cluster.folder} failed: "
                f"{first}\n{output}"
            )


def _summary(output: str) -> str:
    """The line of a Java tool's output that says what went wrong (not a stack frame)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    errors = [ln for ln in lines if "Exception" in ln or "Error" in ln]
    return (errors or lines or [""])[-1]


def _launch(cluster: KafkaCluster, node: KafkaNode, java: str) -> None:
    if not cluster.libs.is_dir():
        ensure_jars(cluster.libs)  # the user cache was cleared since the cluster was made
    node_dir = cluster.node_folder(node.node_id)
    cmd = [*_jvm_args(cluster, node.node_id, java), *BROKER_JVM_OPTS, "kafka.Kafka",
           str(cluster.properties_file(node.node_id))]
    with open(node_dir / STDOUT_FILE, "ab") as out:
        # Own session: the broker outlives this process (the CLI returns at once) and
        # a Ctrl-C in the caller's terminal does not reach it.
        proc = subprocess.Popen(
            cmd, cwd=node_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    (node_dir / PID_FILE).write_text(f"{proc.pid}\n")


def _read_pid(cluster: KafkaCluster, node_id: int) -> int | None:
    try:
        return int((cluster.node_folder(node_id) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _alive_pid(cluster: KafkaCluster, node_id: int) -> int | None:
    """The node's pid if that process is alive and really is this node's broker."""
    pid = _read_pid(cluster, node_id)
    if pid is None or not _pid_alive(pid):
        return None
    cmdline = _cmdline(pid)
    # Guards against a recycled pid after a reboot: never signal someone else's process.
    # An empty command line (seen for a moment while the JVM launcher starts) proves nothing.
    if cmdline and str(cluster.properties_file(node_id)) not in cmdline:
        return None
    return pid


def _running_node_ids(cluster: KafkaCluster) -> list[int]:
    return [n.node_id for n in cluster.nodes if _alive_pid(cluster, n.node_id) is not None]


def _pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None  # poll() also reaps, so a dead child is not a zombie
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux: the process is gone
    except OSError:
        return None
    try:
        done = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        # Each node leads its own process group (start_new_session), so this reaches
        # anything the JVM might have spawned too.
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


# ------------------------------------------------------------------------- waiting


def _client_config(cluster: KafkaCluster, bootstrap: str, user: str = ADMIN,
                   password: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap}
    if cluster.security is not None:
        config.update(cluster.security.client_config(user, password))
    return config


def _broker_ids(cluster: KafkaCluster, node: KafkaNode, timeout: float) -> set[int] | None:
    """Broker ids in the metadata this node serves, or None when it does not answer."""
    if not _tcp_accepts(node.port):
        return None  # skip librdkafka while the port is closed: it would log "Connection refused"
    admin = AdminClient({
        **_client_config(cluster, node.bootstrap),
        "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
    })
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return None
    return set(metadata.brokers)


def _all_partitions_led(cluster: KafkaCluster, node: KafkaNode, timeout: float) -> bool:
    admin = AdminClient(_client_config(cluster, node.bootstrap))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return all(p.leader >= 0 for t in metadata.topics.values() for p in t.partitions.values())


def _tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _ready(cluster: KafkaCluster, node_ids: Sequence[int]) -> bool:
    expected = set(node_ids)
    for node_id in node_ids:
        seen = _broker_ids(cluster, cluster.node(node_id), timeout=2.0)
        if seen is None or not expected <= seen:
            return False
    if expected == set(cluster.node_ids):
        return _all_partitions_led(cluster, cluster.node(node_ids[0]), timeout=2.0)
    return True


def _wait_or_fail(
    cluster: KafkaCluster, node_ids: Sequence[int], timeout: float, started: Sequence[int] = ()
) -> None:
    """Wait for `node_ids`; on failure stop only the nodes this call `started` and raise."""
    if not node_ids:
        raise SandboxError(f"no Kafka node of the cluster in {cluster.folder} is running")
    deadline = time.monotonic() + timeout
    while True:
        dead = [nid for nid in node_ids if _alive_pid(cluster, nid) is None]
        if dead:
            _stop_nodes(cluster, started, kill=True, timeout=DISCARD_STOP_TIMEOUT_S)
            reason = _failure_reason(cluster, dead[0])
            raise SandboxError(
                f"Kafka node {dead[0]} in {cluster.folder} exited while starting"
                + (f" ({reason})" if reason else "")
                + f"; see {cluster.log_file(dead[0])}\n" + _log_tail(cluster, dead[0])
            )
        if _ready(cluster, node_ids):
            return
        if time.monotonic() >= deadline:
            _stop_nodes(cluster, started, kill=True, timeout=DISCARD_STOP_TIMEOUT_S)
            culprit = started[0] if started else node_ids[0]
            raise SandboxError(
                f"Kafka in {cluster.folder} was not ready within {timeout:.0f}s "
                f"(waiting for nodes {list(node_ids)}); see {cluster.log_file(culprit)}\n"
                + _log_tail(cluster, culprit)
            )
        time.sleep(POLL_INTERVAL_S)


_LOG_ERROR = re.compile(r"^\[[^\]]+\] (ERROR|FATAL) (.*?)(?: \([\w.$]+\))?$")


def _failure_reason(cluster: KafkaCluster, node_id: int) -> str | None:
    """The broker's last logged ERROR with its exception, else what the JVM printed."""
    lines = _tail(cluster.log_file(node_id))
    for index in range(len(lines) - 1, -1, -1):
        match = _LOG_ERROR.match(lines[index])
        if match:
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            is_exception = following and not following.startswith("[") and not following.startswith("at ")
            return match.group(2) + (f": {following}" if is_exception else "")
    return _summary("\n".join(_tail(cluster.node_folder(node_id) / STDOUT_FILE))) or None


def _log_tail(cluster: KafkaCluster, node_id: int) -> str:
    parts = []
    for path in (cluster.log_file(node_id), cluster.node_folder(node_id) / STDOUT_FILE):
        lines = _tail(path)
        # Start at the last ERROR: what follows it (the stack, the shutdown) is the story.
        errors = [i for i, line in enumerate(lines) if _LOG_ERROR.match(line)]
        start = errors[-1] if errors else len(lines) - LOG_TAIL_LINES
        shown = lines[max(0, start):][:LOG_TAIL_LINES]
        if shown:
            parts.append(f"--- {path} ---\n" + "\n".join(shown))
    return "\n".join(parts) or f"(no log output in {cluster.node_folder(node_id)})"


def _tail(path: Path) -> list[str]:
    """The lines of the last 64 KiB of a log file."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []
