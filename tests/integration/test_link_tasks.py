"""New topics from filters and topic config sync, on real brokers (issue: cluster-wide sync)."""

from __future__ import annotations

import json

import grpc
import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from google.protobuf import field_mask_pb2

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import (
    caught_up,
    create_link,
    create_mirror,
    create_topic,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration


def task(stub, link: str, name: str) -> pb.LinkTask | None:
    tasks = stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks
    return next((t for t in tasks if t.name == name), None)


def runs_after(stub, link: str, name: str, seconds: int) -> pb.LinkTask | None:
    """The task once it has succeeded after `seconds` (epoch)."""
    found = task(stub, link, name)
    return found if found and found.state == pb.LinkTask.ACTIVE and found.last_success_time.seconds > seconds \
        else None


def two_more_runs(stub, link: str, name: str) -> pb.LinkTask:
    """Waits until the task has run twice more: what it would do, it has done."""
    first = wait_for(f"{name} ran", lambda: runs_after(stub, link, name, 0))
    return wait_for(f"{name} ran twice more",
                    lambda: runs_after(stub, link, name, first.last_success_time.seconds + 1), timeout=30)


def mirrors(stub, link: str) -> dict[str, str]:
    """Mirror topic -> source topic, for every mirror topic of the link."""
    out, token = {}, ""
    while True:
        page = stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent=f"links/{link}", page_token=token))
        out.update({m.name.rsplit("/", 1)[1]: m.source_topic for m in page.mirror_topics})
        token = page.next_page_token
        if not token:
            return out


def topic_filters(*filters: dict[str, str]) -> str:
    return json.dumps({"topicFilters": list(filters)})


def topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics)


def test_new_source_topics_that_pass_the_filters_get_mirror_topics(service: Service, kafka_source,
                                                                     kafka_destination):
    stub = service.stub()
    family = unique("shop")
    before, internal, excluded = f"{family}.before", f"__{family}.internal", f"{family}.tmp-1"
    create_topic(kafka_source.bootstrap, before, 1)
    create_topic(kafka_source.bootstrap, internal, 1)
    create_topic(kafka_source.bootstrap, excluded, 1)
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap, config={
        "mirror.topic.prefix": "dr.",
        "auto.create.mirror.topics.enable": "true",
        "auto.create.mirror.topics.ms": "1000",
        "auto.create.mirror.topics.filters": topic_filters(
            {"name": family, "patternType": "PREFIXED"},
            {"name": f"__{family}", "patternType": "PREFIXED"},  # passes the filters, but internal
            {"name": f"{family}.tmp-*", "patternType": "glob", "filterType": "exclude"}),
    })
    wait_for("a mirror of the existing topic", lambda: mirrors(stub, link) == {f"dr.{before}": before})

    later = f"{family}.later"
    create_topic(kafka_source.bootstrap, later, 2)
    produce(kafka_source.bootstrap, later, 50, 2)
    wait_for("a mirror of the new topic", lambda: f"dr.{later}" in mirrors(stub, link))
    name = f"links/{link}/mirrorTopics/dr.{later}"
    wait_for("the new mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, later, 2))
    assert read_all(kafka_destination.bootstrap, f"dr.{later}", 2) == read_all(kafka_source.bootstrap, later, 2)

    ran = two_more_runs(stub, link, "AutoCreateMirrorTopics")
    assert mirrors(stub, link) == {f"dr.{before}": before, f"dr.{later}": later}
    assert "2 source topic(s) mirrored" in ran.message

    # A deleted source topic fails its mirror; the task never deletes it nor makes it again.
    admin = AdminClient({"bootstrap.servers": kafka_source.bootstrap})
    admin.delete_topics([before])[before].result(30)
    failed = wait_for("the mirror of the deleted topic failed", lambda: (lambda m: m if m.state ==
                      pb.MirrorTopic.FAILED else None)(stub.GetMirrorTopic(pb.GetMirrorTopicRequest(
                          name=f"links/{link}/mirrorTopics/dr.{before}"))))
    assert "deleted" in failed.reason
    two_more_runs(stub, link, "AutoCreateMirrorTopics")
    assert set(mirrors(stub, link)) == {f"dr.{before}", f"dr.{later}"}


def test_a_two_way_pair_with_wide_filters_does_not_loop(service: Service, kafka_cluster_factory):
    """a -> b with prefix "a.", b -> a with prefix "b.", both mirroring every topic."""
    a, b = kafka_cluster_factory(), kafka_cluster_factory()
    create_topic(a.bootstrap, "orders", 1)
    create_topic(b.bootstrap, "payments", 1)
    produce(a.bootstrap, "orders", 20, 1)
    produce(b.bootstrap, "payments", 20, 1)
    everything = topic_filters({"name": "*"})
    stub = service.stub()
    config = {"auto.create.mirror.topics.enable": "true", "auto.create.mirror.topics.ms": "1000",
              "auto.create.mirror.topics.filters": everything}
    a_to_b = create_link(stub, a.bootstrap, b.bootstrap, config={**config, "mirror.topic.prefix": "a."})
    b_to_a = create_link(stub, b.bootstrap, a.bootstrap, config={**config, "mirror.topic.prefix": "b."})

    wait_for("each side mirrors the other's topic", lambda: mirrors(stub, a_to_b) == {"a.orders": "orders"}
             and mirrors(stub, b_to_a) == {"b.payments": "payments"})
    wait_for("both mirrors caught up", lambda: caught_up(
        stub, f"links/{a_to_b}/mirrorTopics/a.orders", a.bootstrap, "orders", 1) and caught_up(
        stub, f"links/{b_to_a}/mirrorTopics/b.payments", b.bootstrap, "payments", 1))
    # Each task has now listed a cluster that holds the other link's mirror topic.
    two_more_runs(stub, a_to_b, "AutoCreateMirrorTopics")
    two_more_runs(stub, b_to_a, "AutoCreateMirrorTopics")
    assert mirrors(stub, a_to_b) == {"a.orders": "orders"}
    assert mirrors(stub, b_to_a) == {"b.payments": "payments"}
    assert {t for t in topics(a.bootstrap) if not t.startswith("__")} == {"orders", "b.payments"}
    assert {t for t in topics(b.bootstrap) if not t.startswith("__")} == {"payments", "a.orders"}
    # The service outlives this test's clusters: links left behind would keep calling dead ports.
    for link in (a_to_b, b_to_a):
        stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))


