"""The `restore` block of `clusterlink_mirror_topic` (failback) without Terraform or a service:
its mapping, its plan (defaults, the dry run, replacement by meaning), the servicer passing
the replacement paths to Terraform, create waiting for a restore, and the state upgrade."""

from __future__ import annotations

import copy
import json
from typing import Any

import grpc
import pytest
from tf.gen import tfplugin_pb2 as tfpb
from tf.iface import CreateContext
from tf.provider import _decode_state, _encode_state
from tf.types import Unknown
from tf.utils import Diagnostics, read_dynamic_value

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import base, mapping
from clusterlink_terraform.base import ConfigPlanContext
from clusterlink_terraform.client import Client, ServiceError, Settings
from clusterlink_terraform.mirror_topic import MirrorTopicDataSource, MirrorTopicResource
from clusterlink_terraform.provider import ClusterLinkProvider
from clusterlink_terraform.server import ClusterLinkServicer

TOPIC = "orders"
SIDE = f"{TOPIC}.diverged"
# What the failback drill sets aside: A parted from B at 150 on both partitions, 50 records each.
DIVERGED = [pb.SetAside(partition=1, divergence_offset=150, end_offset=200, records=50, side_start_offset=0),
            pb.SetAside(partition=0, divergence_offset=150, end_offset=200, records=50, side_start_offset=0)]
SET_ASIDE = [
    {"partition": 0, "divergence_offset": 150, "end_offset": 200, "records": 50, "side_start_offset": 0},
    {"partition": 1, "divergence_offset": 150, "end_offset": 200, "records": 50, "side_start_offset": 0},
]
STATUS = ("observed_state", "reason", "max_lag", "offset_fidelity", "partitions", "restore_state", "set_aside")


def _mirror(state: int = pb.MirrorTopic.ACTIVE, reason: str = "", restore: pb.Restore | None = None,
            ) -> pb.MirrorTopic:
    return pb.MirrorTopic(name=f"links/back/mirrorTopics/{TOPIC}", source_topic=TOPIC, state=state, reason=reason,
                          offset_fidelity=pb.EXACT, restore=restore)


def _restored(state: int = pb.Restore.DONE, side: str = SIDE) -> pb.Restore:
    return pb.Restore(enabled=True, set_aside_topic=side, state=state, partitions=DIVERGED)


class _MirrorClient(Client):
    """Answers CreateMirrorTopic as the service does (the restore's default side topic; a dry
    run finds `dry_run`) and GetMirrorTopic from `script` (the last answer repeats)."""

    def __init__(self, script: list[pb.MirrorTopic] | None = None,
                 dry_run: list[pb.SetAside] | None = None, refuse: ServiceError | None = None) -> None:
        self.settings = Settings()
        self.endpoint = "scripted"
        self.script = script or [_mirror()]
        self.dry_run = dry_run or []
        self.refuse = refuse
        self.requests: list[tuple[str, Any]] = []

    def call(self, method: str, request: Any, what: str = "", timeout: float = 30.0) -> Any:
        self.requests.append((method, request))
        if method == "CreateMirrorTopic":
            if self.refuse is not None:
                raise ServiceError(what, self.refuse.detail, self.refuse.code)
            topic = request.mirror_topic_id or request.mirror_topic.source_topic
            answer = pb.MirrorTopic(name=f"{request.parent}/mirrorTopics/{topic}",
                                    source_topic=request.mirror_topic.source_topic, state=pb.MirrorTopic.PENDING)
            wanted = request.mirror_topic.restore
            if wanted.enabled:
                answer.restore.CopyFrom(pb.Restore(enabled=True, set_aside_topic=wanted.set_aside_topic
                                                   or f"{topic}.diverged", state=pb.Restore.REQUESTED))
                if request.validate_only:
                    answer.restore.partitions.extend(self.dry_run)
            return answer
        if method == "ListMirrorTopics":
            return pb.ListMirrorTopicsResponse()
        if method == "GetLink":
            return pb.Link(name="links/back")
        if method == "GetMirrorTopic":
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]
        raise ServiceError(f"{method} not scripted", code=grpc.StatusCode.UNIMPLEMENTED)

    def sent(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]


