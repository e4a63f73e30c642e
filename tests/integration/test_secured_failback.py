"""Failback restore between secured clusters as the least-privileged `linker` (issue: failback).

A = secure_source, B = secure_destination. A -> B is mirrored as `linker` with the
sandbox's ACLs (source role on A, destination role on B), failed over, then A
diverges and B takes writes. The way back, B -> A with restore, makes A the
destination. For that phase `linker` on A holds only what is granted here (the
sandbox's source-role ACLs on A are taken away meanwhile, then given back): the
destination role narrowed to what this link uses (`destination_role`: topic ACLs on
the mirrored topic only, as the README allows; the cluster ACLs; instead of GROUP `*`,
which offset sync needs and this link does not use, Describe on the groups of the
service's record readers) plus what a restore needs on top (`restore_extras`):

    TOPIC            TOPIC.diverged        LITERAL   Create, Read, Write   (Describe is implied)
    TRANSACTIONAL_ID clusterlink-restore-  PREFIXED  Write                 (Describe is implied)
    GROUP            clusterlink-restore-  PREFIXED  Describe              (the restore's readers)

and Delete on the mirrored topic, which the destination role holds already
(DeleteRecords). The sandbox's destination role (TOPIC and GROUP `*`) holds all of
these but the TransactionalId one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from clusterlink.sandbox.security import LINKER, link_acls
from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.secure_kafka import SecureCluster
from tests.fixtures.service import Service, mirror_state, wait_for
from tests.integration.kafka_io import caught_up, create_topic, end_offsets, produce, read_all, unique
from tests.integration.test_failback import restore_request, set_aside_counts
from tests.integration.test_secured_clusters import create_secure_link

pytestmark = pytest.mark.integration

PRINCIPAL = f"User:{LINKER}"
HEADER = "clusterlink.original.offset"


def allow(resource: ResourceType, name: str, operation: AclOperation,
          pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> AclBinding:
    return AclBinding(resource, name, pattern, PRINCIPAL, "*", operation, AclPermissionType.ALLOW)


def destination_role(topic: str) -> list[AclBinding]:
    """The sandbox's destination-role ACLs as a link without offset sync uses them: the
    topic ones narrowed to `topic`, the cluster ones, and for groups only Describe on
    the random groups (clusterlink-reader-UUID) of the consumers that read single records
    (the divergence check, the restore's dry run): their FindCoordinator needs it."""
    return [allow(b.restype, topic, b.operation) if b.restype == ResourceType.TOPIC else b
            for b in link_acls("destination", PRINCIPAL) if b.restype != ResourceType.GROUP] + \
        [allow(ResourceType.GROUP, "clusterlink-reader-", AclOperation.DESCRIBE, ResourcePatternType.PREFIXED)]


def mirrored_topic_delete(topic: str) -> AclBinding:
    return allow(ResourceType.TOPIC, topic, AclOperation.DELETE)


def side_topic_describe(topic: str) -> AclBinding:
    return allow(ResourceType.TOPIC, f"{topic}.diverged", AclOperation.DESCRIBE)


def side_topic_create(topic: str) -> AclBinding:
    return allow(ResourceType.TOPIC, f"{topic}.diverged", AclOperation.CREATE)


def side_topic_write(topic: str) -> AclBinding:
    return allow(ResourceType.TOPIC, f"{topic}.diverged", AclOperation.WRITE)


def side_topic_read(topic: str) -> AclBinding:
    return allow(ResourceType.TOPIC, f"{topic}.diverged", AclOperation.READ)


def transactional_id_write() -> AclBinding:
    return allow(ResourceType.TRANSACTIONAL_ID, "clusterlink-restore-", AclOperation.WRITE,
                 ResourcePatternType.PREFIXED)


def restore_group_describe() -> AclBinding:
    return allow(ResourceType.GROUP, "clusterlink-restore-", AclOperation.DESCRIBE, ResourcePatternType.PREFIXED)


def restore_extras(topic: str) -> list[AclBinding]:
    """What a restore needs on A beyond the destination role on the mirrored topic."""
    return [side_topic_create(topic), side_topic_write(topic), side_topic_read(topic), transactional_id_write(),
            restore_group_describe()]


def _as_filter(b: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                            b.permission_type)


class LinkerAcls:
    """The ACLs `linker` holds on one cluster while a test runs."""

    def __init__(self, admin: AdminClient):
        self.admin = admin
        self.granted: list[AclBinding] = []

    def grant(self, *bindings: AclBinding) -> None:
        for fut in self.admin.create_acls(list(bindings)).values():
            fut.result(30)
        self.granted += bindings

    def revoke(self, *bindings: AclBinding) -> None:
        for fut in self.admin.delete_acls([_as_filter(b) for b in bindings]).values():
            fut.result(30)
        self.granted = [b for b in self.granted if b not in bindings]


@contextmanager
def linker_on_a_holds_only(a: SecureCluster, bindings: list[AclBinding]) -> Iterator[LinkerAcls]:
    """`linker` on A holds `bindings` and nothing else until the block ends; then the
    sandbox's source-role ACLs again, as the other tests expect."""
    acls = LinkerAcls(a.admin())
    source_role = link_acls("source", PRINCIPAL)
    acls.revoke(*source_role)
    try:
        acls.grant(*bindings)
        yield acls
    finally:
        if acls.granted:
            acls.revoke(*acls.granted)
        acls.grant(*source_role)


def failed_over_and_diverged(stub, a: SecureCluster, b: SecureCluster, topic: str) -> tuple[list, str]:
    """`topic` mirrored A -> B as linker (300 records over 2 partitions), failed over at 150
    per partition; then A takes 50 more per partition and B 25 others. A's records then,
    and the A -> B link."""
    create_topic(a.config(), topic, 2)
    produce(a.config(), topic, 300, 2)
    link = create_secure_link(stub, a.connection(LINKER), b.connection(LINKER))
    forward = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic))).name
    wait_for("A -> B caught up", lambda: caught_up(stub, forward, a.config(), topic, 2), timeout=120)
    failed_over = stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=forward))
    assert {p.partition: p.mirrored_source_offset for p in failed_over.partitions} == {0: 150, 1: 150}
    produce(a.config(), topic, 100, 2, start=300)
    produce(b.config(), topic, 50, 2, start=1000)
    return read_all(a.config(), topic, 2), link


