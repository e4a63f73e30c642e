"""The Terraform provider's mapping between Terraform values and clusterlink.v1 messages
(no Terraform, no service), and its promotion wait against a scripted client."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from tf.types import List, Number, String, Unknown

from clusterlink.config import filters, link_config
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import base, mapping
from clusterlink_terraform.client import Client, ServiceError, Settings
from clusterlink_terraform.link import TASK, LinkResource
from clusterlink_terraform.mirror_topic import MirrorTopicResource
from clusterlink_terraform.schema_types import Object

# --------------------------------------------------------------------------- ids


def test_import_ids_accept_plain_and_full_names() -> None:
    assert mapping.parse_link_import_id("east") == "east"
    assert mapping.parse_link_import_id("links/east") == "east"
    assert mapping.parse_mirror_import_id("east/orders") == ("east", "orders")
    assert mapping.parse_mirror_import_id("east/east.orders") == ("east", "east.orders")
    assert mapping.parse_mirror_import_id("links/east/mirrorTopics/orders") == ("east", "orders")


@pytest.mark.parametrize("bad", ["", "a/b", "links/"])
def test_bad_link_import_ids_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="not a link id"):
        mapping.parse_link_import_id(bad)


@pytest.mark.parametrize("bad", ["orders", "east/", "/orders", "east/a/b"])
def test_bad_mirror_import_ids_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="LINK/TOPIC"):
        mapping.parse_mirror_import_id(bad)


def test_resource_names() -> None:
    assert mapping.link_name("east") == "links/east"
    assert mapping.mirror_topic_name("east", "orders") == "links/east/mirrorTopics/orders"
    assert mapping.mirror_ids_of("links/east/mirrorTopics/east.orders") == ("east", "east.orders")


# --------------------------------------------------------------------------- states


@pytest.mark.parametrize(
    ("observed", "declared"),
    [
        ("PENDING", "ACTIVE"),
        ("ACTIVE", "ACTIVE"),
        ("SOURCE_UNAVAILABLE", "ACTIVE"),
        ("PAUSED", "PAUSED"),
        ("PROMOTING", "PROMOTED"),
        ("PROMOTED", "PROMOTED"),
        ("FAILED_OVER", "FAILED_OVER"),
        ("FAILED", "FAILED"),
        ("DELETING", None),
    ],
)
def test_observed_states_map_to_the_declared_vocabulary(observed: str, declared: str | None) -> None:
    assert mapping.declared_state(observed) == declared


def test_every_observed_state_of_the_api_is_mapped() -> None:
    for name in pb.MirrorTopic.State.keys():
        if name not in ("STATE_UNSPECIFIED", "DELETING"):
            assert mapping.declared_state(name) in (*mapping.DECLARED_STATES, "FAILED")


def test_the_target_state_names_the_rpc_and_the_service_decides() -> None:
    assert [mapping.transition_action(s) for s in mapping.DECLARED_STATES] == [
        "resume", "pause", "promote", "failover"]
    with pytest.raises(ValueError, match="FAILED"):
        mapping.transition_action("FAILED")


# --------------------------------------------------------------------------- links

SASL = {
    "bootstrap_servers": "10.0.0.1:9092",
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "linker",
    "sasl_password": "pw",
    "ssl_ca_pem": None,
    "ssl_certificate_pem": None,
    "ssl_key_pem": None,
}
PLAIN = {**{k: None for k in SASL}, "bootstrap_servers": "10.0.1.1:9092", "security_protocol": "PLAINTEXT"}


def _planned_link(**changes: Any) -> dict[str, Any]:
    value = {
        "id": "east", "name": "east", "source": dict(SASL), "destination": dict(PLAIN),
        "config": {"mirror.topic.prefix": "east."}, "paused": False,
        "etag": '"3"', "state": "ACTIVE", "tasks": [],
    }
    value.update(changes)
    return value


def test_create_request_carries_every_field_and_the_secrets() -> None:
    link = mapping.link_request(_planned_link())
    assert link.source.bootstrap_servers == "10.0.0.1:9092" and link.source.sasl_password == "pw"
    assert link.destination.security_protocol == "PLAINTEXT" and link.destination.sasl_mechanism == ""
    assert dict(link.config) == {"mirror.topic.prefix": "east."} and link.paused is False


def _answer(**status: Any) -> pb.Link:
    return pb.Link(
        name="links/east",
        source=pb.ClusterConnection(bootstrap_servers="10.0.0.1:9092", security_protocol="SASL_SSL",
                                    sasl_mechanism="SCRAM-SHA-512", sasl_username="linker",
                                    sasl_password_set=True),
        destination=pb.ClusterConnection(bootstrap_servers="10.0.1.1:9092"),
        config={"mirror.topic.prefix": "east."},
        etag='"4"',
        status=pb.LinkStatus(state=pb.LinkStatus.DEGRADED, tasks=[
            pb.LinkTask(name="mirrorTopics/orders", state=pb.LinkTask.ERROR, last_error="boom")], **status),
    )


def test_a_read_keeps_write_only_secrets_while_the_service_has_one() -> None:
    state = mapping.link_state(_answer(), _planned_link())
    assert state["source"] == SASL  # password kept from config/state, never read back
    assert state["destination"] == PLAIN  # empty protocol reads as PLAINTEXT, empty fields as null
    assert state["etag"] == '"4"' and state["state"] == "DEGRADED"
    assert state["tasks"] == [{"name": "mirrorTopics/orders", "state": "ERROR", "last_error": "boom",
                               "error_code": "", "message": "", "last_success_time": ""}]


def test_sync_tasks_show_their_error_code_message_and_last_success_in_rfc_3339() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    answer = _answer()
    answer.status.tasks.extend([
        pb.LinkTask(name="AclSync", state=pb.LinkTask.IN_ERROR, last_error="no authorizer",
                    error_code=pb.LinkTask.MISCONFIGURATION_ERROR,
                    last_success_time=Timestamp(seconds=1746100800, nanos=250_000_000)),
        pb.LinkTask(name="TopicConfigSync", state=pb.LinkTask.ACTIVE, message="2 mirror topic(s) in sync",
                    last_success_time=Timestamp(seconds=1746100800)),
        pb.LinkTask(name="ConsumerOffsetSync", state=pb.LinkTask.NOT_CONFIGURED),
    ])
    expected = [
        {"name": "mirrorTopics/orders", "state": "ERROR", "last_error": "boom", "error_code": "", "message": "",
         "last_success_time": ""},
        {"name": "AclSync", "state": "IN_ERROR", "last_error": "no authorizer", "error_code": "MISCONFIGURATION_ERROR",
         "message": "", "last_success_time": "2025-05-01T12:00:00.250Z"},
        {"name": "TopicConfigSync", "state": "ACTIVE", "last_error": "", "error_code": "",
         "message": "2 mirror topic(s) in sync", "last_success_time": "2025-05-01T12:00:00Z"},
        {"name": "ConsumerOffsetSync", "state": "NOT_CONFIGURED", "last_error": "", "error_code": "", "message": "",
         "last_success_time": ""},
    ]
    assert mapping.link_state(answer, _planned_link())["tasks"] == expected
    assert mapping.link_data(answer)["tasks"] == expected
    assert all(task.keys() == TASK.attributes.keys() for task in expected)


def test_a_secret_the_service_no_longer_has_is_dropped_so_the_plan_sends_it_again() -> None:
    answer = _answer()
    answer.source.sasl_password_set = False
    assert mapping.link_state(answer, _planned_link())["source"]["sasl_password"] is None


def test_an_imported_link_has_no_secrets() -> None:
    state = mapping.link_state(_answer(), None)
    assert state["source"]["sasl_password"] is None and state["name"] == "east" and state["id"] == "east"


def test_an_empty_string_in_the_configuration_stays_as_written() -> None:
    prior = _planned_link(destination={**PLAIN, "sasl_username": ""})
    assert mapping.link_state(_answer(), prior)["destination"]["sasl_username"] == ""


def test_update_mask_names_only_changed_fields_and_sends_only_changed_secrets() -> None:
    prior = _planned_link()
    planned = _planned_link(
        source={**SASL, "sasl_username": "other"},
        config={"mirror.topic.prefix": "east.", "mirror.batch.max.records": "500"},
        paused=True,
    )
    message, paths = mapping.link_update(prior, planned)
    assert paths == ["source.sasl_username", "config.mirror.batch.max.records", "paused"]
    assert message.name == "links/east" and message.etag == '"3"'
    assert message.source.sasl_password == ""  # unchanged secret: not sent (kept by the service)
    assert message.source.sasl_username == "other" and message.paused is True


def test_a_changed_secret_is_sent_and_a_removed_one_clears_it() -> None:
    prior = _planned_link()
    message, paths = mapping.link_update(prior, _planned_link(source={**SASL, "sasl_password": "new"}))
    assert paths == ["source.sasl_password"] and message.source.sasl_password == "new"

    to_plain = {**PLAIN, "bootstrap_servers": SASL["bootstrap_servers"]}
    message, paths = mapping.link_update(prior, _planned_link(source=to_plain))
    assert paths == ["source.security_protocol", "source.sasl_mechanism", "source.sasl_username",
                     "source.sasl_password"]
    assert message.source.sasl_password == "" and message.source.security_protocol == "PLAINTEXT"


def test_a_removed_config_key_is_named_in_the_mask_and_absent_from_the_message() -> None:
    message, paths = mapping.link_update(_planned_link(), _planned_link(config={}))
    assert paths == ["config.mirror.topic.prefix"] and dict(message.config) == {}


def test_no_change_means_an_empty_mask() -> None:
    assert mapping.link_update(_planned_link(), _planned_link())[1] == []


def test_link_data_source_shows_whether_secrets_are_stored() -> None:
    data = mapping.link_data(_answer(mirror_topic_count=2))
    assert data["source"]["sasl_password_set"] is True and "sasl_password" not in data["source"]
    assert data["mirror_topic_count"] == 2 and data["config"] == {"mirror.topic.prefix": "east."}


# --------------------------------------------------------------------------- mirror topics

def _mirror(state: int, reason: str = "", lag: int = 0) -> pb.MirrorTopic:
    return pb.MirrorTopic(
        name="links/east/mirrorTopics/east.orders",
        source_topic="orders",
        state=state,
        reason=reason,
        max_lag=lag,
        offset_fidelity=pb.EXACT,
        partitions=[pb.PartitionStatus(partition=0, source_end_offset=10 + lag, mirror_end_offset=10,
                                       mirrored_source_offset=10, lag=lag, offset_fidelity=pb.EXACT)],
    )


def test_mirror_state_maps_observed_state_and_keeps_terraform_only_settings() -> None:
    prior = {"delete_destination_topic_on_destroy": True, "state": "ACTIVE"}
    state = mapping.mirror_state(_mirror(pb.MirrorTopic.SOURCE_UNAVAILABLE, "unreachable", lag=5), prior)
    assert state == {
        "id": "east/east.orders", "link": "east", "source_topic": "orders", "name": "east.orders",
        "state": "ACTIVE", "delete_destination_topic_on_destroy": True,
        "observed_state": "SOURCE_UNAVAILABLE", "reason": "unreachable", "max_lag": 5, "offset_fidelity": "EXACT",
        "partitions": [{"partition": 0, "source_end_offset": 15, "mirror_end_offset": 10,
                        "mirrored_source_offset": 10, "lag": 5, "offset_fidelity": "EXACT"}],
        "restore": None, "restore_state": "", "set_aside": [],
    }


def test_after_an_apply_state_is_the_declared_one() -> None:
    state = mapping.mirror_state(_mirror(pb.MirrorTopic.PENDING), {}, declared="PAUSED")
    assert state["state"] == "PAUSED" and state["observed_state"] == "PENDING"
    assert state["delete_destination_topic_on_destroy"] is False


def test_unreported_fidelity_is_empty() -> None:
    assert mapping.fidelity_name(pb.OFFSET_FIDELITY_UNSPECIFIED) == ""
    assert mapping.fidelity_name(pb.TRANSLATED) == "TRANSLATED"


def test_mirror_data_source() -> None:
    data = mapping.mirror_data(_mirror(pb.MirrorTopic.FAILED, "written outside the link"))
    assert data["state"] == "FAILED" and data["observed_state"] == "FAILED" and data["name"] == "east.orders"


# --------------------------------------------------------------------------- schema types


def test_object_type_wire_format() -> None:
    obj = Object({"name": String(), "lag": Number()})
    assert json.loads(List(obj).tf_type()) == ["list", ["object", {"name": "string", "lag": "number"}]]
    assert obj.encode({"name": "a"}) == {"name": "a", "lag": None}
    assert obj.encode(Unknown) is Unknown


# --------------------------------------------------------------------------- settings


def test_settings_fall_back_to_the_clis_environment() -> None:
    env = {"CLUSTERLINK_ENDPOINT": "svc:1", "CLUSTERLINK_TOKEN": "t", "CLUSTERLINK_TLS_CA_FILE": "/ca.pem"}
    settings = Settings.resolve({"endpoint": None, "token": None}, env)
    assert (settings.endpoint, settings.token, settings.tls_ca_file) == ("svc:1", "t", "/ca.pem")
    assert Settings.resolve({"endpoint": "other:2"}, env).endpoint == "other:2"
    assert Settings.resolve({}, {}).endpoint == "127.0.0.1:50051"


def test_a_client_certificate_needs_its_key_and_a_ca() -> None:
    from clusterlink_terraform.client import ConfigError

    with pytest.raises(ConfigError, match="go together"):
        Settings(tls_cert_file="/c.pem").security()
    with pytest.raises(ConfigError, match="need tls_ca_file"):
        Settings(tls_cert_file="/c.pem", tls_key_file="/k.pem").security()
    with pytest.raises(ConfigError, match="cannot read tls_ca_file /nonexistent"):
        Settings(tls_ca_file="/nonexistent/ca.pem").security()


# --------------------------------------------------------------------------- promotion wait


class _ScriptedClient(Client):
    """Answers Promote with PROMOTING and GetMirrorTopic from a script (the last answer repeats)."""

    def __init__(self, script: list[pb.MirrorTopic]) -> None:
        self.settings = Settings()
        self.endpoint = "scripted"
        self.script = script
        self.calls: list[str] = []
        self.link_paused = False

    def call(self, method: str, request: Any, what: str = "", timeout: float = 30.0) -> Any:
        self.calls.append(method)
        if method == "PromoteMirrorTopic":
            return _mirror(pb.MirrorTopic.PROMOTING)
        if method == "CreateMirrorTopic":
            return _mirror(pb.MirrorTopic.PENDING)
        if method == "ListMirrorTopics":
            return pb.ListMirrorTopicsResponse()
        if method == "GetLink":
            return pb.Link(name="links/east", paused=self.link_paused)
        if method == "GetMirrorTopic":
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]
        raise ServiceError(f"{method} not scripted", code=grpc.StatusCode.UNIMPLEMENTED)


class _Provider:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.config_problem = None


def _resource(script: list[pb.MirrorTopic]) -> tuple[MirrorTopicResource, _ScriptedClient]:
    client = _ScriptedClient(script)
    return MirrorTopicResource(_Provider(client)), client  # type: ignore[arg-type]


def test_promotion_returns_when_promoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    resource, client = _resource([_mirror(pb.MirrorTopic.PROMOTING, "waiting for lag 0", 3),
                                  _mirror(pb.MirrorTopic.PROMOTED)])
    assert resource._transition("east", "east.orders", "PROMOTED").state == pb.MirrorTopic.PROMOTED
    assert client.calls == ["PromoteMirrorTopic", "GetMirrorTopic", "GetMirrorTopic"]


def test_a_promotion_that_ends_failed_reports_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    resource, _ = _resource([_mirror(pb.MirrorTopic.FAILED, "destination topic was written outside the link")])
    with pytest.raises(ServiceError) as err:
        resource._transition("east", "east.orders", "PROMOTED")
    assert "did not finish: it is FAILED" in err.value.summary
    assert "written outside the link" in err.value.detail and "FAILED_OVER" in err.value.detail


def test_a_promotion_that_does_not_finish_in_time_says_what_it_waits_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    monkeypatch.setattr(base, "PROMOTE_TIMEOUT", 0.05)
    resource, _ = _resource([_mirror(pb.MirrorTopic.PROMOTING, "waiting for lag 0 before promoting: 7 records", 7)])
    with pytest.raises(ServiceError) as err:
        resource._transition("east", "east.orders", "PROMOTED")
    assert "did not finish within 0.05 s" in err.value.summary
    assert "7 records" in err.value.detail


def _create_context() -> Any:
    from tf.iface import CreateContext
    from tf.utils import Diagnostics

    return CreateContext(Diagnostics(), "clusterlink_mirror_topic")


PLANNED_MIRROR = {"id": Unknown, "link": "east", "source_topic": "orders", "name": Unknown, "state": "ACTIVE",
                  "delete_destination_topic_on_destroy": False, "restore": None, **{k: Unknown for k in (
                      "observed_state", "reason", "max_lag", "offset_fidelity", "partitions", "restore_state",
                      "set_aside")}}


def test_create_returns_once_the_mirror_left_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    resource, client = _resource([_mirror(pb.MirrorTopic.PENDING), _mirror(pb.MirrorTopic.ACTIVE)])
    ctx = _create_context()
    state = resource.create(ctx, dict(PLANNED_MIRROR))
    assert not ctx.diagnostics.diagnostics
    assert state["observed_state"] == "ACTIVE" and state["name"] == "east.orders" and state["state"] == "ACTIVE"
    assert client.calls == ["ListMirrorTopics", "CreateMirrorTopic", "GetLink", "GetMirrorTopic", "GetMirrorTopic"]


def test_under_a_paused_link_create_does_not_wait() -> None:
    resource, client = _resource([_mirror(pb.MirrorTopic.PENDING)])
    client.link_paused = True
    ctx = _create_context()
    state = resource.create(ctx, dict(PLANNED_MIRROR))
    [warning] = ctx.diagnostics.diagnostics
    assert warning.severity == "warning" and "is paused" in warning.detail
    assert state["observed_state"] == "PENDING" and "GetMirrorTopic" not in client.calls


def test_a_mirror_that_fails_at_once_is_a_create_error_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    reason = "source topic 'orders' does not exist on the source cluster"
    resource, _ = _resource([_mirror(pb.MirrorTopic.FAILED, reason)])
    ctx = _create_context()
    state = resource.create(ctx, dict(PLANNED_MIRROR))
    [error] = ctx.diagnostics.diagnostics
    assert error.severity == "error" and "created but FAILED" in error.summary and reason in error.detail
    assert state["observed_state"] == "FAILED" and state["state"] == "FAILED"  # recorded (tainted), not lost


def test_a_mirror_waiting_for_its_source_is_created_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    resource, _ = _resource([_mirror(pb.MirrorTopic.SOURCE_UNAVAILABLE, "cannot reach the source cluster")])
    ctx = _create_context()
    state = resource.create(ctx, dict(PLANNED_MIRROR))
    [warning] = ctx.diagnostics.diagnostics
    assert warning.severity == "warning" and "cannot reach the source cluster" in warning.detail
    assert state["state"] == "ACTIVE" and state["observed_state"] == "SOURCE_UNAVAILABLE"


def test_a_pending_mirror_waiting_for_its_source_topic_does_not_block_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    reason = "waiting: source topic 'orders' does not exist on the source cluster; create it there"
    resource, client = _resource([_mirror(pb.MirrorTopic.PENDING, reason)])
    ctx = _create_context()
    state = resource.create(ctx, dict(PLANNED_MIRROR))
    [warning] = ctx.diagnostics.diagnostics
    assert warning.severity == "warning" and "does not exist" in warning.detail
    assert state["state"] == "ACTIVE" and state["observed_state"] == "PENDING"
    assert client.calls.count("GetMirrorTopic") == 1


# --------------------------------------------------------------------------- schema descriptions and docs

DOCS = Path(__file__).resolve().parents[2] / "terraform-provider" / "docs"


def _schemas() -> list[tuple[str, Any, Path]]:
    from tf.utils import Diagnostics

    from clusterlink_terraform.provider import ClusterLinkProvider

    provider = ClusterLinkProvider()
    out = [("provider", provider.get_provider_schema(Diagnostics()), DOCS / "index.md")]
    out += [(f"clusterlink_{r.get_name()}", r.get_schema(), DOCS / "resources" / f"{r.get_name()}.md")
            for r in provider.get_resources()]
    out += [(f"data.clusterlink_{d.get_name()}", d.get_schema(), DOCS / "data-sources" / f"{d.get_name()}.md")
            for d in provider.get_data_sources()]
    return out


@pytest.mark.parametrize(("what", "schema", "doc"), _schemas(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_attribute_has_a_description_and_is_documented(what: str, schema: Any, doc: Path) -> None:
    text = doc.read_text()
    attributes = [(a.name, a) for a in schema.attributes]
    blocks = [(b.type_name, b) for b in schema.block_types]
    while blocks:  # nested blocks at any depth (e.g. acl_sync.acl_filter)
        path, block = blocks.pop()
        assert block.block.description, f"{what}.{path} has no description"
        assert f"`{block.type_name}`" in text, f"{path} is not in {doc}"
        attributes += [(f"{path}.{a.name}", a) for a in block.block.attributes]
        blocks += [(f"{path}.{b.type_name}", b) for b in block.block.block_types]
    for name, attribute in attributes:
        assert attribute.description, f"{what}.{name} has no description"
        assert f"`{attribute.name}`" in text, f"{what}.{name} is not in {doc.name}"
        for field in getattr(attribute.type, "attributes", None) or getattr(
                getattr(attribute.type, "element_type", None), "attributes", None) or {}:
            assert f"`{field}`" in text, f"{what}.{name}.{field} is not in {doc.name}"


# --------------------------------------------------------------------------- link task blocks

SYNC_BLOCK = {"enabled": True, "interval_ms": 5000, "group_prefix": "",
              "group_filter": [{"name": "pay-", "pattern_type": "PREFIXED", "filter_type": "INCLUDE"},
                               {"name": "pay-test", "pattern_type": "LITERAL", "filter_type": "EXCLUDE"}]}
NEW_TOPICS_BLOCK = {"enabled": True, "interval_ms": 60000,
                    "topic_filter": [{"name": "orders.", "pattern_type": "PREFIXED", "filter_type": "INCLUDE"},
                                     {"name": "orders.tmp-*", "pattern_type": "GLOB", "filter_type": "EXCLUDE"}]}
CONFIG_SYNC_BLOCK = {"enabled": False, "interval_ms": 10000,
                     "include": ["min.insync.replicas", "unclean.leader.election.enable"], "exclude": ["segment.ms"]}
ANY_ACL = {"resource_type": None, "name": None, "pattern_type": None,
           "principal": None, "host": None, "operation": None, "permission_type": None}
ACL_BLOCK = {"enabled": True, "interval_ms": 30000, "acl_filter": [
    {"resource_type": "TOPIC", "name": "orders.", "pattern_type": "PREFIXED",
     "principal": "User:alice", "host": "*", "operation": "READ", "permission_type": "ALLOW"},
    {**ANY_ACL, "principal": "User:bob"},
]}

# Each block and the link config keys it stands for.
BLOCK_KEYS = {
    "consumer_offset_sync": (SYNC_BLOCK, {
        "consumer.offset.sync.enable": "true",
        "consumer.offset.group.filters": '{"groupFilters":[{"name":"pay-","patternType":"PREFIXED",'
                                         '"filterType":"INCLUDE"},{"name":"pay-test","patternType":"LITERAL",'
                                         '"filterType":"EXCLUDE"}]}',
        "consumer.offset.sync.ms": "5000",
    }),
    "auto_create_mirror_topics": (NEW_TOPICS_BLOCK, {
        "auto.create.mirror.topics.enable": "true",
        "auto.create.mirror.topics.filters": '{"topicFilters":[{"name":"orders.","patternType":"PREFIXED",'
                                             '"filterType":"INCLUDE"},{"name":"orders.tmp-*","patternType":"GLOB",'
                                             '"filterType":"EXCLUDE"}]}',
        "auto.create.mirror.topics.ms": "60000",
    }),
    "topic_config_sync": (CONFIG_SYNC_BLOCK, {
        "topic.config.sync.enable": "false",
        "topic.config.sync.ms": "10000",
        "topic.config.sync.include": "min.insync.replicas,unclean.leader.election.enable",
        "topic.config.sync.exclude": "segment.ms",
    }),
    "acl_sync": (ACL_BLOCK, {
        "acl.sync.enable": "true",
        "acl.sync.ms": "30000",
        "acl.filters": '{"aclFilters":[{"resourceFilter":{"resourceType":"TOPIC","name":"orders.",'
                       '"patternType":"PREFIXED"},"accessFilter":{"principal":"User:alice","host":"*",'
                       '"operation":"READ","permissionType":"ALLOW"}},'
                       '{"resourceFilter":{},"accessFilter":{"principal":"User:bob"}}]}',
    }),
}
NO_BLOCKS = {name: None for name in mapping.TASK_BLOCK_NAMES}


def test_there_is_one_block_per_link_task() -> None:
    assert set(BLOCK_KEYS) == set(mapping.TASK_BLOCK_NAMES)


@pytest.mark.parametrize("name", list(BLOCK_KEYS))
def test_a_block_becomes_its_config_keys_and_comes_back(name: str) -> None:
    block, keys = BLOCK_KEYS[name]
    spec = mapping.task_block(name)
    assert spec.to_config(block) == keys
    assert spec.of_config(keys) == block
    assert spec.of_config({"mirror.topic.prefix": "a."}) is None
    # The service takes the keys as they are (its own validation, not the provider's).
    assert link_config.validate(keys) == []
    # Through a whole link: the request carries the keys, the answer reads back as the block.
    link = mapping.link_request(_planned_link(**{name: block}))
    assert dict(link.config) == {"mirror.topic.prefix": "east.", **keys}
    state = mapping.link_state(pb.Link(name="links/east", config=link.config), _planned_link(**{name: block}))
    assert state["config"] == {"mirror.topic.prefix": "east."} and state[name] == block
    assert {n: state[n] for n in mapping.TASK_BLOCK_NAMES if n != name} == {
        n: None for n in mapping.TASK_BLOCK_NAMES if n != name}


def test_every_block_together_and_an_import_reads_them_all() -> None:
    keys = {k: v for _block, config in BLOCK_KEYS.values() for k, v in config.items()}
    plain, blocks = mapping.split_config({"mirror.topic.prefix": "a.", **keys}, None)
    assert plain == {"mirror.topic.prefix": "a."}
    assert blocks == {name: block for name, (block, _keys) in BLOCK_KEYS.items()}
    assert mapping.request_config({"config": plain, **blocks}) == {"mirror.topic.prefix": "a.", **keys}


def test_the_acl_filter_json_leaves_out_what_matches_any_value() -> None:
    assert mapping.task_block("acl_sync").to_config({"enabled": True, "interval_ms": 30000, "acl_filter": [
        {**ANY_ACL, "resource_type": "TOPIC", "name": "orders"}, dict(ANY_ACL)]})["acl.filters"] == (
        '{"aclFilters":[{"resourceFilter":{"resourceType":"TOPIC","name":"orders"},"accessFilter":{}},'
        '{"resourceFilter":{},"accessFilter":{}}]}')
    # What the service reads from it: the fields left out are ANY / any name.
    [alice, bob] = filters.parse_acl_filters(BLOCK_KEYS["acl_sync"][1]["acl.filters"])
    assert alice == filters.AclFilter("TOPIC", "orders.", "PREFIXED", "User:alice", "*", "READ", "ALLOW")
    assert bob == filters.AclFilter(principal="User:bob")


def test_defaults_are_the_services() -> None:
    assert {b.name: b.default_interval_ms for b in mapping.TASK_BLOCKS} == {
        "consumer_offset_sync": 30000, "auto_create_mirror_topics": 60000,
        "topic_config_sync": 30000, "acl_sync": 30000}
    for spec in mapping.TASK_BLOCKS:
        assert spec.default_interval_ms == int(link_config.KNOBS[spec.interval_key].default)
        # No interval in the block (not planned yet): the default is written.
        assert spec.to_config({"enabled": True})[spec.interval_key] == str(spec.default_interval_ms)
    # A key that is not set reads as the service's default: the topic config sync runs by default.
    assert mapping.task_block("topic_config_sync").of_config({"topic.config.sync.ms": "5000"}) == {
        "enabled": True, "interval_ms": 5000, "include": None, "exclude": None}
    assert mapping.task_block("acl_sync").of_config({"acl.sync.enable": "true"}) == {
        "enabled": True, "interval_ms": 30000, "acl_filter": []}
    assert mapping.task_block("auto_create_mirror_topics").of_config({"auto.create.mirror.topics.enable": "false"}) == {
        "enabled": False, "interval_ms": 60000, "topic_filter": []}


def test_include_and_exclude_are_comma_separated_lists() -> None:
    spec = mapping.task_block("topic_config_sync")
    block = {"enabled": True, "interval_ms": 30000, "include": ["a.b"], "exclude": []}
    assert spec.to_config(block) == {"topic.config.sync.enable": "true", "topic.config.sync.ms": "30000",
                                     "topic.config.sync.include": "a.b"}  # an empty list sets no key
    # Read with the service's parser (spaces around commas are allowed there).
    assert spec.of_config({"topic.config.sync.include": "a.b, c.d"})["include"] == ["a.b", "c.d"]
    # A read that means what the prior value says keeps its form (exclude = [] stays []) ...
    stored = spec.to_config(block)
    assert mapping.split_config(stored, {"config": {}, "topic_config_sync": block})[1]["topic_config_sync"] == block
    # ... and one that means something else shows what the service holds.
    drifted = {**stored, "topic.config.sync.include": "a.b,min.insync.replicas"}
    read = mapping.split_config(drifted, {"config": {}, "topic_config_sync": block})[1]["topic_config_sync"]
    assert read == {**block, "include": ["a.b", "min.insync.replicas"], "exclude": None}


def test_hand_written_filters_the_block_can_show_read_as_the_block() -> None:
    plain, blocks = mapping.split_config({
        "auto.create.mirror.topics.enable": "true",
        "auto.create.mirror.topics.filters": '{ "topicFilters": [ {"name": "orders."}, {"filterType": "exclude"} ] }',
        "acl.filters": '{"aclFilters":[{"resourceFilter":{"resourceType":"topic","name":null}}]}',
    }, None)
    assert plain == {}
    assert blocks["auto_create_mirror_topics"]["topic_filter"] == [
        {"name": "orders.", "pattern_type": "LITERAL", "filter_type": "INCLUDE"},
        {"name": "*", "pattern_type": "LITERAL", "filter_type": "exclude"}]  # as written: the service takes any case
    assert blocks["acl_sync"] == {"enabled": False, "interval_ms": 30000,
                                  "acl_filter": [{**ANY_ACL, "resource_type": "topic"}]}


@pytest.mark.parametrize(("name", "key", "value"), [
    ("acl_sync", "acl.filters", '{"aclFilters":[{"resourceFilter":{"resourceType":"TOPIC","extra":"x"}}]}'),
    ("acl_sync", "acl.filters", '{"aclFilters":[{"resourceFilter":{"name":5}}]}'),
    ("acl_sync", "acl.filters", '{"aclFilters":[{"resourceFilter":"TOPIC"}]}'),
    ("acl_sync", "acl.filters", '{"aclFilters":[{"other":{}}]}'),
    ("acl_sync", "acl.filters", "not json"),
    ("auto_create_mirror_topics", "auto.create.mirror.topics.filters", '{"topicFilters":[{"name":"a","x":"y"}]}'),
    ("auto_create_mirror_topics", "auto.create.mirror.topics.filters", '{"groupFilters":[{"name":"a"}]}'),
    ("consumer_offset_sync", "consumer.offset.group.filters", '{"groupFilters":"everything"}'),
    ("consumer_offset_sync", "consumer.offset.group.filters", '{"groupFilters":["a"]}'),
    ("topic_config_sync", "topic.config.sync.enable", "yes"),
    ("topic_config_sync", "topic.config.sync.ms", "1e3"),
])
def test_values_a_block_cannot_show_keep_its_keys_in_config(name: str, key: str, value: str) -> None:
    spec = mapping.task_block(name)
    other = next(b for b in mapping.TASK_BLOCKS if b.name != name)
    other_block, other_keys = BLOCK_KEYS[other.name]
    stored = {spec.enable_key: "true", key: value, **other_keys}
    plain, blocks = mapping.split_config(stored, None)
    assert plain == {spec.enable_key: "true", key: value}  # this block's keys, as stored
    assert blocks == {**NO_BLOCKS, other.name: other_block}  # the other block is not affected
    # Planned back as it is: the request holds the same keys.
    assert mapping.request_config({"config": plain, **blocks}) == stored


def test_keys_stay_in_the_config_map_when_the_configuration_puts_them_there() -> None:
    stored = {"mirror.topic.prefix": "a.", "consumer.offset.sync.enable": "false",
              "topic.config.sync.include": "min.insync.replicas", **BLOCK_KEYS["acl_sync"][1]}
    prior = {"config": {"consumer.offset.sync.enable": "false", "topic.config.sync.include": "x"}}
    plain, blocks = mapping.split_config(stored, prior)
    # Per block: the blocks the configuration writes as plain keys stay plain; the others are blocks.
    assert plain == {"mirror.topic.prefix": "a.", "consumer.offset.sync.enable": "false",
                     "topic.config.sync.include": "min.insync.replicas"}
    assert blocks == {**NO_BLOCKS, "acl_sync": ACL_BLOCK}
    plain, blocks = mapping.split_config(stored, None)  # import: the typed blocks
    assert plain == {"mirror.topic.prefix": "a."}
    assert blocks["consumer_offset_sync"]["enabled"] is False and blocks["topic_config_sync"]["enabled"] is True


def test_a_key_set_in_config_and_by_its_block_is_found() -> None:
    value = {"config": {"acl.sync.ms": "1000", "mirror.topic.prefix": "a.", "topic.config.sync.ms": "1000"},
             "acl_sync": ACL_BLOCK, "topic_config_sync": None}
    assert mapping.keys_set_twice(value) == [("acl_sync", "acl.sync.ms")]
    assert mapping.keys_set_twice({"config": Unknown, "acl_sync": ACL_BLOCK}) == []


def test_a_filter_change_is_one_config_key_in_the_update_mask() -> None:
    prior = {"name": "east", "etag": "e1", "config": {}, **NO_BLOCKS, "consumer_offset_sync": SYNC_BLOCK,
             "auto_create_mirror_topics": NEW_TOPICS_BLOCK, "acl_sync": ACL_BLOCK}
    changed = {**SYNC_BLOCK, "group_filter": [SYNC_BLOCK["group_filter"][0],
                                              {**SYNC_BLOCK["group_filter"][1], "name": "pay-staging"}]}
    _message, paths = mapping.link_update(prior, {**prior, "consumer_offset_sync": changed})
    assert paths == ["config.consumer.offset.group.filters"]
    changed = {**NEW_TOPICS_BLOCK, "topic_filter": [NEW_TOPICS_BLOCK["topic_filter"][0],
                                                    {**NEW_TOPICS_BLOCK["topic_filter"][1], "name": "orders.x-*"}]}
    message, paths = mapping.link_update(prior, {**prior, "auto_create_mirror_topics": changed})
    assert paths == ["config.auto.create.mirror.topics.filters"]
    assert "orders.x-*" in message.config["auto.create.mirror.topics.filters"]
    changed = {**ACL_BLOCK, "acl_filter": [ACL_BLOCK["acl_filter"][0], {**ANY_ACL, "host": "10.0.0.1"}]}
    assert mapping.link_update(prior, {**prior, "acl_sync": changed})[1] == ["config.acl.filters"]
    _message, paths = mapping.link_update(prior, {**prior, "consumer_offset_sync": None})
    assert paths == ["config.consumer.offset.group.filters", "config.consumer.offset.sync.enable",
                     "config.consumer.offset.sync.ms"]
    message, paths = mapping.link_update(prior, {**prior, "topic_config_sync": CONFIG_SYNC_BLOCK})
    assert paths == [f"config.{key}" for key in sorted(BLOCK_KEYS["topic_config_sync"][1])]


# --------------------------------------------------------------------------- link plan (scripted service)


class _LinkClient(Client):
    """Answers the Link RPCs with the link it is asked for (validate_only included)."""

    def __init__(self, link: pb.Link | None = None) -> None:
        self.settings = Settings()
        self.endpoint = "scripted"
        self.link = link
        self.requests: list[tuple[str, Any]] = []

    def call(self, method: str, request: Any, what: str = "", timeout: float = 30.0) -> Any:
        self.requests.append((method, request))
        if method in ("CreateLink", "UpdateLink"):
            return pb.Link(name=request.link.name or f"links/{request.link_id}", config=request.link.config)
        if method == "GetLink" and self.link is not None:
            return self.link
        raise ServiceError(f"{method} not scripted", code=grpc.StatusCode.UNIMPLEMENTED)


def _link_config(**blocks: Any) -> dict[str, Any]:
    """A clusterlink_link configuration as Terraform passes it (null where not set)."""
    return {"id": None, "name": "east", "source": dict(SASL), "destination": dict(PLAIN), "config": None,
            "paused": None, "etag": None, "state": None, "tasks": None, **NO_BLOCKS, **blocks}


def _plan(config: dict[str, Any], current: dict[str, Any] | None = None) -> tuple[Any, dict, _LinkClient]:
    from tf.utils import Diagnostics

    client = _LinkClient()
    ctx = base.ConfigPlanContext(Diagnostics(), "clusterlink_link", set(), config=config, prior=current)
    planned = LinkResource(_Provider(client)).plan(ctx, copy.deepcopy(current), copy.deepcopy(config))
    return ctx, planned, client


def test_plan_fills_the_blocks_defaults_and_asks_the_service() -> None:
    ctx, planned, client = _plan(_link_config(
        auto_create_mirror_topics={"enabled": True, "interval_ms": None,
                                   "topic_filter": [{"name": "orders.", "pattern_type": None, "filter_type": None}]},
        topic_config_sync={"enabled": True, "interval_ms": None, "include": None, "exclude": None},
        acl_sync={"enabled": False, "interval_ms": 5000, "acl_filter": [dict(ANY_ACL)]},
    ))
    assert not ctx.diagnostics.diagnostics
    assert planned["auto_create_mirror_topics"] == {
        "enabled": True, "interval_ms": 60000,
        "topic_filter": [{"name": "orders.", "pattern_type": "LITERAL", "filter_type": "INCLUDE"}]}
    assert planned["topic_config_sync"] == {"enabled": True, "interval_ms": 30000, "include": None, "exclude": None}
    assert planned["acl_sync"] == {"enabled": False, "interval_ms": 5000, "acl_filter": [ANY_ACL]}  # no defaults
    assert planned["consumer_offset_sync"] is None
    [(method, request)] = client.requests
    assert method == "CreateLink" and request.validate_only
    assert dict(request.link.config) == {
        "auto.create.mirror.topics.enable": "true", "auto.create.mirror.topics.ms": "60000",
        "auto.create.mirror.topics.filters":
            '{"topicFilters":[{"name":"orders.","patternType":"LITERAL","filterType":"INCLUDE"}]}',
        "topic.config.sync.enable": "true", "topic.config.sync.ms": "30000",
        "acl.sync.enable": "false", "acl.sync.ms": "5000",
        "acl.filters": '{"aclFilters":[{"resourceFilter":{},"accessFilter":{}}]}',
    }


def test_a_key_set_in_config_and_by_its_block_is_a_configuration_error() -> None:
    from tf.utils import Diagnostics

    diags = Diagnostics()
    LinkResource(_Provider(_LinkClient())).validate(diags, "clusterlink_link", _link_config(
        config={"acl.filters": "{}", "mirror.topic.prefix": "a."}, acl_sync=ACL_BLOCK))
    [error] = diags.diagnostics
    assert error.severity == "error"
    assert error.summary == "config key 'acl.filters' is set twice: in `config` and by the `acl_sync` block"
    assert "Remove 'acl.filters' from `config`" in error.detail and error.path == ["config", ("acl.filters",)]
    # The same key without the block is a plain key.
    diags = Diagnostics()
    LinkResource(_Provider(_LinkClient())).validate(diags, "clusterlink_link", _link_config(
        config={"acl.sync.enable": "false"}))
    assert not diags.diagnostics
    ctx, planned, client = _plan(_link_config(config={"acl.sync.enable": "false"}))
    assert not ctx.diagnostics.diagnostics and planned["acl_sync"] is None
    assert dict(client.requests[0][1].link.config) == {"acl.sync.enable": "false"}


# --------------------------------------------------------------------------- state upgrade

# The link's attributes and blocks, per schema version. Terraform refuses a stored state that
# lacks one, so a change here needs a version bump (and LinkResource's upgrade handles it).
LINK_SCHEMA_SHAPE = {
    1: {"id", "name", "config", "paused", "etag", "state",
        "tasks{name,state,last_error,error_code,message,last_success_time}",
        "source{bootstrap_servers,security_protocol,sasl_mechanism,sasl_username,sasl_password,ssl_ca_pem,"
        "ssl_certificate_pem,ssl_key_pem}",
        "destination{bootstrap_servers,security_protocol,sasl_mechanism,sasl_username,sasl_password,ssl_ca_pem,"
        "ssl_certificate_pem,ssl_key_pem}",
        "consumer_offset_sync{enabled,interval_ms,group_prefix,group_filter{name,pattern_type,filter_type}}",
        "auto_create_mirror_topics{enabled,interval_ms,topic_filter{name,pattern_type,filter_type}}",
        "topic_config_sync{enabled,interval_ms,include,exclude}",
        "acl_sync{enabled,interval_ms,acl_filter{resource_type,name,pattern_type,principal,host,operation,"
        "permission_type}}"},
}


def _shape(block: Any) -> set[str]:
    def attribute(a: Any) -> str:
        fields = getattr(getattr(a.type, "element_type", None), "attributes", None)
        return f"{a.name}{{{','.join(fields)}}}" if fields else a.name

    def nested(b: Any) -> str:
        inner = [attribute(a) for a in b.block.attributes] + [nested(n) for n in b.block.block_types]
        return f"{b.type_name}{{{','.join(inner)}}}"

    return {attribute(a) for a in block.attributes} | {nested(b) for b in block.block_types}


def test_a_link_schema_change_bumps_its_version() -> None:
    schema = LinkResource.get_schema()
    assert schema.version in LINK_SCHEMA_SHAPE, "a new schema version: add its shape here"
    assert _shape(schema) == LINK_SCHEMA_SHAPE[schema.version], (
        "the link's schema changed: bump its version (Terraform refuses old state that lacks an attribute)")


# A link's state as provider versions with schema version 0 wrote it: with and without the
# consumer_offset_sync block (added without a version bump), tasks without the newer fields.
OLD_LINK_STATE = {
    "id": "east", "name": "east", "config": {"mirror.topic.prefix": "east."}, "paused": False,
    "etag": '"3"', "state": "ACTIVE",
    "tasks": [{"name": "mirrorTopics/orders", "state": "RUNNING", "last_error": ""}],
    "source": {**SASL, "sasl_password": "pw"}, "destination": dict(PLAIN),
}


@pytest.mark.parametrize("old", [
    OLD_LINK_STATE,
    {**OLD_LINK_STATE, "consumer_offset_sync": SYNC_BLOCK},
], ids=["before-consumer_offset_sync", "with-consumer_offset_sync"])
def test_state_of_schema_version_0_is_upgraded(old: dict[str, Any]) -> None:
    from tf.gen import tfplugin_pb2 as tfpb
    from tf.provider import _decode_state
    from tf.utils import Diagnostics, read_dynamic_value

    from clusterlink_terraform.provider import ClusterLinkProvider
    from clusterlink_terraform.server import ClusterLinkServicer

    servicer = ClusterLinkServicer(ClusterLinkProvider())
    response = servicer.UpgradeResourceState(tfpb.UpgradeResourceState.Request(
        type_name="clusterlink_link", version=0, raw_state=tfpb.RawState(json=json.dumps(old).encode())), None)
    assert not response.diagnostics
    upgraded = read_dynamic_value(response.upgraded_state)
    # Every attribute and block of the current schema (Terraform requires them all), old values kept.
    schema = LinkResource.get_schema()
    assert set(upgraded) == {a.name for a in schema.attributes} | {b.type_name for b in schema.block_types}
    assert {k: upgraded[k] for k in old if k != "tasks"} == {k: v for k, v in old.items() if k != "tasks"}
    assert upgraded["tasks"] == [{"name": "mirrorTopics/orders", "state": "RUNNING", "last_error": "",
                                  "error_code": None, "message": None, "last_success_time": None}]
    assert {b: upgraded[b] for b in ("auto_create_mirror_topics", "topic_config_sync", "acl_sync")} == {
        "auto_create_mirror_topics": None, "topic_config_sync": None, "acl_sync": None}
    diags = Diagnostics()
    _, current = _decode_state(diags, {a.name: a for a in schema.attributes},
                               {b.type_name: b for b in schema.block_types}, upgraded)
    assert not diags.has_errors()
    # The next refresh reads the blocks from the service's config.
    answer = _answer()
    answer.config.update(BLOCK_KEYS["topic_config_sync"][1])
    client = _LinkClient(answer)
    read = LinkResource(_Provider(client)).read(_create_context(), current)
    assert read["topic_config_sync"] == CONFIG_SYNC_BLOCK and read["source"]["sasl_password"] == "pw"
    assert read["tasks"][0]["error_code"] == "" and read["config"] == {"mirror.topic.prefix": "east."}


def test_a_state_of_the_current_version_is_taken_as_it_is() -> None:
    from tf.gen import tfplugin_pb2 as tfpb
    from tf.utils import read_dynamic_value

    from clusterlink_terraform.provider import ClusterLinkProvider
    from clusterlink_terraform.server import ClusterLinkServicer

    current = {**OLD_LINK_STATE, **NO_BLOCKS}
    response = ClusterLinkServicer(ClusterLinkProvider()).UpgradeResourceState(tfpb.UpgradeResourceState.Request(
        type_name="clusterlink_link", version=1, raw_state=tfpb.RawState(json=json.dumps(current).encode())), None)
    assert read_dynamic_value(response.upgraded_state) == current