class _Provider:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.config_problem = None


def _resource(client: _MirrorClient) -> MirrorTopicResource:
    return MirrorTopicResource(_Provider(client))  # type: ignore[arg-type]


def _config(restore: dict[str, Any] | None = None, state: str | None = None) -> dict[str, Any]:
    """A clusterlink_mirror_topic configuration as Terraform passes it (null where not set)."""
    return {"id": None, "link": "back", "source_topic": TOPIC, "name": TOPIC, "state": state,
            "delete_destination_topic_on_destroy": None, **dict.fromkeys(STATUS), "restore": restore}


def _proposed(config: dict[str, Any], prior: dict[str, Any] | None) -> dict[str, Any]:
    """Terraform's proposed new value: the configuration, with an optional+computed attribute
    that is not set taking its prior value, inside a block present in both too."""
    out = copy.deepcopy(config)
    if prior is None:
        return out
    for key in ("id", "state", "delete_destination_topic_on_destroy", *STATUS):
        if out.get(key) is None:
            out[key] = prior.get(key)
    block, old = out.get("restore"), prior.get("restore")
    if isinstance(block, dict) and isinstance(old, dict):
        for key in ("enabled", "set_aside_topic"):
            if block.get(key) is None:
                block[key] = old.get(key)
    return out


def _plan(client: _MirrorClient, config: dict[str, Any],
          current: dict[str, Any] | None = None) -> tuple[ConfigPlanContext, dict[str, Any]]:
    ctx = ConfigPlanContext(Diagnostics(), "clusterlink_mirror_topic", set(), config=config, prior=current)
    planned = _resource(client).plan(ctx, copy.deepcopy(current), _proposed(config, current))
    return ctx, planned


def _stored(restore: dict[str, Any] | None, state: str = "ACTIVE",
            answer: pb.MirrorTopic | None = None) -> dict[str, Any]:
    """A resource value as a refresh stores it, created with `restore`."""
    if answer is None:
        answer = _mirror(restore=_restored() if mapping.restore_enabled(restore) else None)
    return mapping.mirror_state(answer, {"restore": restore, "state": state}, declared=state)


# --------------------------------------------------------------------------- mapping


def test_a_mirror_created_with_restore_reads_back_the_block_its_state_and_what_was_set_aside() -> None:
    state = mapping.mirror_state(_mirror(restore=_restored()), None)  # an import: no prior value
    assert state["restore"] == {"enabled": True, "set_aside_topic": SIDE}
    assert state["restore_state"] == "DONE"
    assert state["set_aside"] == SET_ASIDE  # ordered by partition


@pytest.mark.parametrize(("prior", "read"), [
    (None, None),
    ({"enabled": False, "set_aside_topic": None}, {"enabled": False, "set_aside_topic": None}),
    # Asked for, but the service's mirror was created without: drift that the plan shows.
    ({"enabled": True, "set_aside_topic": SIDE}, None),
], ids=["no-block", "enabled-false-kept-as-written", "lost-restore-is-drift"])
def test_without_restore_the_block_reads_as_it_was_written(prior: Any, read: Any) -> None:
    state = mapping.mirror_state(_mirror(), {"restore": prior})
    assert state["restore"] == read
    assert (state["restore_state"], state["set_aside"]) == ("", [])


def test_the_request_carries_a_restore_only_when_enabled() -> None:
    assert mapping.restore_request(None) is None
    assert mapping.restore_request({"enabled": False, "set_aside_topic": None}) is None
    assert mapping.restore_request({"enabled": True, "set_aside_topic": Unknown}) == pb.Restore(enabled=True)
    assert mapping.restore_request({"enabled": True, "set_aside_topic": "kept"}) == pb.Restore(
        enabled=True, set_aside_topic="kept")


OFF = {"enabled": False, "set_aside_topic": None}
ON = {"enabled": True, "set_aside_topic": SIDE}


