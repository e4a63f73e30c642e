"""A dead session's produce requests still in flight race the next session's, repeated.

Each round: while the mirror visibly progresses under live traffic, the
destination broker is frozen (SIGSTOP) with the service's Produce requests
in flight, the service is killed with SIGKILL, a new service starts on the
same store, and only then does the broker resume. The broker then answers
the dead session's requests (still in its socket buffers) while the new
session reads the destination's end offsets and writes. Writes are fenced by
the link's producer id and sequence = destination offset (ENGINE.md §3), so
whichever copy of a batch comes second is refused or deduplicated: the mirror
stays identical and never goes FAILED.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from clusterlink.sandbox.cluster import KafkaCluster, cluster_status
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_link, create_mirror, create_topic, end_offsets, read_all, unique
# Paced (about 1,000 records/s): unpaced traffic grew to 1.8 million records on a busy
# machine, more than the final record-by-record comparison could read in its minute.
from tests.integration.test_broker_faults import LiveTraffic, StateWatch
from tests.integration.test_crash_and_outage import _mirrored

pytestmark = pytest.mark.integration

ROUNDS = max(5, int(os.environ.get("CLUSTERLINK_FAULT_ROUNDS", "5")))
PARTITIONS = 3
# How long the broker stays frozen after the new session's runtime started:
# the shape of the fault, not a wait for anything. Shorter than the link's
# admin timeout (source.request.timeout.ms = 2 s below), so the new session's
# first requests (metadata, describe, list offsets) queue at the frozen broker
# beside the dead session's Produce requests and get answered together.
FROZEN_AFTER_RESTART_SECONDS = 0.5
STARTED = "started the runtime of link"


def _pid(cluster: KafkaCluster) -> int:
    (node,) = cluster_status(cluster.folder).nodes
    assert node.pid is not None
    return node.pid


def refused_writes(cluster: KafkaCluster, topic: str) -> list[str]:
    """The broker's own log lines for writes its sequence check refused on `topic`.

    Kafka logs OutOfOrderSequenceException at ERROR ("Error processing append
    operation on partition ..." followed by "Out of order sequence number for
    producer P at offset ... in partition <topic>-<n>"). Only the link writes
    to the mirror topic, so each such line is a fenced write of the link.
    """
    (node,) = cluster.node_ids
    log = cluster.log_file(node)
    found: list[str] = []
    for path in sorted(Path(log.parent).glob(log.name + "*")):
        for line in path.read_text(errors="replace").splitlines():
            if "Out of order sequence number" in line and re.search(rf"\b{re.escape(topic)}-\d+\b", line):
                found.append(line.strip())
    return found


ESTABLISHED, CLOSE_WAIT = "01", "08"
# A Produce request carrying live-traffic batches; metadata and other
# admin requests are far smaller.
PRODUCE_BYTES = 1024


def unread_at(port: int, state: str) -> int:
    """Bytes the frozen broker has not read yet from its client sockets in `state`.

    Read from /proc/net/tcp (rx_queue of the sockets whose local port is the
    broker's). A received FIN counts as one byte in rx_queue: it is taken off.
    Only the service talks to the destination broker during the rounds, so
    ESTABLISHED sockets are the live session's, CLOSE-WAIT ones (the peer
    closed) the dead session's.
    """
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, st, queues = fields[1], fields[3], fields[4]
            if int(local.rsplit(":", 1)[1], 16) == port and st == state:
                total += int(queues.split(":")[1], 16) - (1 if st == CLOSE_WAIT else 0)
    return total


def _freeze_with_produce_waiting(pid: int, port: int, stub, name: str, round_: int) -> int:  # type: ignore[no-untyped-def]
    """Freezes the broker once the live session's Produce requests wait unread in it; returns the attempts.

    While the broker is frozen the data path goes on fetching from the source and
    sends Produce requests up to its in-flight limit. A freeze that hits the
    session while it does not write (a resync or a prepare step, which need the
    frozen broker) is undone and tried again once the mirror progresses.
    """
    for attempt in range(1, 11):
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            if unread_at(port, ESTABLISHED) >= PRODUCE_BYTES:
                return attempt
            time.sleep(0.01)
        os.kill(pid, signal.SIGCONT)
        floor = _mirrored(stub, name)
        wait_for(f"mirroring progress in round {round_}", lambda: _mirrored(stub, name) > floor + 500, timeout=120)
    raise AssertionError(f"round {round_}: no Produce request reached the frozen broker in 10 freezes")


def _hold(seconds: float) -> None:
    threading.Event().wait(seconds)


def test_dead_sessions_inflight_writes_race_the_next_session(tmp_path, kafka_cluster_factory):
    source, destination = kafka_cluster_factory(nodes=1), kafka_cluster_factory(nodes=1)
    db_url = f"sqlite:///{tmp_path}/race.db"
    workdir = tmp_path / "svc"
    service = Service(db_url=db_url, workdir=workdir).start()
    dst_pid = _pid(destination)
    dst_port = int(destination.bootstrap.rsplit(":", 1)[1])
    unread: list[int] = []
    attempts: list[int] = []
    frozen = False
    outputs: list[list[str]] = []
    try:
        stub = service.stub()
        topic = unique("race")
        create_topic(source.bootstrap, topic, PARTITIONS)
        link = create_link(stub, source.bootstrap, destination.bootstrap,
                           config={"source.request.timeout.ms": "2000", "destination.request.timeout.ms": "5000"})
        name = create_mirror(stub, link, topic)
        with StateWatch(stub, name) as watch, LiveTraffic(source.bootstrap, topic, PARTITIONS) as traffic:
            for round_ in range(ROUNDS):
                # Freeze only while this session visibly writes, so Produce requests are in flight.
                floor = _mirrored(stub, name)
                wait_for(f"mirroring progress before round {round_}",
                         lambda: _mirrored(stub, name) > floor + 500, timeout=120)
                frozen = True  # from here on, the clean-up resumes the broker whatever happens
                attempts.append(_freeze_with_produce_waiting(dst_pid, dst_port, stub, name, round_))
                service.kill()
                unread.append(unread_at(dst_port, CLOSE_WAIT))
                outputs.append(service.output)
                service = Service(db_url=db_url, workdir=workdir).start()
                stub = watch.stub = service.stub()
                wait_for("the new session's runtime", lambda: STARTED in "".join(service.output), timeout=30)
                _hold(FROZEN_AFTER_RESTART_SECONDS)
                os.kill(dst_pid, signal.SIGCONT)
                frozen = False
            # kill -9 closed the dead session's sockets with a FIN: the broker reads what they hold.
            assert max(unread) >= PRODUCE_BYTES, unread
            floor = _mirrored(stub, name)
            wait_for("mirroring progress after the last round", lambda: _mirrored(stub, name) > floor + 500,
                     timeout=120)
        wait_for("caught up after the rounds",
                 lambda: caught_up(stub, name, source.bootstrap, topic, PARTITIONS), timeout=180)
        src_records = read_all(source.bootstrap, topic, PARTITIONS)
        assert len(src_records) == traffic.sent
        assert read_all(destination.bootstrap, topic, PARTITIONS) == src_records
        assert end_offsets(destination.bootstrap, topic, PARTITIONS) == end_offsets(source.bootstrap, topic, PARTITIONS)
        assert "FAILED" not in watch.seen, watch.reasons
        outputs.append(service.output)
        refused = refused_writes(destination, topic)
        # Reported, not asserted: the broker logs a refused write, not a deduplicated
        # one, and in practice it applies the dead session's requests as soon as it
        # resumes, before the new session has read the end offsets (0 refusals seen).
        print(f"\nbytes of the dead session's requests unread at the frozen broker, per round: {unread}; "
              f"freezes needed per round: {attempts}")
        print(f"{ROUNDS} rounds, {traffic.sent} records, states seen {sorted(watch.seen)}, "
              f"{len(refused)} writes refused by the destination's sequence check")
        for line in refused[:10]:
            print("  broker:", line)
        for i, out in enumerate(outputs):
            for line in out:
                if any(w in line for w in (" WARNING ", " ERROR ", "Traceback")):
                    print(f"  service {i}:", line.rstrip())
    finally:
        service.stop()
        # Shown only when the test fails: what each session printed last.
        for i, out in enumerate([*outputs, service.output]):
            print(f"--- service session {i}, last lines:\n" + "".join(out[-30:]))
        log = destination.log_file(destination.node_ids[0])
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        print("--- destination broker, last WARN/ERROR lines:\n" + "\n".join(
            [line for line in lines if " WARN " in line or " ERROR " in line][-30:]))
