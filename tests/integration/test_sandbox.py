"""The local Kafka sandbox and the test clusters, against real brokers.

`clusterlink sandbox ...` runs as a real subprocess of the CLI entry point.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clusterlink.sandbox.cluster import KafkaCluster, cluster_status, port_is_free, start_node, stop_node
from tests.fixtures.kafka import free_port

pytestmark = pytest.mark.integration

CLI_TIMEOUT_S = 300


def run_sandbox(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterlink.cli.main", "sandbox", *args],
        capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S, check=False,
    )


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def round_trip(bootstrap: str, count: int = 5, replication: int = 1) -> None:
    """Create a topic, produce `count` records with acks=all and read them back."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, replication)])[topic].result(timeout=30)
    produce(bootstrap, topic, [f"v{i}".encode() for i in range(count)])
    assert consume(bootstrap, topic, count) == [f"v{i}".encode() for i in range(count)]


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(60) == 0, "records still unacknowledged after 60s"


def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values


def broker_ids(bootstrap: str) -> set[int]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers)


def two_port_pairs() -> tuple[int, int]:
    """Client ports for source and destination, each with its controller port (+1) free."""
    source = free_port(2)
    while True:
        destination = free_port(2)
        if abs(destination - source) > 1:
            return source, destination


def parse_addresses(stdout: str) -> dict[str, str]:
    fields = (line.split() for line in stdout.splitlines())
    return {f[0]: f[1] for f in fields if len(f) == 2 and f[0] in ("source", "destination")}


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "sandbox"
    yield folder
    if folder.exists():  # the test failed half-way: don't leave brokers running
        run_sandbox("down", "--dir", str(folder))


def test_sandbox_up_status_down(sandbox_dir: Path) -> None:
    source_port, destination_port = two_port_pairs()
    args = ["--dir", str(sandbox_dir), "--source-port", str(source_port),
            "--destination-port", str(destination_port)]

    up = run_sandbox("up", *args)
    assert up.returncode == 0, up.stderr
    addresses = parse_addresses(up.stdout)
    assert addresses == {"source": f"127.0.0.1:{source_port}",
                         "destination": f"127.0.0.1:{destination_port}"}
    for bootstrap in addresses.values():
        round_trip(bootstrap)

    pids_before = {n.pid for role in ("source", "destination")
                   for n in cluster_status(sandbox_dir / role).nodes}
    again = run_sandbox("up", "--dir", str(sandbox_dir))
    assert again.returncode == 0, again.stderr
    assert parse_addresses(again.stdout) == addresses
    pids_after = {n.pid for role in ("source", "destination")
                  for n in cluster_status(sandbox_dir / role).nodes}
    assert pids_after == pids_before, "a second `up` must not restart the brokers"

    status = run_sandbox("status", "--dir", str(sandbox_dir))
    assert status.returncode == 0, status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    assert "running" in lines["source"] and "running" in lines["destination"]
    as_json = run_sandbox("status", "--dir", str(sandbox_dir), "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        role: {"bootstrap": addresses[role], "ca_file": None, "users": {}, "running": True}
        for role in ("source", "destination")
    }
    secure = run_sandbox("up", "--dir", str(sandbox_dir), "--secure")
    assert secure.returncode == 1
    assert "not secured" in secure.stderr and "sandbox down" in secure.stderr, secure.stderr

    down = run_sandbox("down", "--dir", str(sandbox_dir))
    assert down.returncode == 0, down.stderr
    assert not sandbox_dir.exists()
    for port in (source_port, source_port + 1, destination_port, destination_port + 1):
        assert port_is_free(port), f"port {port} still in use after `down`"
    assert run_sandbox("status", "--dir", str(sandbox_dir)).returncode != 0


def test_sandbox_refuses_a_busy_port(sandbox_dir: Path) -> None:
    import socket

    source_port, destination_port = two_port_pairs()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", source_port))
        squatter.listen()
        result = run_sandbox("up", "--dir", str(sandbox_dir), "--source-port", str(source_port),
                             "--destination-port", str(destination_port))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(source_port) in lines[0] and "in use" in lines[0], result.stderr
    assert not sandbox_dir.exists()