@pytest.mark.parametrize(("prior", "planned", "changed"), [
    (None, None, []),
    (None, OFF, []),
    (OFF, None, []),
    (ON, {**ON}, []),
    (ON, {"enabled": True, "set_aside_topic": None}, []),  # left to the service: its default is the prior one
    (None, {"enabled": True, "set_aside_topic": Unknown}, ["enabled"]),
    (OFF, ON, ["enabled"]),
    (ON, None, ["enabled"]),
    (ON, OFF, ["enabled"]),
    (ON, {"enabled": True, "set_aside_topic": "other"}, ["set_aside_topic"]),
    (ON, {"enabled": True, "set_aside_topic": Unknown}, ["set_aside_topic"]),
    (OFF, {"enabled": Unknown, "set_aside_topic": None}, ["enabled"]),
])
def test_a_restore_change_is_named_by_meaning(prior: Any, planned: Any, changed: list[str]) -> None:
    assert mapping.restore_changes(prior, planned) == changed


def test_the_data_sources_show_the_restore_always_as_an_object() -> None:
    without = mapping.mirror_data(_mirror())
    assert without["restore"] == {"enabled": False, "set_aside_topic": ""}
    assert (without["restore_state"], without["set_aside"]) == ("", [])
    restored = mapping.mirror_data(_mirror(restore=_restored(pb.Restore.SETTING_ASIDE)))
    assert restored["restore"] == ON and restored["restore_state"] == "SETTING_ASIDE"
    assert restored["set_aside"] == SET_ASIDE
    assert set(restored) == {a.name for a in MirrorTopicDataSource.get_schema().attributes}


# --------------------------------------------------------------------------- plan


def test_plan_of_a_create_with_restore_leaves_the_side_topic_to_the_service_and_shows_the_dry_run() -> None:
    client = _MirrorClient(dry_run=DIVERGED)
    ctx, planned = _plan(client, _config({"enabled": True, "set_aside_topic": None}))
    assert planned["restore"] == {"enabled": True, "set_aside_topic": Unknown}
    assert all(planned[k] is Unknown for k in STATUS)
    [request] = client.sent("CreateMirrorTopic")
    assert request.validate_only and request.mirror_topic.restore == pb.Restore(enabled=True)
    [warning] = ctx.diagnostics.diagnostics
    assert warning.severity == "warning"
    assert warning.summary == f"the restore of mirror topic back/{TOPIC} would set aside 100 record(s) in '{SIDE}'"
    assert "partition 0: 50 record(s) from offset 150 to 200\n  partition 1: 50 record(s)" in warning.detail


def test_plan_of_a_create_with_nothing_diverged_or_without_restore_warns_of_nothing() -> None:
    client = _MirrorClient()
    ctx, planned = _plan(client, _config({"enabled": True, "set_aside_topic": "kept"}))
    assert planned["restore"] == {"enabled": True, "set_aside_topic": "kept"} and not ctx.diagnostics.diagnostics
    assert client.sent("CreateMirrorTopic")[0].mirror_topic.restore.set_aside_topic == "kept"
    client = _MirrorClient(dry_run=DIVERGED)
    ctx, planned = _plan(client, _config({"enabled": None, "set_aside_topic": None}))
    assert planned["restore"] == OFF and not ctx.diagnostics.diagnostics  # `restore {}`: enabled defaults to false
    assert not client.sent("CreateMirrorTopic")[0].mirror_topic.HasField("restore")
    ctx, planned = _plan(client, _config())
    assert planned["restore"] is None and not ctx.diagnostics.diagnostics


def test_a_refused_dry_run_is_a_plan_error_with_the_services_message() -> None:
    refusal = ServiceError("", "the dry run of the restore cannot read the clusters of link 'back'",
                           grpc.StatusCode.UNAVAILABLE)
    ctx, _ = _plan(_MirrorClient(refuse=refusal), _config({"enabled": True, "set_aside_topic": None}))
    [error] = ctx.diagnostics.diagnostics
    assert error.severity == "error" and "cannot read the clusters" in error.detail


