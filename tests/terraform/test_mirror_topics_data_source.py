"""`data "clusterlink_mirror_topics"` under a real Terraform, against the real service and Kafka."""

from __future__ import annotations

import pytest

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import create_topic, unique
from tests.terraform.test_provider import errors_in, mirror
from tests.terraform.tfrun import provider_block

pytestmark = pytest.mark.integration


def data_source(endpoint: str, link: str) -> str:
    return provider_block(endpoint) + f"""
data "clusterlink_mirror_topics" "east" {{
  link = "{link}"
}}
output "names" {{
  value = data.clusterlink_mirror_topics.east.names
}}
output "mirror_topics" {{
  value = data.clusterlink_mirror_topics.east.mirror_topics
}}
"""


def test_mirror_topics_lists_every_mirror_of_the_link(
    terraform, terraform_service: Service, kafka_source, kafka_destination
):
    stub = terraform_service.stub()
    link, base = unique("tf-list"), unique("tf-ls")
    stub.CreateLink(pb.CreateLinkRequest(link_id=link, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=kafka_source.bootstrap),
        destination=pb.ClusterConnection(bootstrap_servers=kafka_destination.bootstrap),
        config={"mirror.topic.prefix": "east."},
    )))
    try:
        # Created outside Terraform, "b" before "a": the lists come back sorted by name.
        sources = [f"{base}-b", f"{base}-a"]
        for topic in sources:
            create_topic(kafka_source.bootstrap, topic, 1)
            stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
                parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic)))
        for topic in sources:
            # ACTIVE comes first; the partition's status follows within a status interval.
            wait_for(f"mirror of {topic} ACTIVE with its partition's status",
                     lambda t=topic: (m := mirror(stub, link, f"east.{t}")).state == pb.MirrorTopic.ACTIVE
                     and len(m.partitions) == 1)
        paused = f"links/{link}/mirrorTopics/east.{base}-b"
        stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=paused))
        wait_for("mirror PAUSED", lambda: mirror(stub, link, f"east.{base}-b").state == pb.MirrorTopic.PAUSED)

        tf = terraform()
        tf.write(data_source(terraform_service.endpoint, link))
        tf.apply()
        out = tf.outputs()
        assert out["names"] == [f"east.{base}-a", f"east.{base}-b"]
        assert [(m["id"], m["link"], m["name"], m["source_topic"], m["state"], m["observed_state"], m["reason"])
                for m in out["mirror_topics"]] == [
            (f"{link}/east.{base}-a", link, f"east.{base}-a", f"{base}-a", "ACTIVE", "ACTIVE", ""),
            (f"{link}/east.{base}-b", link, f"east.{base}-b", f"{base}-b", "PAUSED", "PAUSED", ""),
        ]
        assert all([p["partition"] for p in m["partitions"]] == [0] for m in out["mirror_topics"])
    finally:
        stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))


def test_mirror_topics_of_a_missing_link_is_one_error_naming_it(terraform, terraform_service: Service):
    link = unique("tf-none")
    tf = terraform()
    tf.write(data_source(terraform_service.endpoint, link))
    result = tf.plan(expect=(1,))
    assert f"cannot list the mirror topics of link '{link}'" in result.flat
    assert f"link 'links/{link}' not found [NOT_FOUND]" in result.flat
    assert 'data "clusterlink_mirror_topics" "east"' in result.flat
    assert errors_in(result.output) == 1 and "Traceback" not in result.output