def delete_links(stub, *links: str) -> None:
    """The test's links go with their mirrors (the topics stay), before linker's ACLs on A
    are as the sandbox made them again: no mirror goes on retrying without its ACLs."""
    for link in links:
        stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))


def assert_restored(stub, name: str, a: SecureCluster, b: SecureCluster, topic: str, a_before: list) -> None:
    mirror = wait_for("B -> A caught up", lambda: caught_up(stub, name, b.config(), topic, 2), timeout=120)
    assert mirror.restore.state == pb.Restore.DONE
    assert set_aside_counts(mirror) == {0: (150, 200, 50), 1: (150, 200, 50)}
    assert mirror.offset_fidelity == pb.EXACT
    side = read_all(a.config(), f"{topic}.diverged", 2)
    diverged = [r for r in a_before if r.offset >= 150]
    assert [(r.partition, r.key, r.value, r.timestamp) for r in side] == \
        [(r.partition, r.key, r.value, r.timestamp) for r in diverged]
    assert [dict(r.headers)[HEADER] for r in side] == [str(r.offset).encode() for r in diverged]
    assert read_all(a.config(), topic, 2) == read_all(b.config(), topic, 2)
    assert end_offsets(a.config(), topic, 2) == end_offsets(b.config(), topic, 2)


def test_restore_as_linker_on_secured_clusters(service: Service, secure_source: SecureCluster,
                                               secure_destination: SecureCluster):
    a, b = secure_source, secure_destination
    stub = service.stub()
    topic = unique("secure-restored")
    a_before, a_to_b = failed_over_and_diverged(stub, a, b, topic)

    # On B linker keeps the sandbox's destination role, which holds every source-role ACL.
    with linker_on_a_holds_only(a, destination_role(topic) + restore_extras(topic)):
        b_to_a = create_secure_link(stub, b.connection(LINKER), a.connection(LINKER))
        try:
            dry = stub.CreateMirrorTopic(restore_request(b_to_a, topic, validate_only=True))
            assert set_aside_counts(dry) == {0: (150, 200, 50), 1: (150, 200, 50)}
            reverse = stub.CreateMirrorTopic(restore_request(b_to_a, topic)).name
            assert_restored(stub, reverse, a, b, topic, a_before)
        finally:
            delete_links(stub, b_to_a, a_to_b)