@pytest.mark.parametrize(("prior", "written", "paths"), [
    (None, {"enabled": True, "set_aside_topic": None}, [["restore", "enabled"]]),
    (ON, None, [["restore", "enabled"]]),
    (ON, {"enabled": False, "set_aside_topic": None}, [["restore", "enabled"]]),
    (ON, {"enabled": None, "set_aside_topic": None}, [["restore", "enabled"]]),  # `restore {}`: false
    (ON, {"enabled": True, "set_aside_topic": "elsewhere"}, [["restore", "set_aside_topic"]]),
], ids=["asked-for", "block-removed", "disabled", "empty-block", "other-side-topic"])
def test_a_restore_change_replaces_the_mirror_without_asking_for_a_transition(
    prior: Any, written: Any, paths: list[list[str]]
) -> None:
    # FAILED_OVER -> ACTIVE alone is refused; as a re-creation it is no transition at all.
    client = _MirrorClient()
    current = _stored(prior, state="FAILED_OVER")
    ctx, planned = _plan(client, _config(written, state="ACTIVE"), current)
    assert ctx.requires_replace == paths
    assert all(planned[k] is Unknown for k in ("id", *STATUS))
    assert not ctx.diagnostics.diagnostics and client.requests == []


@pytest.mark.parametrize(("prior", "written"), [
    (None, None),
    (None, {"enabled": False, "set_aside_topic": None}),
    ({"enabled": False, "set_aside_topic": None}, None),
    (ON, {"enabled": True, "set_aside_topic": None}),
    (ON, {"enabled": True, "set_aside_topic": SIDE}),
], ids=["none", "block-added-disabled", "disabled-block-removed", "default-side-topic", "side-topic-spelled-out"])
def test_the_same_restore_in_another_form_replaces_nothing_and_keeps_the_status(prior: Any, written: Any) -> None:
    current = _stored(prior)
    ctx, planned = _plan(_MirrorClient(), _config(written), current)
    assert ctx.requires_replace == [] and not ctx.diagnostics.diagnostics
    assert {k: planned[k] for k in STATUS} == {k: current[k] for k in STATUS}
    if mapping.restore_enabled(prior):
        assert planned["restore"] == ON


def test_an_update_of_the_restore_blocks_form_alone_calls_nothing() -> None:
    client = _MirrorClient()
    current = _stored(None)
    ctx, planned = _plan(client, _config({"enabled": False, "set_aside_topic": None}), current)
    applied = _resource(client).update(CreateContext(Diagnostics(), "clusterlink_mirror_topic"), current, planned)
    assert applied == planned and applied["restore"] == OFF
    assert client.requests == []


def test_a_side_topic_without_enabled_is_a_configuration_error() -> None:
    diags = Diagnostics()
    _resource(_MirrorClient()).validate(diags, "clusterlink_mirror_topic",
                                        _config({"enabled": None, "set_aside_topic": "kept"}))
    [error] = diags.diagnostics
    assert error.severity == "error" and error.path == ["restore", "set_aside_topic"]
    assert "set enabled = true" in error.detail
    for fine in ({"enabled": True, "set_aside_topic": "kept"}, {"enabled": Unknown, "set_aside_topic": "kept"},
                 {"enabled": False, "set_aside_topic": None}):
        diags = Diagnostics()
        _resource(_MirrorClient()).validate(diags, "clusterlink_mirror_topic", _config(fine))
        assert not diags.diagnostics, fine


# --------------------------------------------------------------------------- servicer


def _plan_through_the_servicer(client: _MirrorClient, prior: dict[str, Any],
                               config: dict[str, Any]) -> tfpb.PlanResourceChange.Response:
    provider = ClusterLinkProvider()
    provider.client = client
    servicer = ClusterLinkServicer(provider)
    schema = MirrorTopicResource.get_schema()
    attrs = {a.name: a for a in schema.attributes}
    blocks = {b.type_name: b for b in schema.block_types}
    return servicer.PlanResourceChange(tfpb.PlanResourceChange.Request(
        type_name="clusterlink_mirror_topic",
        prior_state=_encode_state(attrs, blocks, prior, None),
        proposed_new_state=_encode_state(attrs, blocks, _proposed(config, prior), None),
        config=_encode_state(attrs, blocks, config, None),
    ), None)


