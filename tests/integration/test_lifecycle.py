"""Pause/resume, promote, failover, foreign writes, on real brokers."""

from __future__ import annotations

import grpc
import pytest
from confluent_kafka import Producer

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import (
    caught_up,
    create_link,
    create_mirror,
    create_topic,
    end_offsets,
    mirror_task,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration


def _mirror(stub, name: str) -> pb.MirrorTopic:
    return stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))


def _task_state(stub, link: str, topic: str) -> int | None:
    task = mirror_task(stub, link, topic)
    return task.state if task is not None else None


def _setup(service: Service, kafka_source, kafka_destination, partitions: int = 2, records: int = 400):
    stub = service.stub()
    topic = unique("life")
    create_topic(kafka_source.bootstrap, topic, partitions)
    produce(kafka_source.bootstrap, topic, records, partitions)
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, partitions))
    return stub, link, topic, name


def test_pause_stops_mirroring_and_resume_catches_up(service: Service, kafka_source, kafka_destination):
    stub, link, topic, name = _setup(service, kafka_source, kafka_destination)
    paused = stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=name))
    assert paused.state == pb.MirrorTopic.PAUSED
    # Pausing twice is harmless.
    assert stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=name)).state == pb.MirrorTopic.PAUSED
    wait_for("worker stopped", lambda: _task_state(stub, link, topic) == pb.LinkTask.STOPPED)
    before = end_offsets(kafka_destination.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 200, 2, start=400)
    # The worker has exited (its task says so), so nothing can write now.
    assert end_offsets(kafka_destination.bootstrap, topic, 2) == before
    assert _mirror(stub, name).state == pb.MirrorTopic.PAUSED

    assert stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name)).state == pb.MirrorTopic.ACTIVE
    wait_for("caught up after resume", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))
    assert read_all(kafka_destination.bootstrap, topic, 2) == read_all(kafka_source.bootstrap, topic, 2)


def test_pausing_the_link_stops_its_mirrors(service: Service, kafka_source, kafka_destination):
    stub, link, topic, name = _setup(service, kafka_source, kafka_destination)
    stub.PauseLink(pb.PauseLinkRequest(name=f"links/{link}"))
    wait_for("worker stopped", lambda: _task_state(stub, link, topic) == pb.LinkTask.STOPPED)
    before = end_offsets(kafka_destination.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 100, 2, start=400)
    assert end_offsets(kafka_destination.bootstrap, topic, 2) == before
    stub.ResumeLink(pb.ResumeLinkRequest(name=f"links/{link}"))
    wait_for("caught up after link resume", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))
    assert read_all(kafka_destination.bootstrap, topic, 2) == read_all(kafka_source.bootstrap, topic, 2)


def test_promote_waits_for_lag_zero_then_makes_the_topic_writable(service: Service, kafka_source, kafka_destination):
    stub, link, topic, name = _setup(service, kafka_source, kafka_destination)
    produce(kafka_source.bootstrap, topic, 300, 2, start=400)
    promoting = stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=name))
    assert promoting.state in (pb.MirrorTopic.PROMOTING, pb.MirrorTopic.PROMOTED)
    promoted = wait_for("promoted", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.PROMOTED and m)
    # Everything produced before the promote request is on the destination.
    assert read_all(kafka_destination.bootstrap, topic, 2) == read_all(kafka_source.bootstrap, topic, 2)
    assert promoted.max_lag == 0
    wait_for("worker stopped", lambda: _task_state(stub, link, topic) == pb.LinkTask.STOPPED)

    # Writable: a producer on the destination appends after the mirrored records.
    before = end_offsets(kafka_destination.bootstrap, topic, 2)
    producer = Producer({"bootstrap.servers": kafka_destination.bootstrap})
    producer.produce(topic, b"written after promotion", partition=0)
    assert producer.flush(30) == 0
    assert end_offsets(kafka_destination.bootstrap, topic, 2)[0][1] == before[0][1] + 1

    # A promoted mirror cannot go back to mirroring.
    with pytest.raises(grpc.RpcError) as err:
        stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "PROMOTED" in err.value.details()


