"""Mirroring between secured clusters (SASL_SSL, SCRAM-SHA-512, StandardAuthorizer).

The link connects as `linker` on both sides, a user that holds only the ACLs the
sandbox grants for a link (clusterlink.sandbox.security.link_acls); `admin` writes
the source data and reads the results.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import ConfigResource
from google.protobuf import field_mask_pb2

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.ports import free_port
from tests.fixtures.secure_kafka import SecureCluster
from tests.fixtures.service import Service, mirror_state, wait_for
from tests.integration.kafka_io import (
    caught_up,
    committed,
    create_mirror,
    create_topic,
    end_offsets,
    mirror_task,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration


def ten_records(cluster: SecureCluster, prefix: str) -> str:
    """A new one-partition topic on `cluster` with ten records in it."""
    topic = unique(prefix)
    create_topic(cluster.config(), topic, 1)
    produce(cluster.config(), topic, 10, 1)
    return topic


def right_password_catches_up(stub, link: str, name: str, topic: str, side: str,  # type: ignore[no-untyped-def]
                              source: SecureCluster, destination: SecureCluster) -> None:
    """Gives the link the linker's right password on `side`: the mirror catches up, identical,
    and no longer says why it waited."""
    right = (source if side == "source" else destination).connection("linker")
    stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(name=f"links/{link}", **{side: right}),
        update_mask=field_mask_pb2.FieldMask(paths=[f"{side}.sasl_password"])))
    mirror = wait_for("mirror caught up with the right password",
                      lambda: caught_up(stub, name, source.config(), topic, 1), timeout=90)
    assert mirror.reason == "", mirror.reason
    assert read_all(destination.config(), topic, 1) == read_all(source.config(), topic, 1)


def create_secure_link(stub, source: pb.ClusterConnection, destination: pb.ClusterConnection,
                       config: dict[str, str] | None = None) -> str:
    link_id = unique("secure")
    stub.CreateLink(pb.CreateLinkRequest(link_id=link_id, link=pb.Link(
        source=source, destination=destination, config=config or {})))
    return link_id


def test_mirror_through_secured_clusters_as_linker(service: Service, secure_source: SecureCluster,
                                                   secure_destination: SecureCluster):
    stub = service.stub()
    topic, group = unique("secure-orders"), unique("secure-app")
    create_topic(secure_source.config(), topic, 2)
    produce(secure_source.config(), topic, 600, 2)
    # A log that does not start at 0: the destination needs DeleteRecords (Delete on topics).
    admin = secure_source.admin()
    for future in admin.delete_records([TopicPartition(topic, 0, 25)]).values():
        future.result(30)
    consumer = Consumer({**secure_source.config(), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 120), TopicPartition(topic, 1, 77)], asynchronous=False)
    finally:
        consumer.close()

    filters = {"groupFilters": [{"name": group, "patternType": "LITERAL"}]}
    link = create_secure_link(stub, secure_source.connection("linker"), secure_destination.connection("linker"),
                              config={"consumer.offset.sync.enable": "true", "consumer.offset.sync.ms": "1000",
                                      "consumer.offset.group.filters": json.dumps(filters)})
    name = create_mirror(stub, link, topic)
    wait_for("mirror caught up", lambda: caught_up(stub, name, secure_source.config(), topic, 2), timeout=120)
    produce(secure_source.config(), topic, 300, 2, start=600)  # live traffic on the running mirror
    mirror = wait_for("mirror caught up again", lambda: caught_up(stub, name, secure_source.config(), topic, 2))

    source = read_all(secure_source.config(), topic, 2)
    mirrored = read_all(secure_destination.config(), topic, 2)
    assert len(source) == 900 - 25
    assert mirrored == source  # partition, offset, key, value, headers, timestamp
    assert end_offsets(secure_destination.config(), topic, 2) == end_offsets(secure_source.config(), topic, 2)
    assert mirror.offset_fidelity == pb.EXACT and mirror.max_lag == 0

    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    dest_admin = secure_destination.admin()
    configs = dest_admin.describe_configs([res])[res].result(30)
    assert configs["message.timestamp.type"].value == "CreateTime"

    # Consumer offset sync as linker: Describe on source groups, Read on destination groups.
    expected = {(topic, 0): (120, ""), (topic, 1): (77, "")}
    wait_for("the group's offsets on the destination",
             lambda: committed(secure_destination.config(), group, {topic: 2}) == expected)


def test_wrong_linker_password_on_the_source_shows_on_the_mirror(
    service: Service, secure_source: SecureCluster, secure_destination: SecureCluster
):
    stub = service.stub()
    topic = ten_records(secure_source, "secure-denied")
    wrong = "not-the-linker-password"

    # First a source address where nothing listens: the mirror cannot reach it.
    nowhere = f"127.0.0.1:{free_port()}"
    unreachable = secure_source.connection("linker", password=wrong)
    unreachable.bootstrap_servers = nowhere
    link = create_secure_link(stub, unreachable, secure_destination.connection("linker"))
    name = create_mirror(stub, link, topic)

    def reason_starting(prefix: str) -> Callable[[], pb.MirrorTopic | None]:
        def check() -> pb.MirrorTopic | None:
            mirror = mirror_state(stub, name)
            if mirror.state != pb.MirrorTopic.SOURCE_UNAVAILABLE or not mirror.reason:
                return None
            seen.append(mirror.reason)
            return mirror if mirror.reason.startswith(prefix) else None
        return check

    seen: list[str] = []
    wait_for("the mirror to say the source cannot be reached",
             reason_starting(f"cannot reach the source cluster at {nowhere}"), timeout=90)

    # Then the right address with a wrong password. librdkafka fails the calls with
    # a transport error; the service finds the refused login behind it and says so,
    # on a mirror that was already waiting for its source.
    stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(name=f"links/{link}", source=secure_source.connection("linker", password=wrong)),
        update_mask=field_mask_pb2.FieldMask(paths=["source.bootstrap_servers"])))
    login_refused = f"cannot log in to the source cluster at {secure_source.bootstrap}"
    seen.clear()
    try:
        mirror = wait_for("the mirror to report the refused login", reason_starting(login_refused), timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; reasons shown: {sorted(set(seen))}") from None
    assert "authentication" in mirror.reason.lower(), mirror.reason
    assert wrong not in mirror.reason
    wait_for("the mirror's task to say so too",
             lambda: (t := mirror_task(stub, link, topic)) is not None and t.last_error.startswith(login_refused))

    if service.db_url.startswith("sqlite"):
        tries_keep_the_refused_login(stub, link, topic, login_refused)
    assert mirror_state(stub, name).reason.startswith(login_refused)
    assert service.process is not None and service.process.poll() is None  # the service lives on

    # The right password: the same mirror resumes by itself and catches up.
    right_password_catches_up(stub, link, name, topic, "source", secure_source, secure_destination)


def tries_keep_the_refused_login(stub, link: str, topic: str, login_refused: str) -> None:  # type: ignore[no-untyped-def]
    """The link's prepare step keeps trying, and each try says the login was refused.

    A refused login is not a stuck client: the admin clients are not renewed
    after TRANSPORT_RENEW_INTERVAL, so the refusal is not forgotten. (On
    SQLite the one replica runs the prepare and each try shows on the mirror's
    task. On PostgreSQL the replica cannot join the link's group on a source
    that refuses its login, so the prepare never runs, and the group's own
    error is the reason.)
    """
    errors: list[tuple[int, str]] = []

    def tried_again() -> bool:
        task = mirror_task(stub, link, topic)
        if task is not None and task.last_error and (not errors or task.last_error_time.ToNanoseconds() > errors[-1][0]):
            errors.append((task.last_error_time.ToNanoseconds(), task.last_error))
        return len(errors) >= 4  # past TRANSPORT_RENEW_INTERVAL, when stuck clients are renewed

    try:
        wait_for("three more tries after the refused login", tried_again, timeout=120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the task's errors: {errors}") from None
    assert all(e.startswith(login_refused) for _, e in errors), errors


def test_wrong_linker_password_on_the_destination_shows_on_the_mirror_and_its_task(
    service: Service, secure_source: SecureCluster, secure_destination: SecureCluster
):
    stub = service.stub()
    topic = ten_records(secure_source, "secure-dst-denied")
    wrong = "not-the-linker-password"
    link = create_secure_link(stub, secure_source.connection("linker"),
                              secure_destination.connection("linker", password=wrong))
    name = create_mirror(stub, link, topic)

    # The data path's own connection only times out; the service finds the
    # refused login behind it and says so on the mirror's task.
    refused = f"cannot log in to the destination cluster at {secure_destination.bootstrap}"

    def task_error() -> str | None:
        task = mirror_task(stub, link, topic)
        return task.last_error if task is not None and task.state == pb.LinkTask.ERROR else None

    error = wait_for("the mirror's task to report the refused login",
                     lambda: (e := task_error()) and e.startswith(refused) and e, timeout=90)
    assert "authentication" in error.lower() and wrong not in error, error
    # The new mirror waits in PENDING (nothing written meanwhile) and says why.
    mirror = wait_for("the mirror to say why it waits",
                      lambda: (m := mirror_state(stub, name)).reason.startswith("waiting: " + refused) and m)
    assert mirror.state == pb.MirrorTopic.PENDING and wrong not in mirror.reason, mirror

    right_password_catches_up(stub, link, name, topic, "destination", secure_source, secure_destination)


def test_a_refused_delete_records_is_an_error_not_a_silent_filler(
    service: Service, secure_source: SecureCluster, secure_destination: SecureCluster
):
    """A user without Delete on the destination's topics cannot move the log start:
    the mirror must say so instead of leaving the filler readable under an exact mirror."""
    from confluent_kafka.admin import (
        AclOperation,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    from clusterlink.sandbox.security import link_acls

    user, password = unique("nodelete"), "nodelete-password-1"
    admin = secure_destination.admin()
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
    for fut in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())]).values():
        fut.result(30)
    grants = [b for b in link_acls("destination", f"User:{user}") if b.operation != AclOperation.DELETE]
    for fut in admin.create_acls(grants).values():
        fut.result(30)
    destination = pb.ClusterConnection(
        bootstrap_servers=secure_destination.bootstrap, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user, sasl_password=password, ssl_ca_pem=secure_destination.ca_pem)

    topic = unique("secure-trimmed")
    create_topic(secure_source.config(), topic, 1)
    produce(secure_source.config(), topic, 30, 1)
    src_admin = secure_source.admin()
    for future in src_admin.delete_records([TopicPartition(topic, 0, 10)]).values():
        future.result(30)
    stub = service.stub()
    link = create_secure_link(stub, secure_source.connection("linker"), destination)
    name = create_mirror(stub, link, topic)

    def says_delete() -> pb.LinkTask | None:
        tasks = stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks
        task = next((t for t in tasks if t.name == f"mirrorTopics/{topic}"), None)
        return task if task and "needs Delete on the destination topic" in task.last_error else None

    wait_for("the mirror's task names the missing Delete", says_delete, timeout=90)
    mirror = mirror_state(stub, name)
    assert mirror.state == pb.MirrorTopic.PENDING, mirror
    # The filler stays below the log start only while the trim is refused; nothing is mirrored on top of it.
    assert end_offsets(secure_destination.config(), topic, 1)[0][1] == 10