def dynamic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(30)
    return {k: e.value for k, e in entries.items() if e.source == 1}  # DYNAMIC_TOPIC_CONFIG


def alter(bootstrap: str, topic: str, set_: dict[str, str], delete: tuple[str, ...] = ()) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in set_.items()]
    entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in delete]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
    admin.incremental_alter_configs([resource])[resource].result(30)


def test_topic_configs_follow_the_source(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("configs")
    create_topic(kafka_source.bootstrap, topic, 1, {"retention.ms": "86400000"})
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap, config={
        "topic.config.sync.ms": "1000", "topic.config.sync.include": "min.insync.replicas",
        "topic.config.sync.exclude": "segment.ms"})
    name = create_mirror(stub, link, topic)
    wait_for("mirror active", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 1))
    mirror = lambda: dynamic_configs(kafka_destination.bootstrap, topic)  # noqa: E731
    assert mirror()["retention.ms"] == "86400000"  # copied at creation

    alter(kafka_source.bootstrap, topic, {
        "retention.ms": "172800000",          # changed
        "max.message.bytes": "2000000",       # added
        "min.insync.replicas": "1",           # added through topic.config.sync.include
        "segment.ms": "3600000",              # excluded: stays the mirror's own
        "compression.type": "gzip",           # never synced: the mirror keeps producer
        "message.timestamp.type": "LogAppendTime",  # never synced: the mirror keeps CreateTime
    })
    wait_for("the changes on the mirror", lambda: (lambda c: c.get("retention.ms") == "172800000"
             and c.get("max.message.bytes") == "2000000" and c.get("min.insync.replicas") == "1")(mirror()))
    configs = mirror()
    assert "segment.ms" not in configs
    assert configs["compression.type"] == "producer"
    assert configs["message.timestamp.type"] == "CreateTime"

    alter(kafka_source.bootstrap, topic, {}, delete=("max.message.bytes", "retention.ms"))
    wait_for("the removed keys gone from the mirror",
             lambda: not {"max.message.bytes", "retention.ms"} & set(mirror()))
    ran = task(stub, link, "TopicConfigSync")
    assert ran.state == pb.LinkTask.ACTIVE and "in sync" in ran.message
    assert task(stub, link, "AutoCreateMirrorTopics").state == pb.LinkTask.NOT_CONFIGURED


@pytest.mark.parametrize("config, says", [
    ({"auto.create.mirror.topics.enable": "true"}, "needs auto.create.mirror.topics.filters"),
    ({"auto.create.mirror.topics.filters": '{"topicFilters":[{"name":"a","filterType":"ONLY"}]}'},
     "filterType must be one of"),
    ({"auto.create.mirror.topics.ms": "999"}, "auto.create.mirror.topics.ms"),
    ({"acl.sync.enable": "true"}, "needs acl.filters"),
    ({"acl.filters": '{"aclFilters":[{"resourceFilter":{"patternType":"REGEX"}}]}'}, "patternType must be one of"),
    ({"acl.sync.ms": "0"}, "acl.sync.ms"),
    ({"topic.config.sync.include": "compression.type"}, "never synced"),
    ({"topic.config.sync.ms": "500"}, "topic.config.sync.ms"),
    ({"topic.config.sync.enabled": "true"}, "unknown"),
])
def test_bad_task_settings_are_invalid_argument(service: Service, kafka_source, kafka_destination, config, says):
    stub = service.stub()
    with pytest.raises(grpc.RpcError) as info:
        create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap, config=config)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in info.value.details()
    # The same refusal on update.
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(name=f"links/{link}", config=config),
                                             update_mask=field_mask_pb2.FieldMask(paths=["config"])))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in info.value.details()