def test_failover_stops_at_once_and_reports_last_mirrored_offsets(service: Service, kafka_source, kafka_destination):
    stub, link, topic, name = _setup(service, kafka_source, kafka_destination)
    failed_over = stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=name))
    assert failed_over.state == pb.MirrorTopic.FAILED_OVER
    wait_for("worker stopped", lambda: _task_state(stub, link, topic) == pb.LinkTask.STOPPED)
    mirror = _mirror(stub, name)
    ends = end_offsets(kafka_destination.bootstrap, topic, 2)
    assert {p.partition: p.mirror_end_offset for p in mirror.partitions} == {p: e[1] for p, e in ends.items()}
    # Failing over twice is harmless; resuming is refused.
    assert stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=name)).state == pb.MirrorTopic.FAILED_OVER
    with pytest.raises(grpc.RpcError) as err:
        stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_foreign_write_fails_the_mirror_and_failover_still_works(service: Service, kafka_source, kafka_destination):
    stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=1)
    stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=name))
    wait_for("worker stopped", lambda: _task_state(stub, link, topic) == pb.LinkTask.STOPPED)
    producer = Producer({"bootstrap.servers": kafka_destination.bootstrap})
    producer.produce(topic, b"not from the source", partition=0)
    assert producer.flush(30) == 0
    produce(kafka_source.bootstrap, topic, 10, 1, start=400)
    stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name))
    failed = wait_for("mirror FAILED", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.FAILED and m)
    assert "written outside the link" in failed.reason
    # Offsets never shifted: the foreign record is the only extra one.
    assert end_offsets(kafka_destination.bootstrap, topic, 1)[0][1] == 401
    # Failover from FAILED is allowed.
    assert stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=name)).state == pb.MirrorTopic.FAILED_OVER


def test_delete_keeps_the_destination_topic_unless_asked(service: Service, kafka_source, kafka_destination):
    from confluent_kafka.admin import AdminClient

    stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=1, records=10)
    admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
    stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=name))
    wait_for("mirror gone", lambda: name not in [
        m.name for m in stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent=f"links/{link}")).mirror_topics])
    assert topic in admin.list_topics(timeout=10).topics

    name = create_mirror(stub, link, topic)  # resumes over the kept topic
    wait_for("caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 1))
    assert read_all(kafka_destination.bootstrap, topic, 1) == read_all(kafka_source.bootstrap, topic, 1)
    stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=name, delete_destination_topic=True))
    wait_for("destination topic deleted", lambda: topic not in admin.list_topics(timeout=10).topics)


def test_a_new_mirror_waits_for_its_source_topic(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("later")
    link = create_link(stub, kafka_source.bootstrap, kafka_destination.bootstrap)
    name = create_mirror(stub, link, topic)
    waiting = wait_for("a waiting reason", lambda: (m := _mirror(stub, name)).reason and m)
    assert waiting.state == pb.MirrorTopic.PENDING
    assert "does not exist" in waiting.reason
    create_topic(kafka_source.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 100, 2)
    mirror = wait_for("caught up once the topic exists",
                      lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2), timeout=90)
    assert mirror.reason == ""
    assert read_all(kafka_destination.bootstrap, topic, 2) == read_all(kafka_source.bootstrap, topic, 2)


def test_a_source_topic_deleted_under_a_running_mirror_fails_it(service: Service, kafka_source, kafka_destination):
    from confluent_kafka.admin import AdminClient

    stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=1, records=10)
    admin = AdminClient({"bootstrap.servers": kafka_source.bootstrap})
    admin.delete_topics([topic])[topic].result(30)
    failed = wait_for("FAILED", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.FAILED and m, timeout=90)
    assert topic in failed.reason
    # What was mirrored stays on the destination.
    assert end_offsets(kafka_destination.bootstrap, topic, 1)[0][1] == 10


