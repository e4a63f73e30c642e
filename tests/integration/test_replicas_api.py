"""ListReplicas and the `replica` of partitions and link tasks, end to end.

An in-process server on a database of each kind (SQLite, PostgreSQL) whose
replica rows are written with store.replicas, as serve processes write them;
the same through the real CLI; and the session's real `clusterlink serve`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.api.server import build_server
from clusterlink.cli import output
from clusterlink.store import db, replicas
from clusterlink.store import models as m
from clusterlink.store.secrets import SecretBox
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.fixtures.postgres import new_database
from tests.fixtures.service import Service

pytestmark = pytest.mark.integration


@dataclass
class Api:
    stub: pb_grpc.ClusterLinkServiceStub
    endpoint: str
    factory: sessionmaker[Session]


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/clusterlink.db"
    else:
        url = new_database(request.getfixturevalue("postgres_url"), f"cl_{uuid.uuid4().hex[:12]}")
    db.upgrade(url)
    engine = db.make_engine(url)
    factory = db.session_factory(engine)
    server, port = build_server("127.0.0.1:0", factory, SecretBox(Fernet(Fernet.generate_key())))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Api(pb_grpc.ClusterLinkServiceStub(channel), f"127.0.0.1:{port}", factory)
    finally:
        channel.close()
        server.stop(None)
        engine.dispose()


def two_replicas(factory: sessionmaker[Session]) -> None:
    replicas.register(factory, "pod-b", "10.0.0.2:50051")
    replicas.register(factory, "pod-a", "10.0.0.1:50051")
    replicas.heartbeat(factory, "pod-a", {"payments": {"partitions": 4, "control": False},
                                          "orders": {"partitions": 6, "control": True}})


def test_list_replicas_answers_what_the_replicas_wrote(api: Api) -> None:
    assert list(api.stub.ListReplicas(pb.ListReplicasRequest()).replicas) == []
    two_replicas(api.factory)
    answer = api.stub.ListReplicas(pb.ListReplicasRequest())
    assert [r.replica_id for r in answer.replicas] == ["pod-a", "pod-b"]
    a, b = answer.replicas
    assert (a.name, a.address) == ("replicas/pod-a", "10.0.0.1:50051")
    assert [(x.link, x.partitions, x.control) for x in a.links] == [("links/orders", 6, True),
                                                                     ("links/payments", 4, False)]
    assert (b.name, b.address, list(b.links)) == ("replicas/pod-b", "10.0.0.2:50051", [])
    now = dt.datetime.now(dt.UTC)
    for r in answer.replicas:
        assert r.HasField("start_time") and r.HasField("heartbeat_time")
        assert abs(now - r.heartbeat_time.ToDatetime(tzinfo=dt.UTC)) < dt.timedelta(seconds=60)
        assert r.heartbeat_time.ToDatetime() >= r.start_time.ToDatetime()


def test_a_replica_alone_owning_a_whole_link_shows_minus_one_partitions(api: Api) -> None:
    replicas.heartbeat(api.factory, "only", {"orders": {"partitions": 12, "control": True}})
    [only] = api.stub.ListReplicas(pb.ListReplicasRequest()).replicas
    assert [(x.link, x.partitions, x.control) for x in only.links] == [("links/orders", 12, True)]
    assert output.replica_links(only) == "orders:12 partitions (control)"


def test_partitions_and_tasks_name_their_replica(api: Api) -> None:
    conn = pb.ClusterConnection(bootstrap_servers="10.0.0.1:9092")
    api.stub.CreateLink(pb.CreateLinkRequest(link_id="dr-east", link=pb.Link(source=conn, destination=conn)))
    mirror = api.stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="orders")))
    with db.transaction(api.factory) as s:
        link_id = s.query(m.Link.id).filter(m.Link.name == "dr-east").scalar()
        mirror_id = s.query(m.MirrorTopic.id).filter(m.MirrorTopic.link_id == link_id).scalar()
        s.add(m.MirrorPartition(mirror_topic_id=mirror_id, partition=0, replica_id="pod-a"))
        s.add(m.MirrorPartition(mirror_topic_id=mirror_id, partition=1))  # written before replicas were recorded
        s.add(m.LinkTask(link_id=link_id, name="ConsumerOffsetSync", state="ACTIVE", replica_id="pod-b"))
        s.add(m.LinkTask(link_id=link_id, name="mirrorTopics/orders", state="RUNNING"))
    got = api.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror.name))
    assert [(p.partition, p.replica) for p in got.partitions] == [(0, "replicas/pod-a"), (1, "")]
    tasks = api.stub.GetLink(pb.GetLinkRequest(name="links/dr-east")).status.tasks
    assert [(t.name, t.replica) for t in tasks] == [("ConsumerOffsetSync", "replicas/pod-b"),
                                                    ("mirrorTopics/orders", "")]
    with db.transaction(api.factory) as s:
        s.execute(update(m.MirrorPartition).values(replica_id="pod-c"))
    listed = api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/dr-east")).mirror_topics
    assert {p.replica for p in listed[0].partitions} == {"replicas/pod-c"}


def cli(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CLUSTERLINK_ENDPOINT", "CLUSTERLINK_DEBUG")}
    return subprocess.run([sys.executable, "-m", "clusterlink.cli.main", *args, "--endpoint", endpoint],
                          capture_output=True, text=True, timeout=90, env=env, check=False)


def test_cli_replicas_list(api: Api) -> None:
    two_replicas(api.factory)
    table = cli("replicas", "list", endpoint=api.endpoint)
    assert table.returncode == 0 and table.stderr == "", table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["REPLICA", "ADDRESS", "HEARTBEAT", "LINKS"]
    assert lines[1].startswith("pod-a") and "10.0.0.1:50051" in lines[1]
    assert lines[1].endswith("orders:6 partitions (control), payments:4 partitions")
    assert lines[1][lines[0].index("HEARTBEAT"):].split()[1] == "ago"  # "0s ago", "1s ago"
    assert lines[2].split()[:2] == ["pod-b", "10.0.0.2:50051"] and lines[2].split()[-1] == "-"
    as_json = cli("replicas", "list", "-o", "json", endpoint=api.endpoint)
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert [r["name"] for r in listed] == ["replicas/pod-a", "replicas/pod-b"]
    assert listed[0]["links"] == [{"link": "links/orders", "partitions": 6, "control": True},
                                  {"link": "links/payments", "partitions": 4, "control": False}]
    assert listed[1]["links"] == [] and listed[1]["heartbeat_time"].endswith("Z")


# --------------------------------------------------------------------------- rendering


def test_replicas_table_ages_and_links() -> None:
    now = dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=dt.UTC)

    def replica(replica_id: str, seconds_ago: int, *links: pb.ReplicaLink) -> pb.Replica:
        r = pb.Replica(name=f"replicas/{replica_id}", replica_id=replica_id, address="h:1", links=links)
        r.heartbeat_time.FromDatetime(now - dt.timedelta(seconds=seconds_ago))
        return r

    rows = [
        replica("a", 3, pb.ReplicaLink(link="links/orders", partitions=6, control=True),
                pb.ReplicaLink(link="links/payments", partitions=1)),
        replica("b", 125),
        replica("c", 7300, pb.ReplicaLink(link="links/x", partitions=0, control=True)),
        replica("d", -2),  # its clock is a little ahead of ours
        pb.Replica(name="replicas/e", replica_id="e"),
    ]
    lines = output.replicas_table(rows, now=now).splitlines()
    assert lines[0].split() == ["REPLICA", "ADDRESS", "HEARTBEAT", "LINKS"]
    assert lines[1].split("  ")[-1].strip() == "orders:6 partitions (control), payments:1 partition"
    assert "3s ago" in lines[1] and "2m ago" in lines[2] and "2h ago" in lines[3] and "just now" in lines[4]
    assert lines[3].endswith("x:0 partitions (control)")
    assert lines[5].split() == ["e", "-", "-", "-"]


def test_replica_columns_appear_only_when_a_replica_is_recorded() -> None:
    parts = [pb.PartitionStatus(partition=0), pb.PartitionStatus(partition=1)]
    assert "REPLICA" not in output.partitions_table(parts)
    parts[1].replica = "replicas/pod-a"
    lines = output.partitions_table(parts).splitlines()
    assert lines[0].split()[-1] == "REPLICA"
    assert lines[1].split()[-1] == "-" and lines[2].split()[-1] == "pod-a"

    tasks = [pb.LinkTask(name="mirrorTopics/orders", state=pb.LinkTask.RUNNING)]
    assert "REPLICA" not in output.tasks_table(tasks)
    tasks[0].replica = "replicas/pod-b"
    lines = output.tasks_table(tasks).splitlines()
    assert lines[0].split() == ["TASK", "STATE", "UPDATED", "LAST_SUCCESS", "REPLICA", "DETAIL"]
    assert lines[1].split() == ["mirrorTopics/orders", "RUNNING", "-", "-", "pod-b", "-"]


# --------------------------------------------------------------------------- the real service


def test_list_replicas_on_the_running_service(service: Service) -> None:
    """Well-formed whatever the serve process has registered (the session's service is one replica)."""
    channel = grpc.insecure_channel(service.endpoint)
    try:
        answer = pb_grpc.ClusterLinkServiceStub(channel).ListReplicas(pb.ListReplicasRequest(), timeout=30)
    finally:
        channel.close()
    ids = [r.replica_id for r in answer.replicas]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for r in answer.replicas:
        assert r.name == "replicas/" + r.replica_id
        assert replicas.validate_replica_id(r.replica_id) == r.replica_id
        assert all(x.link.startswith("links/") for x in r.links)
