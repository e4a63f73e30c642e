"""A SASL password reaches neither the logs, nor task errors, nor any API answer."""

from __future__ import annotations

import pytest

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import create_topic, unique

pytestmark = pytest.mark.integration

PASSWORD = "pw-must-never-leak-7731"


def test_password_is_never_logged_or_returned(service: Service, kafka_source, kafka_destination):
    stub = service.stub()
    topic = unique("secret")
    create_topic(kafka_source.bootstrap, topic, 1)
    link = unique("sasl")
    # The sandbox speaks PLAINTEXT, so every SASL connection attempt fails and gets reported.
    stub.CreateLink(pb.CreateLinkRequest(link_id=link, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=kafka_source.bootstrap, security_protocol="SASL_PLAINTEXT",
                                    sasl_mechanism="PLAIN", sasl_username="linker", sasl_password=PASSWORD),
        destination=pb.ClusterConnection(bootstrap_servers=kafka_destination.bootstrap),
        config={"source.request.timeout.ms": "1000"},
    )))
    name = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic))).name

    def task_error() -> str:
        for task in stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks:
            if task.last_error:
                return task.last_error
        return ""

    error = wait_for("the worker to report the failed SASL connection", task_error)
    mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))
    got = stub.GetLink(pb.GetLinkRequest(name=f"links/{link}"))
    assert got.source.sasl_password == "" and got.source.sasl_password_set
    for text in (error, mirror.reason, str(got), str(mirror), "".join(service.output)):
        assert PASSWORD not in text
    stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))
