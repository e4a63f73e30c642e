"""Failback, first step: reverse a promoted mirror over the old primary's topic (issue: failback).

A -> B at lag 0, promote, B takes writes; then a mirror B -> A over A's topic,
which holds a prefix of B's history: only the tail is copied, and the two topics
are equal record by record with the same offsets.
"""

from __future__ import annotations

import random
import re
import urllib.request

import pytest

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.test_cli import ok, run
from tests.integration.kafka_io import (
    caught_up,
    create_link,
    create_mirror,
    create_topic,
    end_offsets,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration


def mirrored_records(service: Service, link: str, topic: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(rf'clusterlink_mirrored_records_total{{link="{link}",mirror_topic="{re.escape(topic)}",'
                      r'replica="[^"]*"} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def mirrored_a_to_b(stub, a, b, topic: str, records: int) -> str:
    """`topic` on A with `records` records over 2 partitions, mirrored A -> B up to lag 0; the mirror's name."""
    create_topic(a.bootstrap, topic, 2)
    produce(a.bootstrap, topic, records, 2)
    forward = create_mirror(stub, create_link(stub, a.bootstrap, b.bootstrap), topic)
    wait_for("A -> B caught up", lambda: caught_up(stub, forward, a.bootstrap, topic, 2))
    return forward


def test_reverse_after_promote_copies_only_the_tail(service: Service, kafka_source, kafka_destination):
    a, b = kafka_source, kafka_destination
    stub = service.stub()
    topic = unique("ledger")
    forward = mirrored_a_to_b(stub, a, b, topic, 400)
    stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=forward))
    wait_for("promoted", lambda: stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=forward)).state
             == pb.MirrorTopic.PROMOTED)

    # B is the primary now and takes writes; A holds a prefix of B's history.
    produce(b.bootstrap, topic, 150, 2, start=400)

    b_to_a = create_link(stub, b.bootstrap, a.bootstrap)
    reverse = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{b_to_a}", mirror_topic_id=topic, mirror_topic=pb.MirrorTopic(source_topic=topic))).name
    mirror = wait_for("B -> A caught up", lambda: caught_up(stub, reverse, b.bootstrap, topic, 2))

    assert read_all(a.bootstrap, topic, 2) == read_all(b.bootstrap, topic, 2)
    assert end_offsets(a.bootstrap, topic, 2) == end_offsets(b.bootstrap, topic, 2)
    assert mirror.offset_fidelity == pb.EXACT
    # Only the tail went over the reverse link: nothing of the prefix was copied again.
    assert mirrored_records(service, b_to_a, topic) == 150


def test_a_diverged_old_primary_fails_the_reverse_mirror_and_stays_untouched(
    service: Service, kafka_source, kafka_destination
):
    """Failover while A still takes writes, then B takes writes: A's tail is not B's."""
    a, b = kafka_source, kafka_destination
    stub = service.stub()
    topic = unique("diverged")
    a_before, b_to_a = diverged_pair(stub, a, b, topic)

    reverse = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{b_to_a}", mirror_topic_id=topic, mirror_topic=pb.MirrorTopic(source_topic=topic))).name
    failed = wait_for("the reverse mirror FAILED", lambda: (lambda m: m if m.state == pb.MirrorTopic.FAILED else None)(
        stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=reverse))))
    assert "partition 0 diverges from the source at offset 150" in failed.reason, failed.reason
    assert "50 record(s)" in failed.reason  # A's records from 150 on that B does not have
    assert "create it again with restore" in failed.reason and "--restore" in failed.reason
    assert read_all(a.bootstrap, topic, 2) == a_before  # untouched
    assert not failed.HasField("restore")