def test_the_servicer_tells_terraform_which_restore_attribute_forces_the_replacement() -> None:
    response = _plan_through_the_servicer(_MirrorClient(), _stored(None, state="FAILED_OVER"),
                                          _config({"enabled": True, "set_aside_topic": None}, state="ACTIVE"))
    assert not response.diagnostics
    assert [[s.attribute_name for s in p.steps] for p in response.requires_replace] == [["restore", "enabled"]]
    planned = read_dynamic_value(response.planned_state)
    assert planned["restore"]["enabled"] is True and planned["state"] == "ACTIVE"
    # The same restore in another form: nothing to replace.
    response = _plan_through_the_servicer(_MirrorClient(), _stored(None),
                                          _config({"enabled": False, "set_aside_topic": None}))
    assert not response.diagnostics and not response.requires_replace


# --------------------------------------------------------------------------- create


PLANNED = {"id": Unknown, "link": "back", "source_topic": TOPIC, "name": TOPIC, "state": "ACTIVE",
           "delete_destination_topic_on_destroy": False, "restore": {"enabled": True, "set_aside_topic": Unknown},
           **dict.fromkeys(STATUS, Unknown)}


def _create(client: _MirrorClient) -> tuple[Any, dict[str, Any]]:
    ctx = CreateContext(Diagnostics(), "clusterlink_mirror_topic")
    return ctx, _resource(client).create(ctx, copy.deepcopy(PLANNED))


def test_create_asks_for_the_restore_and_returns_once_it_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    working = f"restore: setting records aside; set aside in '{SIDE}' so far: partition 0: 20 record(s)"
    client = _MirrorClient([
        _mirror(pb.MirrorTopic.PENDING, working, _restored(pb.Restore.SETTING_ASIDE)),
        _mirror(pb.MirrorTopic.PENDING, "restore: replacing the destination topic", _restored(pb.Restore.REPLACING)),
        _mirror(pb.MirrorTopic.PENDING, "", _restored(pb.Restore.REPLACING)),
        _mirror(pb.MirrorTopic.ACTIVE, "", _restored(pb.Restore.DONE)),
    ])
    ctx, state = _create(client)
    assert not ctx.diagnostics.diagnostics
    [request] = client.sent("CreateMirrorTopic")
    assert not request.validate_only and request.mirror_topic.restore == pb.Restore(enabled=True)
    assert state["observed_state"] == "ACTIVE" and state["restore_state"] == "DONE"
    assert state["restore"] == ON and state["set_aside"] == SET_ASIDE
    assert len(client.sent("GetMirrorTopic")) == 4


def test_a_restore_that_waits_for_something_outside_returns_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    waits = "restore waits: cannot create the side topic 'orders.diverged': TOPIC_AUTHORIZATION_FAILED"
    client = _MirrorClient([_mirror(pb.MirrorTopic.PENDING, waits, _restored(pb.Restore.SETTING_ASIDE))])
    ctx, state = _create(client)
    [warning] = ctx.diagnostics.diagnostics
    assert warning.severity == "warning" and "TOPIC_AUTHORIZATION_FAILED" in warning.detail
    assert state["observed_state"] == "PENDING" and state["restore_state"] == "SETTING_ASIDE"
    assert len(client.sent("GetMirrorTopic")) == 1


def test_a_restore_still_running_at_the_deadline_returns_with_its_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "POLL_INTERVAL", 0)
    monkeypatch.setattr(base, "START_TIMEOUT", 0.05)
    working = f"restore: setting records aside; set aside in '{SIDE}' so far: partition 0: 20 record(s)"
    ctx, state = _create(_MirrorClient([_mirror(pb.MirrorTopic.PENDING, working,
                                                _restored(pb.Restore.SETTING_ASIDE))]))
    [warning] = ctx.diagnostics.diagnostics
    assert warning.severity == "warning" and "still PENDING" in warning.summary and working in warning.detail
    assert state["restore_state"] == "SETTING_ASIDE"