def test_a_destination_topic_deleted_under_a_running_mirror_fails_it(service: Service, kafka_source,
                                                                     kafka_destination):
    from confluent_kafka.admin import AdminClient

    stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=2, records=100)
    admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
    admin.delete_topics([topic])[topic].result(30)
    produce(kafka_source.bootstrap, topic, 50, 2, start=100)
    failed = wait_for("FAILED", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.FAILED and m, timeout=90)
    assert f"destination topic {topic!r} was deleted" in failed.reason
    assert "create it again" in failed.reason
    # Nothing brought the topic back (no auto-creation by the link's metadata requests).
    assert topic not in admin.list_topics(timeout=30).topics


def test_a_destination_topic_created_again_under_a_running_mirror_fails_it(service: Service, kafka_source,
                                                                          kafka_destination):
    from confluent_kafka.admin import AdminClient, NewTopic

    stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=1, records=100)
    admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
    admin.delete_topics([topic])[topic].result(30)
    # Created again at once, before the link's next look at the destination's topics.
    wait_for("the topic created again", lambda: _created(admin, NewTopic(topic, 1, 1)), timeout=30)
    failed = wait_for("FAILED", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.FAILED and m, timeout=90)
    assert f"destination topic {topic!r} was deleted and created again" in failed.reason


def test_a_destination_topic_created_again_while_the_service_was_down_fails_its_mirror(
        fresh_database_url: str, tmp_path, kafka_source, kafka_destination):
    from confluent_kafka.admin import AdminClient, NewTopic

    service = Service(db_url=fresh_database_url, workdir=tmp_path / "svc").start()
    try:
        stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=1, records=100)
        service.stop()
        admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
        admin.delete_topics([topic])[topic].result(30)
        wait_for("the topic created again", lambda: _created(admin, NewTopic(topic, 1, 1)), timeout=30)
        service = Service(db_url=fresh_database_url, workdir=tmp_path / "svc").start()
        stub = service.stub()
        failed = wait_for("FAILED", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.FAILED and m,
                          timeout=90)
        assert f"destination topic {topic!r} was deleted and created again" in failed.reason
        # Nothing was copied into the new topic: offsets starting over would not be the source's.
        assert end_offsets(kafka_destination.bootstrap, topic, 1)[0][1] == 0
    finally:
        service.stop()


def test_a_destination_topic_deleted_while_its_mirror_was_paused_fails_it_on_resume(
        service: Service, kafka_source, kafka_destination):
    from confluent_kafka.admin import AdminClient

    stub, link, topic, name = _setup(service, kafka_source, kafka_destination, partitions=2, records=100)
    stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=name))
    wait_for("worker stopped", lambda: _task_state(stub, link, topic) == pb.LinkTask.STOPPED)
    admin = AdminClient({"bootstrap.servers": kafka_destination.bootstrap})
    admin.delete_topics([topic])[topic].result(30)
    wait_for("the topic gone", lambda: topic not in admin.list_topics(timeout=30).topics, timeout=30)
    stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name))
    failed = wait_for("FAILED", lambda: (m := _mirror(stub, name)).state == pb.MirrorTopic.FAILED and m, timeout=90)
    assert f"destination topic {topic!r} was deleted on the destination cluster" in failed.reason
    # Not created anew, empty, as if nothing had been mirrored.
    assert topic not in admin.list_topics(timeout=30).topics


def _created(admin, new_topic) -> bool:  # type: ignore[no-untyped-def]
    """True once `new_topic` was created; False while the old one's deletion is still under way."""
    from confluent_kafka import KafkaException

    try:
        admin.create_topics([new_topic])[new_topic.topic].result(30)
    except KafkaException as exc:
        if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
            return False
        raise
    return True