def diverged_pair(stub, a, b, topic: str) -> tuple[list, str]:
    """A -> B failed over at 150 per partition while A took 50 more per partition and B
    25 others: A's records past 150 are not B's. A's records before, and the B -> A link."""
    forward = mirrored_a_to_b(stub, a, b, topic, 300)
    failed_over = stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=forward))
    # The last mirrored offsets, which the divergence point is checked against.
    assert {p.partition: p.mirrored_source_offset for p in failed_over.partitions} == {0: 150, 1: 150}
    produce(a.bootstrap, topic, 100, 2, start=300)
    produce(b.bootstrap, topic, 50, 2, start=1000)
    return read_all(a.bootstrap, topic, 2), create_link(stub, b.bootstrap, a.bootstrap)


def restore_request(link: str, topic: str, validate_only: bool = False) -> pb.CreateMirrorTopicRequest:
    return pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic_id=topic, validate_only=validate_only,
        mirror_topic=pb.MirrorTopic(source_topic=topic, restore=pb.Restore(enabled=True)))


def set_aside_counts(mirror: pb.MirrorTopic) -> dict[int, tuple[int, int, int]]:
    return {s.partition: (s.divergence_offset, s.end_offset, s.records) for s in mirror.restore.partitions}


def test_restore_sets_the_diverged_records_aside_then_mirrors_with_equal_offsets(
    service: Service, kafka_source, kafka_destination
):
    a, b = kafka_source, kafka_destination
    stub = service.stub()
    topic = unique("restored")
    a_before, b_to_a = diverged_pair(stub, a, b, topic)

    dry = stub.CreateMirrorTopic(restore_request(b_to_a, topic, validate_only=True))
    assert set_aside_counts(dry) == {0: (150, 200, 50), 1: (150, 200, 50)}
    assert dry.restore.set_aside_topic == f"{topic}.diverged"
    with pytest.raises(Exception):  # the dry run created nothing
        stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=dry.name))
    # The CLI's dry run prints the same, as a table.
    table = ok("mirror", "create", b_to_a, topic, "--name", topic, "--restore", "--validate-only",
               endpoint=service.endpoint)
    assert "restore would set aside 100 record(s)" in table, table
    rows = [line.split() for line in table.splitlines() if line.split()[:1] in (["0"], ["1"])]
    assert rows == [[str(p), "150", "200", "50", f"{topic}.diverged", "0"] for p in (0, 1)], table
    assert run("mirror", "create", b_to_a, topic, "--set-aside-topic", "x", endpoint=service.endpoint).returncode == 2

    reverse = stub.CreateMirrorTopic(restore_request(b_to_a, topic)).name
    wait_for("B -> A caught up", lambda: caught_up(stub, reverse, b.bootstrap, topic, 2), timeout=120)
    mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=reverse))
    assert mirror.restore.state == pb.Restore.DONE
    assert set_aside_counts(mirror) == set_aside_counts(dry)  # the dry run predicted it exactly

    # A's own records are all in the side topic, with their original offsets and timestamps.
    side = read_all(a.bootstrap, f"{topic}.diverged", 2)
    diverged = [r for r in a_before if r.offset >= 150]
    assert [(r.partition, r.key, r.value, r.timestamp) for r in side] == \
        [(r.partition, r.key, r.value, r.timestamp) for r in diverged]
    assert [dict(r.headers)["clusterlink.original.offset"] for r in side] == [str(r.offset).encode() for r in diverged]
    assert [tuple(h for h in r.headers if h[0] != "clusterlink.original.offset") for r in side] == \
        [r.headers for r in diverged]
    # A's topic now equals B's, record by record and offset by offset.
    assert read_all(a.bootstrap, topic, 2) == read_all(b.bootstrap, topic, 2)
    assert end_offsets(a.bootstrap, topic, 2) == end_offsets(b.bootstrap, topic, 2)

    # Asking again after success is harmless: nothing to set aside, nothing copied twice.
    stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=reverse))
    wait_for("deleted", lambda: not [m for m in stub.ListMirrorTopics(
        pb.ListMirrorTopicsRequest(parent=f"links/{b_to_a}")).mirror_topics])
    assert not stub.CreateMirrorTopic(restore_request(b_to_a, topic, validate_only=True)).restore.partitions
    again = stub.CreateMirrorTopic(restore_request(b_to_a, topic)).name
    done = wait_for("B -> A again", lambda: caught_up(stub, again, b.bootstrap, topic, 2))
    assert done.restore.state == pb.Restore.DONE and not done.restore.partitions
    assert read_all(a.bootstrap, f"{topic}.diverged", 2) == side
    assert read_all(a.bootstrap, topic, 2) == read_all(b.bootstrap, topic, 2)


