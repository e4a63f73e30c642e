"""The Terraform provider's mapping between Terraform values and clusterlink.v1 messages
(no Terraform, no service), and its promotion wait against a scripted client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from tf.types import List, Number, String, Unknown

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import base, mapping
from clusterlink_terraform.client import Client, ServiceError, Settings
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
    assert state["tasks"] == [{"name": "mirrorTopics/orders", "state": "ERROR", "last_error": "boom"}]


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
                  "delete_destination_topic_on_destroy": False, **{k: Unknown for k in (
                      "observed_state", "reason", "max_lag", "offset_fidelity", "partitions")}}


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
    for block in schema.block_types:
        assert block.block.description, f"{what}.{block.type_name} has no description"
        assert f"`{block.type_name}`" in text, f"{block.type_name} is not in {doc}"
        attributes += [(f"{block.type_name}.{a.name}", a) for a in block.block.attributes]
    for name, attribute in attributes:
        assert attribute.description, f"{what}.{name} has no description"
        assert f"`{attribute.name}`" in text, f"{what}.{name} is not in {doc.name}"
        for field in getattr(attribute.type, "attributes", None) or getattr(
                getattr(attribute.type, "element_type", None), "attributes", None) or {}:
            assert f"`{field}`" in text, f"{what}.{name}.{field} is not in {doc.name}"


# --------------------------------------------------------------------------- consumer_offset_sync block

SYNC_BLOCK = {"enabled": True, "interval_ms": 5000, "group_prefix": "",
              "group_filter": [{"name": "pay-", "pattern_type": "PREFIXED", "filter_type": "INCLUDE"},
                               {"name": "pay-test", "pattern_type": "LITERAL", "filter_type": "EXCLUDE"}]}


def test_the_sync_block_becomes_the_config_keys_and_comes_back():
    config = mapping.sync_block_config(SYNC_BLOCK)
    assert config == {
        "consumer.offset.sync.enable": "true",
        "consumer.offset.group.filters": '{"groupFilters":[{"name":"pay-","patternType":"PREFIXED",'
                                         '"filterType":"INCLUDE"},{"name":"pay-test","patternType":"LITERAL",'
                                         '"filterType":"EXCLUDE"}]}',
        "consumer.offset.sync.ms": "5000",
    }
    assert mapping.sync_block_of(config) == SYNC_BLOCK
    assert mapping.sync_block_of({"mirror.topic.prefix": "a."}) is None


def test_sync_keys_stay_in_the_config_map_when_the_configuration_puts_them_there():
    stored = {"mirror.topic.prefix": "a.", "consumer.offset.sync.enable": "false"}
    assert mapping.split_config(stored, {"config": {"consumer.offset.sync.enable": "false"}}) == (stored, None)
    plain, block = mapping.split_config(stored, None)  # import: the typed block
    assert plain == {"mirror.topic.prefix": "a."} and block is not None and block["enabled"] is False


def test_a_filter_change_is_one_config_key_in_the_update_mask():
    prior = {"name": "east", "etag": "e1", "config": {}, "consumer_offset_sync": SYNC_BLOCK}
    changed = {**SYNC_BLOCK, "group_filter": [SYNC_BLOCK["group_filter"][0],
                                              {**SYNC_BLOCK["group_filter"][1], "name": "pay-staging"}]}
    _message, paths = mapping.link_update(prior, {**prior, "consumer_offset_sync": changed})
    assert paths == ["config.consumer.offset.group.filters"]
    _message, paths = mapping.link_update(prior, {**prior, "consumer_offset_sync": None})
    assert paths == ["config.consumer.offset.group.filters", "config.consumer.offset.sync.enable",
                     "config.consumer.offset.sync.ms"]