def test_missing_java_is_one_clear_line(tmp_path: Path, sandbox_dir: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty_bin)  # no java (and no mvn) anywhere

    result = run_sandbox("up", "--dir", str(sandbox_dir), env=env)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Java 17" in lines[0] and "JAVA_HOME" in lines[0]
    assert not sandbox_dir.exists()


def test_session_clusters_are_separate_and_work(kafka_source: KafkaCluster,
                                                kafka_destination: KafkaCluster) -> None:
    assert kafka_source.bootstrap != kafka_destination.bootstrap
    for cluster in (kafka_source, kafka_destination):
        assert broker_ids(cluster.bootstrap) == {1}
        round_trip(cluster.bootstrap, count=3)


def test_three_brokers_and_restarting_one(kafka_cluster_factory: Callable[..., KafkaCluster]) -> None:
    cluster = kafka_cluster_factory(nodes=3)
    assert cluster.node_ids == [1, 2, 3]
    for node in cluster.nodes:
        assert broker_ids(node.bootstrap) == {1, 2, 3}

    topic = "replicated"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(timeout=30)
    produce(cluster.bootstrap, topic, [b"before"])

    stop_node(cluster, 2)
    assert [n.alive for n in cluster_status(cluster.folder).nodes] == [True, False, True]
    wait_for("node 2 to leave the metadata", lambda: broker_ids(cluster.nodes[0].bootstrap) == {1, 3})
    produce(cluster.bootstrap, topic, [b"while-2-is-down"])  # 2 of 3 replicas meet min.insync=2

    start_node(cluster, 2)
    assert cluster_status(cluster.folder).running
    for node in cluster.nodes:
        assert broker_ids(node.bootstrap) == {1, 2, 3}
    assert consume(cluster.bootstrap, topic, 2) == [b"before", b"while-2-is-down"]


def test_secure_sandbox_up_status_down(sandbox_dir: Path) -> None:
    source_port, destination_port = two_port_pairs()
    up = run_sandbox("up", "--secure", "--dir", str(sandbox_dir), "--source-port", str(source_port),
                     "--destination-port", str(destination_port))
    assert up.returncode == 0, up.stderr
    assert parse_addresses(up.stdout) == {"source": f"127.0.0.1:{source_port}",
                                          "destination": f"127.0.0.1:{destination_port}"}

    status = run_sandbox("status", "--dir", str(sandbox_dir), "-o", "json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert set(state) == {"source", "destination"}
    for role, port in (("source", source_port), ("destination", destination_port)):
        cluster = state[role]
        assert set(cluster) == {"bootstrap", "ca_file", "users", "running"}
        assert cluster["bootstrap"] == f"127.0.0.1:{port}" and cluster["running"] is True
        assert set(cluster["users"]) == {"admin", "linker"}
        for user in cluster["users"].values():
            assert stat.S_IMODE(os.stat(user["password_file"]).st_mode) == 0o600
        assert Path(cluster["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")

    # The files are all a client needs: admin connects over SASL_SSL, a wrong password does not.
    source = state["source"]
    password = Path(source["users"]["admin"]["password_file"]).read_text().strip()
    secured = {"bootstrap.servers": source["bootstrap"], "security.protocol": "SASL_SSL",
               "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin", "ssl.ca.location": source["ca_file"]}
    admin = AdminClient({**secured, "sasl.password": password})
    topic = f"t-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    # CreateTopics answers once the controller has the topic; the broker serves it a moment later.
    wait_for("the new topic in the broker's metadata", lambda: topic in admin.list_topics(timeout=10).topics)
    errors: list[KafkaError] = []
    rejected = Producer({**secured, "sasl.password": password + "-wrong", "error_cb": errors.append})
    wait_for("the broker to refuse the wrong password", lambda: rejected.poll(0.2) is not None and any(
        e.code() == KafkaError._AUTHENTICATION for e in errors))

    plain = run_sandbox("up", "--no-secure", "--dir", str(sandbox_dir))
    assert plain.returncode == 1
    assert "is secured" in plain.stderr and "sandbox down" in plain.stderr, plain.stderr
    again = run_sandbox("up", "--dir", str(sandbox_dir))  # no flag: stays as it is
    assert again.returncode == 0 and "SASL_SSL" in again.stdout, again.stderr

    down = run_sandbox("down", "--dir", str(sandbox_dir))
    assert down.returncode == 0, down.stderr
    assert not sandbox_dir.exists()