def test_kill_9_during_a_restore_sets_every_record_aside_once(
    fresh_database_url: str, tmp_path, kafka_source, kafka_destination
):
    """kill -9 of the service while it sets records aside (small transactions, so
    many are open or committed when it dies) and while it replaces the topic."""
    a, b = kafka_source, kafka_destination
    rng = random.Random()
    service = Service(db_url=fresh_database_url, workdir=tmp_path / "svc").start()
    try:
        stub = service.stub()
        topic = unique("crashed")
        forward = mirrored_a_to_b(stub, a, b, topic, 300)
        stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=forward))
        produce(a.bootstrap, topic, 20_000, 2, start=300)   # 10,000 per partition set aside
        produce(b.bootstrap, topic, 50, 2, start=10_000)
        a_before = read_all(a.bootstrap, topic, 2)
        b_to_a = create_link(stub, b.bootstrap, a.bootstrap, config={"restore.transaction.records": "100"})
        reverse = stub.CreateMirrorTopic(restore_request(b_to_a, topic)).name

        def restore_state() -> pb.Restore:
            return stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=reverse)).restore

        kills = 0
        for phase in ("setting aside", "setting aside", "setting aside", "replacing"):
            if phase == "setting aside":
                # A random moment inside the copy: after a random number of records more.
                target = sum(s.records for s in restore_state().partitions) + rng.randint(1, 2000)

                def set_aside_or_past(target: int = target) -> str | None:
                    now = restore_state()  # one read: the state may move between two
                    if now.state == pb.Restore.SETTING_ASIDE and sum(s.records for s in now.partitions) >= target:
                        return "now"
                    return "past" if now.state not in (pb.Restore.SETTING_ASIDE, pb.Restore.REQUESTED) else None

                if wait_for("records set aside", set_aside_or_past, timeout=120) == "past":
                    break
            else:
                def replacing_or_done() -> int | None:
                    now = restore_state().state
                    return now if now in (pb.Restore.REPLACING, pb.Restore.DONE) else None

                if wait_for("replacing or done", replacing_or_done, timeout=120) != pb.Restore.REPLACING:
                    break
            service.kill()
            kills += 1
            service = Service(db_url=fresh_database_url, workdir=tmp_path / "svc").start()
            stub = service.stub()
        assert kills >= 3

        wait_for("B -> A caught up", lambda: caught_up(stub, reverse, b.bootstrap, topic, 2), timeout=180)
        mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=reverse))
        assert mirror.restore.state == pb.Restore.DONE
        assert set_aside_counts(mirror) == {0: (150, 10_150, 10_000), 1: (150, 10_150, 10_000)}
        side = read_all(a.bootstrap, f"{topic}.diverged", 2)
        diverged = [r for r in a_before if r.offset >= 150]
        assert [(r.partition, dict(r.headers)["clusterlink.original.offset"], r.key, r.value, r.timestamp)
                for r in side] == \
            [(r.partition, str(r.offset).encode(), r.key, r.value, r.timestamp) for r in diverged]
        assert read_all(a.bootstrap, topic, 2) == read_all(b.bootstrap, topic, 2)
        assert end_offsets(a.bootstrap, topic, 2) == end_offsets(b.bootstrap, topic, 2)
    finally:
        service.stop()
