"""The consumer offset sync task, on real brokers (issue: cluster-wide sync)."""

from __future__ import annotations

import json
import re
import urllib.request

import grpc
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, committed, create_link, create_mirror, create_topic, produce, unique

pytestmark = pytest.mark.integration


def commit(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    """Commits explicit offsets for `group`, as a consumer that never joined would."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def groups(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return {g.group_id for g in admin.list_consumer_groups().result(30).valid}


def scrape(service: Service) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def has_members(bootstrap: str, group: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        return bool(admin.describe_consumer_groups([group])[group].result(30).members)
    except KafkaException:
        return False  # e.g. the group coordinator is still loading


def sync_task(stub, link: str) -> pb.LinkTask | None:
    tasks = stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks
    return next((t for t in tasks if t.name == "ConsumerOffsetSync"), None)


def runs_after(stub, link: str, seconds: int) -> pb.LinkTask | None:
    """The sync task once it has succeeded after `seconds` (epoch)."""
    task = sync_task(stub, link)
    return task if task and task.state == pb.LinkTask.ACTIVE and task.last_success_time.seconds > seconds else None


def test_group_offsets_follow_to_the_destination(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("orders")
    create_topic(kafka_source.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 400, 2)
    app, busy, other = unique("app"), unique("busy"), unique("other")
    commit(kafka_source.bootstrap, app, [TopicPartition(topic, 0, 37, metadata="app-meta"), TopicPartition(topic, 1, 120)])
    commit(kafka_source.bootstrap, busy, [TopicPartition(topic, 0, 150), TopicPartition(topic, 1, 150)])
    commit(kafka_source.bootstrap, other, [TopicPartition(topic, 0, 5)])

    # A consumer of `busy` already runs on the destination before the link starts:
    # the sync must leave its group alone.
    active = Consumer({"bootstrap.servers": kafka_destination.bootstrap, "group.id": busy,
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    scratch = unique("scratch")
    create_topic(kafka_destination.bootstrap, scratch, 1)  # a consumer joins once a subscribed topic exists
    try:
        active.subscribe([topic, scratch])
        wait_for("the destination consumer joined", lambda: active.poll(0.2) is None and has_members(
            kafka_destination.bootstrap, busy))
        filters = {"groupFilters": [{"name": app, "patternType": "LITERAL"},
                                    {"name": "busy-", "patternType": "prefixed", "filterType": "include"}]}
        link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap, config={
            "consumer.offset.sync.enable": "true", "consumer.offset.group.filters": json.dumps(filters),
            "consumer.offset.sync.ms": "1000"})
        name = create_mirror(stub, link, topic)
        wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))

        expected = {(topic, 0): (37, "app-meta"), (topic, 1): (120, "")}
        wait_for("app's offsets on the destination", lambda: committed(kafka_destination.bootstrap, app, {topic: 2}) == expected)
        start = sync_task(stub, link).last_success_time.seconds
        task = wait_for("two more sync runs", lambda: runs_after(stub, link, start + 1), timeout=30)
        assert busy in task.message and "left alone" in task.message
        assert committed(kafka_destination.bootstrap, busy, {topic: 2}) == {}
        assert other not in groups(kafka_destination.bootstrap)  # outside the filters: never written
        metrics = scrape(service)
        assert re.search(rf'clusterlink_consumer_groups_synced{{link="{link}",replica="[^"]+"}} 1.0', metrics)
        assert f'clusterlink_link_task_runs_total{{link="{link}",outcome="ok",replica="' in metrics
        assert '",task="ConsumerOffsetSync"}' in metrics
        assert f'clusterlink_link_task_last_success_timestamp_seconds{{link="{link}",task="ConsumerOffsetSync"}}' in metrics
    finally:
        active.close()

    # An offset moved on the source follows.
    commit(kafka_source.bootstrap, app, [TopicPartition(topic, 0, 90, metadata="later")])
    wait_for("the moved offset", lambda: committed(kafka_destination.bootstrap, app, {topic: 2}).get((topic, 0)) == (90, "later"))

    # Failover: a consumer of the group on the destination resumes at the synced position.
    stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=name))
    reader = Consumer({"bootstrap.servers": kafka_destination.bootstrap, "group.id": app,
                       "auto.offset.reset": "latest", "enable.auto.commit": False})
    try:
        reader.subscribe([topic])
        firsts: dict[int, int] = {}
        def first_offsets():
            msg = reader.poll(0.5)
            if msg is not None and msg.error() is None:
                firsts.setdefault(msg.partition(), msg.offset())
            return len(firsts) == 2
        wait_for("records on both partitions", first_offsets)
        assert firsts == {0: 90, 1: 120}
    finally:
        reader.close()


def test_offset_sync_settings_are_checked(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    cases = [
        ({"consumer.offset.sync.enable": "true"}, "needs consumer.offset.group.filters"),
        ({"consumer.offset.group.filters": '{"groupFilters":[{"name":"a","patternType":"REGEX"}]}'},
         "patternType must be one of"),
        ({"consumer.offset.group.filters": "{"}, "must be JSON like"),
        ({"consumer.offset.sync.ms": "500"}, "consumer.offset.sync.ms"),
        ({"consumer.offset.sync.enabled": "true"}, "unknown"),
    ]
    for config, says in cases:
        with pytest.raises(grpc.RpcError) as info:
            create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap, config=config)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert says in info.value.details()
    # A link without the task shows it NOT_CONFIGURED.
    topic = unique("plain")
    create_topic(kafka_source.bootstrap, topic, 1)
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    create_mirror(stub, link, topic)
    task = wait_for("the task entry", lambda: sync_task(stub, link))
    assert task.state == pb.LinkTask.NOT_CONFIGURED


def test_promote_syncs_the_offsets_once_more(service: Service, kafka_source, kafka_destination):
    """With an interval far longer than the test, only the sync that promote runs at lag 0
    can carry an offset committed after the first run."""
    stub = service.stub()
    topic, app = unique("ledger"), unique("app")
    create_topic(kafka_source.bootstrap, topic, 1)
    produce(kafka_source.bootstrap, topic, 100, 1)
    commit(kafka_source.bootstrap, app, [TopicPartition(topic, 0, 10)])
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap, config={
        "consumer.offset.sync.enable": "true", "consumer.offset.sync.ms": "3600000",
        "consumer.offset.group.filters": json.dumps({"groupFilters": [{"name": app}]})})
    name = create_mirror(stub, link, topic)
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 1))
    # The link's first run comes when its runtime starts: before the mirror was prepared it
    # syncs nothing, before the mirror held record 10 an earlier offset. The next is an hour away.
    wait_for("the first sync", lambda: sync_task(stub, link) and sync_task(stub, link).state == pb.LinkTask.ACTIVE)
    first = committed(kafka_destination.bootstrap, app, {topic: 1}).get((topic, 0))
    assert first is None or first[0] <= 10

    commit(kafka_source.bootstrap, app, [TopicPartition(topic, 0, 64, metadata="before-promote")])
    stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=name))
    wait_for("PROMOTED", lambda: stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name)).state
             == pb.MirrorTopic.PROMOTED)
    assert committed(kafka_destination.bootstrap, app, {topic: 1}) == {(topic, 0): (64, "before-promote")}
