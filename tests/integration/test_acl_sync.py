"""The ACL sync task and task errors, through secured clusters (issue: cluster-wide sync).

The link logs in as `linker` on both sides (only the ACLs the sandbox grants a
link); `admin` writes the ACLs on the source and reads the destination's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.secure_kafka import SecureCluster
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import unique

pytestmark = pytest.mark.integration

ACL = tuple[str, str, str, str]  # resource type, pattern type, resource name, operation


def acl(principal: str, kind: str, pattern: str, name: str, operation: str) -> AclBinding:
    return AclBinding(ResourceType[kind], name, ResourcePatternType[pattern], principal, "*",
                      AclOperation[operation], AclPermissionType.ALLOW)


def create_acls(cluster: SecureCluster, acls: list[AclBinding]) -> None:
    admin = cluster.admin()  # kept referenced: a collected client fails its futures
    for fut in admin.create_acls(acls).values():
        fut.result(30)


def delete_acls(cluster: SecureCluster, acls: list[AclBinding]) -> None:
    admin = cluster.admin()
    filters = [AclBindingFilter(a.restype, a.name, a.resource_pattern_type, a.principal, a.host, a.operation,
                                a.permission_type) for a in acls]
    for fut in admin.delete_acls(filters).values():
        fut.result(30)


def acls_of(cluster: SecureCluster, principal: str) -> set[ACL]:
    admin = cluster.admin()
    found = admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY,
        AclPermissionType.ANY)).result(30)
    return {(a.restype.name, a.resource_pattern_type.name, a.name, a.operation.name) for a in found}


def task(stub, link: str, name: str) -> pb.LinkTask | None:
    tasks = stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks
    return next((t for t in tasks if t.name == name), None)


def create_link(stub, source: pb.ClusterConnection, destination: pb.ClusterConnection,
                config: dict[str, str]) -> str:
    link_id = unique("acls")
    stub.CreateLink(pb.CreateLinkRequest(link_id=link_id, link=pb.Link(
        source=source, destination=destination, config=config)))
    return link_id


def scrape(service: Service) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_acls_follow_with_the_prefix_and_only_the_links_own_are_deleted(
    service: Service, secure_source: SecureCluster, secure_destination: SecureCluster
):
    stub = service.stub()
    app = f"User:{unique('app')}"
    prefix = f"{unique('dr')}."
    orders = acl(app, "TOPIC", "LITERAL", "orders", "READ")
    payments = acl(app, "TOPIC", "PREFIXED", "pay.", "WRITE")
    every_topic = acl(app, "TOPIC", "LITERAL", "*", "DESCRIBE")
    group = acl(app, "GROUP", "LITERAL", "app-group", "READ")
    create_acls(secure_source, [orders, payments, every_topic, group])
    # On the destination before the link: one the link will also want, one it never wants.
    theirs = acl(app, "TOPIC", "LITERAL", f"{prefix}audit", "READ")
    create_acls(secure_destination, [group, theirs])

    filters = {"aclFilters": [{"resourceFilter": {"resourceType": "any"}, "accessFilter": {"principal": app}}]}
    link = create_link(stub, secure_source.connection("linker"), secure_destination.connection("linker"), {
        "mirror.topic.prefix": prefix, "acl.sync.enable": "true", "acl.sync.ms": "1000",
        "acl.filters": json.dumps(filters)})
    wanted = {
        ("TOPIC", "LITERAL", f"{prefix}orders", "READ"),
        ("TOPIC", "PREFIXED", f"{prefix}pay.", "WRITE"),
        ("TOPIC", "PREFIXED", prefix, "DESCRIBE"),       # every topic: every mirror topic of the link
        ("GROUP", "LITERAL", "app-group", "READ"),
        ("TOPIC", "LITERAL", f"{prefix}audit", "READ"),  # not the link's, untouched
    }
    wait_for("the source's ACLs on the destination", lambda: acls_of(secure_destination, app) == wanted)
    ran = wait_for("the task reports the managed ACLs", lambda: (lambda t: t if t and t.state == pb.LinkTask.ACTIVE
                   and t.message.startswith("manages 3 ") else None)(task(stub, link, "AclSync")))
    assert ran.error_code == pb.LinkTask.ERROR_CODE_UNSPECIFIED
    assert re.search(rf'clusterlink_acls_managed{{link="{link}",replica="[^"]+"}} 3.0', scrape(service))

    # Gone from the source: the link's own ACL goes, the one that was there before stays.
    delete_acls(secure_source, [orders, group])
    wait_for("the link's ACL deleted", lambda: acls_of(secure_destination, app) == wanted - {
        ("TOPIC", "LITERAL", f"{prefix}orders", "READ")})
    wait_for("the task manages 2", lambda: (lambda t: t and t.message.startswith("manages 2 "))(
        task(stub, link, "AclSync")))
    assert acls_of(secure_destination, app) == wanted - {("TOPIC", "LITERAL", f"{prefix}orders", "READ")}


def test_a_wrong_password_shows_authentication_error_in_the_links_tasks(
    service: Service, secure_source: SecureCluster, secure_destination: SecureCluster
):
    stub = service.stub()
    filters = {"aclFilters": [{"resourceFilter": {"resourceType": "TOPIC"}, "accessFilter": {}}]}
    topic_filters = {"topicFilters": [{"name": unique("never"), "patternType": "PREFIXED"}]}
    link = create_link(stub, secure_source.connection("linker", password="not-the-password"),
                       secure_destination.connection("linker"), {
                           "acl.sync.enable": "true", "acl.sync.ms": "1000", "acl.filters": json.dumps(filters),
                           "auto.create.mirror.topics.enable": "true", "auto.create.mirror.topics.ms": "1000",
                           "auto.create.mirror.topics.filters": json.dumps(topic_filters)})

    def failed(name: str) -> pb.LinkTask | None:
        t = task(stub, link, name)
        return t if t and t.state == pb.LinkTask.IN_ERROR and t.error_code == pb.LinkTask.AUTHENTICATION_ERROR \
            else None

    for name in ("AclSync", "AutoCreateMirrorTopics"):
        t = wait_for(f"{name} in AUTHENTICATION_ERROR", lambda name=name: failed(name), timeout=90)
        assert "cannot log in to the source cluster" in t.last_error and secure_source.bootstrap in t.last_error
        assert "not-the-password" not in t.last_error

    # The data path's client retries the login every second or so; its log lines
    # are shown once a minute each, not once per retry. The service is shared with
    # other tests, whose lines may hold this test's back: the whole log is checked.
    last: dict[str, dt.datetime] = {}
    kafka_lines = [line for line in service.output if " kafka." in line]
    assert kafka_lines  # this test's refused logins, or earlier ones holding them back
    for line in kafka_lines:
        stamped = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) (.*)", line)
        if stamped is None:
            continue
        when = dt.datetime.strptime(stamped.group(1), "%Y-%m-%d %H:%M:%S,%f")
        rest = re.sub(r" \(\d+ similar line\(s\) in the last \d+s not shown\)$", "", stamped.group(2).rstrip())
        kind = re.sub(r"\d+(?:\.\d+)?", "", rest)
        assert kind not in last or (when - last[kind]).total_seconds() >= 59, (line, last[kind])
        last[kind] = when