# --------------------------------------------------------------------------- schema version and upgrade

# The mirror topic's attributes and blocks, per schema version. Terraform refuses a stored state
# that lacks one, so a change here needs a version bump (Base.upgrade fills in what is missing).
_V0 = {"id", "link", "source_topic", "name", "state", "delete_destination_topic_on_destroy", "observed_state",
       "reason", "max_lag", "offset_fidelity",
       "partitions{partition,source_end_offset,mirror_end_offset,mirrored_source_offset,lag,offset_fidelity}"}
MIRROR_TOPIC_SCHEMA_SHAPE = {
    0: _V0,
    1: _V0 | {"restore_state", "set_aside{partition,divergence_offset,end_offset,records,side_start_offset}",
              "restore{enabled,set_aside_topic}"},
}


def _shape(schema: Any) -> set[str]:
    def attribute(a: Any) -> str:
        fields = getattr(getattr(a.type, "element_type", None), "attributes", None)
        return f"{a.name}{{{','.join(fields)}}}" if fields else a.name

    return {attribute(a) for a in schema.attributes} | {
        f"{b.type_name}{{{','.join(attribute(a) for a in b.block.attributes)}}}" for b in schema.block_types}


def test_a_mirror_topic_schema_change_bumps_its_version() -> None:
    schema = MirrorTopicResource.get_schema()
    assert schema.version in MIRROR_TOPIC_SCHEMA_SHAPE, "a new schema version: add its shape here"
    assert _shape(schema) == MIRROR_TOPIC_SCHEMA_SHAPE[schema.version], (
        "the mirror topic's schema changed: bump its version (Terraform refuses old state that lacks an attribute)")


# A mirror topic's state as provider versions with schema version 0 wrote it.
OLD_MIRROR_STATE = {
    "id": f"back/{TOPIC}", "link": "back", "source_topic": TOPIC, "name": TOPIC, "state": "ACTIVE",
    "delete_destination_topic_on_destroy": True, "observed_state": "ACTIVE", "reason": "", "max_lag": 0,
    "offset_fidelity": "EXACT",
    "partitions": [{"partition": 0, "source_end_offset": 10, "mirror_end_offset": 10, "mirrored_source_offset": 10,
                    "lag": 0, "offset_fidelity": "EXACT"}],
}


def test_state_of_schema_version_0_is_upgraded_and_the_next_read_fills_the_restore_in() -> None:
    servicer = ClusterLinkServicer(ClusterLinkProvider())
    response = servicer.UpgradeResourceState(tfpb.UpgradeResourceState.Request(
        type_name="clusterlink_mirror_topic", version=0,
        raw_state=tfpb.RawState(json=json.dumps(OLD_MIRROR_STATE).encode())), None)
    assert not response.diagnostics
    upgraded = read_dynamic_value(response.upgraded_state)
    schema = MirrorTopicResource.get_schema()
    assert set(upgraded) == {a.name for a in schema.attributes} | {b.type_name for b in schema.block_types}
    assert {k: upgraded[k] for k in OLD_MIRROR_STATE} == OLD_MIRROR_STATE
    assert (upgraded["restore"], upgraded["restore_state"], upgraded["set_aside"]) == (None, None, None)
    diags = Diagnostics()
    _, current = _decode_state(diags, {a.name: a for a in schema.attributes},
                               {b.type_name: b for b in schema.block_types}, upgraded)
    assert not diags.has_errors()
    read = _resource(_MirrorClient([_mirror()])).read(CreateContext(Diagnostics(), "clusterlink_mirror_topic"),
                                                      current)
    assert (read["restore"], read["restore_state"], read["set_aside"]) == (None, "", [])
    assert read["delete_destination_topic_on_destroy"] is True
    # The configuration never had a restore block: nothing to plan.
    ctx, planned = _plan(_MirrorClient(), {**_config(), "delete_destination_topic_on_destroy": True}, read)
    assert ctx.requires_replace == [] and planned == read