def test_each_restore_acl_is_needed_and_the_mirror_says_what_is_refused(
    service: Service, secure_source: SecureCluster, secure_destination: SecureCluster
):
    """The restore starts with none of its extra ACLs (and without Delete on the mirrored
    topic); each refusal holds it, with the mirror PENDING and A's topic untouched, until
    that one ACL is granted. Each is granted in the order the restore meets them."""
    a, b = secure_source, secure_destination
    stub = service.stub()
    topic = unique("secure-refused")
    side = f"{topic}.diverged"
    a_before, a_to_b = failed_over_and_diverged(stub, a, b, topic)

    def blocked(state: int, says: str) -> pb.MirrorTopic | None:
        m = mirror_state(stub, reverse)
        if m.state == pb.MirrorTopic.PENDING and m.restore.state == state and m.reason.startswith("restore waits: ") \
                and says in m.reason:
            return m
        return None

    # (the ACL the restore lacks, how the mirror's reason names it).
    REQUESTED, SETTING_ASIDE, REPLACING = pb.Restore.REQUESTED, pb.Restore.SETTING_ASIDE, pb.Restore.REPLACING
    needs = "the link's user needs "
    steps = [
        (side_topic_create(topic), lambda: blocked(REQUESTED, f"{needs}Create on the side topic {side!r}")),
        # Created, but not visible to linker.
        (side_topic_describe(topic),
         lambda: blocked(REQUESTED, f"{needs}Read and Write (which include Describe) on the side topic {side!r}")),
        (transactional_id_write(),
         lambda: blocked(SETTING_ASIDE, f"{needs}Write on the TransactionalId 'clusterlink-restore-")),
        # The restore's read_committed readers (of the side topic, then of A's topic).
        (restore_group_describe(),
         lambda: blocked(SETTING_ASIDE, f"{needs}Describe on groups PREFIXED 'clusterlink-restore-'")),
        (side_topic_read(topic), lambda: blocked(SETTING_ASIDE, f"{needs}Read on topic {side!r}")),
        (side_topic_write(topic), lambda: blocked(SETTING_ASIDE, f"{needs}Write on the side topic {side!r}")),
        (mirrored_topic_delete(topic), lambda: blocked(REPLACING, f"{needs}Delete on topic {topic!r}")),
    ]
    base = [acl for acl in destination_role(topic) if acl != mirrored_topic_delete(topic)]
    with linker_on_a_holds_only(a, base) as acls:
        b_to_a = create_secure_link(stub, b.connection(LINKER), a.connection(LINKER))
        try:
            reverse = stub.CreateMirrorTopic(restore_request(b_to_a, topic)).name
            for missing, refused in steps:
                held = wait_for(f"the restore held for want of {missing}", refused, timeout=120)
                print(f"without {missing.restype.name} {missing.name!r} {missing.resource_pattern_type.name} "
                      f"{missing.operation.name}: {pb.Restore.State.Name(held.restore.state)}: {held.reason}")
                assert read_all(a.config(), topic, 2) == a_before  # nothing replaced while held
                acls.grant(missing)
            assert sorted(map(str, acls.granted)) == sorted(map(str, destination_role(topic) + restore_extras(topic)
                                                                + [side_topic_describe(topic)]))
            assert_restored(stub, reverse, a, b, topic, a_before)
        finally:
            delete_links(stub, b_to_a, a_to_b)
