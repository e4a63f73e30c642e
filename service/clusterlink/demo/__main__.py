"""`make demo`: sandbox clusters, the service on SQLite, a link and a mirror
topic made with the CLI, records produced, the mirror catching up with equal
offsets, and a promotion. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clusterlink.sandbox import sandbox
from clusterlink.sandbox.cluster import port_is_free

TOPIC = "orders"
PARTITIONS = 3
RECORDS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A free port whose next port is free too (each cluster's controller takes port + 1)."""
    for _ in range(100):
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port
    raise SystemExit("demo failed: no two adjacent free ports on 127.0.0.1")


def step(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def cli(endpoint: str, *args: str) -> str:
    cmd = [sys.executable, "-m", "clusterlink.cli.main", *args, "--endpoint", endpoint]
    print("$ clusterlink " + " ".join(args), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"demo failed: clusterlink {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def start_service(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterlink.cli.main", "serve", "--listen", f"127.0.0.1:{port}",
         "--db", f"sqlite:///{workdir / 'clusterlink.db'}", "--metrics-listen", f"127.0.0.1:{free_port()}",
         "--secret-key-file", str(workdir / "secret.key")],
        stdout=subprocess.PIPE, stderr=open(workdir / "service.log", "w"), text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise SystemExit(f"demo failed: the service did not start; see {workdir / 'service.log'}")
    print(line.strip(), flush=True)
    return proc, f"127.0.0.1:{port}"


def produce(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 10})
    for i in range(RECORDS):
        producer.produce(TOPIC, value=f'{{"order": {i}}}'.encode(), key=f"customer-{i % 100}".encode(),
                         partition=i % PARTITIONS, headers=[("source", b"demo")])
    producer.flush(60)


def first_records(bootstrap: str, count: int = 3) -> list[tuple[int, int, str, str]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-peek", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    out = []
    deadline = time.monotonic() + 30
    while len(out) < count and time.monotonic() < deadline:
        m = consumer.poll(1)
        if m is not None and not m.error():
            out.append((m.partition(), m.offset(), m.key().decode(), m.value().decode()))
    consumer.close()
    return out


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="clusterlink-demo-"))
    service = None
    sandbox_dir = workdir / "sandbox"
    try:
        step("1. Start two Kafka clusters (KRaft, from Maven Central jars) and the service on SQLite")
        src_port = free_port_pair()
        dst_port = free_port_pair()
        while dst_port in (src_port - 1, src_port, src_port + 1):
            dst_port = free_port_pair()
        sb = sandbox.up(sandbox_dir, source_port=src_port, destination_port=dst_port)
        source, destination = sb.source.bootstrap, sb.destination.bootstrap
        print(f"source      {source}\ndestination {destination}")
        service, endpoint = start_service(workdir)

        step("2. Create a topic on the source, a link and a mirror topic with the CLI")
        admin = AdminClient({"bootstrap.servers": source})  # kept alive until the result arrives
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
        del admin  # closes its connections before the clusters stop
        print(cli(endpoint, "link", "create", "demo", "--source-bootstrap", source,
                  "--destination-bootstrap", destination))
        print(cli(endpoint, "mirror", "create", "demo", TOPIC))

        step(f"3. Produce {RECORDS} records to the source")
        produce(source)

        step("4. Watch the mirror catch up")
        deadline = time.monotonic() + 120
        while True:
            described = json.loads(cli(endpoint, "mirror", "describe", "demo", TOPIC, "-o", "json"))
            ends = [p.get("mirror_end_offset", 0) for p in described["partitions"]]
            print(f"state={described['state']} mirror end offsets={ends} "
                  f"lag={[p['lag'] for p in described['partitions']]}", flush=True)
            if described["state"] == "ACTIVE" and described["partitions"] and sum(ends) == RECORDS \
                    and all(p["lag"] == 0 for p in described["partitions"]):
                break
            if time.monotonic() > deadline:
                raise SystemExit("demo failed: the mirror did not catch up in 120 s")
            time.sleep(1)  # a human-paced progress display, not synchronisation
        print(cli(endpoint, "mirror", "describe", "demo", TOPIC))
        print("first records of partition 0, source vs mirror (partition, offset, key, value):")
        for s, d in zip(first_records(source), first_records(destination)):
            print(f"  source {s}\n  mirror {d}")
            assert s == d, "offsets differ"
        print("equal partitions, offsets, keys and values")

        step("5. Promote the mirror: wait for lag 0, stop mirroring, make it writable")
        print(cli(endpoint, "mirror", "promote", "demo", TOPIC, "--wait", "--timeout", "60"))
        print(cli(endpoint, "mirror", "describe", "demo", TOPIC))
        print("demo finished")
        return 0
    finally:
        step("Cleaning up")
        if service is not None:
            service.terminate()
            try:
                service.wait(60)
            except subprocess.TimeoutExpired:
                service.kill()
        sandbox.down(sandbox_dir)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
