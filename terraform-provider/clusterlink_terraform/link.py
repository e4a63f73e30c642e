"""`clusterlink_link`: a resource and a data source over the Link RPCs."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from tf.iface import Config, DataSource, ReadDataContext, Resource, State
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, Map, Number, String, Unknown
from tf.utils import Diagnostics

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import mapping
from clusterlink_terraform.base import (
    Base,
    ConfigPlanContext,
    apply_default,
    diagnose,
    differs,
    guarded,
    is_known,
    is_not_found,
    mark_unknown,
)
from clusterlink_terraform.client import ServiceError
from clusterlink_terraform.schema_types import ListNestedBlock, Object, SingleNestedBlock

TASK = Object({
    "name": String(),
    "state": String(),
    "last_error": String(),
    "error_code": String(),
    "message": String(),
    "last_success_time": String(),
})
TASKS_DESCRIPTION = (
    "The link's background tasks, as the service reports them: one worker per mirror topic "
    "(`mirrorTopics/TOPIC`) with `state` RUNNING, STOPPED or ERROR, and the sync tasks (`ConsumerOffsetSync`, "
    "`AutoCreateMirrorTopics`, `TopicConfigSync`, `AclSync`) with `state` ACTIVE, IN_ERROR or NOT_CONFIGURED. "
    "Each has `name`, `state`, `last_error`, `error_code` (a sync task in error: AUTHENTICATION_ERROR, "
    "AUTHORIZATION_ERROR, MISCONFIGURATION_ERROR, SOURCE_UNAVAILABLE, DESTINATION_UNAVAILABLE or "
    "INTERNAL_ERROR; else empty), `message` (what a sync task's last run did) and `last_success_time` (when "
    "a sync task's run last succeeded, RFC 3339; empty when it never did)."
)
ETAG_DESCRIPTION = "The link's version as the service last reported it (optimistic concurrency for updates)."
STATE_DESCRIPTION = "ACTIVE, PAUSED, or DEGRADED when a task reports an error (see `tasks`)."
CONFIG_DESCRIPTION = (
    "Link settings (`mirror.topic.prefix`, `mirror.producer.compression.type`, ...), all strings. The "
    "service documents and validates the keys (README, \"Link config\") and refuses unknown ones. "
    "Default: none set (the service's defaults apply)."
)

# What the user sets, as opposed to what the service reports.
_USER = ("name", "source", "destination", "config", *mapping.TASK_BLOCK_NAMES, "paused")
_STATUS = ("etag", "state", "tasks")


def _connection_block(side: str, what: str) -> SingleNestedBlock:
    return SingleNestedBlock(
        side,
        Block(
            description=f"How the service connects to the {what} cluster.",
            attributes=[
                Attribute(
                    "bootstrap_servers", String(), required=True,
                    description="Comma-separated `host:port` list, e.g. `10.0.0.1:9092,10.0.0.2:9092`.",
                ),
                Attribute(
                    "security_protocol", String(), optional=True, computed=True,
                    description="`PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
                ),
                Attribute(
                    "sasl_mechanism", String(), optional=True,
                    description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with `SASL_*`.",
                ),
                Attribute("sasl_username", String(), optional=True, description="SASL user; required with `SASL_*`."),
                Attribute(
                    "sasl_password", String(), optional=True, sensitive=True,
                    description="SASL password; required with `SASL_*`. Write-only: the service stores it "
                    "encrypted and never returns it, so Terraform keeps the configured value and sends it "
                    "again only when it changes. It cannot be imported.",
                ),
                Attribute(
                    "ssl_ca_pem", String(), optional=True,
                    description="PEM CA certificate(s) to verify the brokers (`SSL`, `SASL_SSL`).",
                ),
                Attribute(
                    "ssl_certificate_pem", String(), optional=True,
                    description="PEM client certificate for mutual TLS with the brokers.",
                ),
                Attribute(
                    "ssl_key_pem", String(), optional=True, sensitive=True,
                    description="PEM private key of `ssl_certificate_pem`. Write-only like `sasl_password`.",
                ),
            ],
        ),
    )


# The typed blocks of the link tasks (mapping.TASK_BLOCKS): what each block and field means.
_BLOCK_TEXT = {
    "consumer_offset_sync": (
        "Copy the committed offsets of the source's consumer groups to the destination (README, \"Consumer "
        "offset sync\"). Offsets are translated, never ahead of the mirror; groups with active members on the "
        "destination are left alone."
    ),
    "auto_create_mirror_topics": (
        "Create a mirror topic, named with `mirror.topic.prefix`, for every source topic that the "
        "`topic_filter` blocks pass and that has none on this link (README, \"New topics, topic configs and "
        "ACLs\"). Internal topics and the other half of a two-way pair are never mirrored; the task never "
        "deletes a mirror topic (list them with the `clusterlink_mirror_topics` data source)."
    ),
    "topic_config_sync": (
        "Keep each mirror topic's configs equal to its source topic's, for the default set of keys changed "
        "by `include` and `exclude` (README, \"New topics, topic configs and ACLs\"). Without this block the "
        "service's default applies: the sync runs."
    ),
    "acl_sync": (
        "Create the source's ACLs that the `acl_filter` blocks pass on the destination, with "
        "`mirror.topic.prefix` put before TOPIC resource names; an ACL that vanishes from the source is "
        "deleted from the destination only if this link created it (README, \"New topics, topic configs and "
        "ACLs\"). Needs DESCRIBE on the source's CLUSTER and ALTER on the destination's."
    ),
}
_FIELD_TEXT = {
    "group_prefix": "Prefix of the destination groups' names. Default: none (same name).",
    "group_filter": "Which groups are synced: a group passes when an INCLUDE filter matches it and no EXCLUDE "
                    "filter does. At least one is required when `enabled` is true.",
    "topic_filter": "Which source topics get a mirror topic: a topic passes when an INCLUDE filter matches it "
                    "and no EXCLUDE filter does. At least one is required when `enabled` is true.",
    "include": "Topic config keys synced on top of the default set (e.g. `min.insync.replicas`). Default: none.",
    "exclude": "Topic config keys taken out of the synced set: the mirror keeps its own value. Default: none.",
    "acl_filter": "Which source ACLs are synced: each is a Kafka ACL binding filter, and an ACL passes when any "
                  "filter matches it. A field left out matches any value. At least one is required when "
                  "`enabled` is true.",
}
_ACL_FILTER_TEXT = {
    "resource_type": "TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID or ANY. Default: any.",
    "name": "The resource's name (matched as `pattern_type` says). Default: any.",
    "pattern_type": "LITERAL, PREFIXED, MATCH or ANY. Default: any.",
    "principal": "`TYPE:NAME`, e.g. `User:alice`. Default: any.",
    "host": "The client host, e.g. `*`. Default: any.",
    "operation": "READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ..., ALL or ANY. Default: any.",
    "permission_type": "ALLOW, DENY or ANY. Default: any.",
}


def _name_filter_attributes(what: str) -> list[Attribute]:
    return [
        Attribute("name", String(), required=True,
                  description=f"A {what} name, a prefix or a glob; `*` with LITERAL means every {what}."),
        Attribute("pattern_type", String(), optional=True, computed=True,
                  description="LITERAL (default), PREFIXED or GLOB."),
        Attribute("filter_type", String(), optional=True, computed=True,
                  description="INCLUDE (default) or EXCLUDE."),
    ]


def _field_schema(f: mapping.TaskField) -> Attribute | ListNestedBlock:
    text = _FIELD_TEXT[f.name]
    if isinstance(f, mapping.TextField):
        return Attribute(f.name, String(), optional=True, computed=True, description=text)
    if isinstance(f, mapping.KeyListField):
        return Attribute(f.name, List(String()), optional=True, description=text)
    if isinstance(f, mapping.NameFiltersField):
        return ListNestedBlock(f.name, Block(description=text,
                                             attributes=_name_filter_attributes(f.name.removesuffix("_filter"))))
    return ListNestedBlock(f.name, Block(description=text, attributes=[
        Attribute(name, String(), optional=True, description=_ACL_FILTER_TEXT[name])
        for names in mapping.ACL_FILTER_SECTIONS.values() for name in names
    ]))


def _task_block(spec: mapping.TaskBlock) -> SingleNestedBlock:
    fields = [_field_schema(f) for f in spec.fields]
    keys = ", ".join(f"`{key}`" for key in spec.keys)
    return SingleNestedBlock(
        spec.name,
        Block(
            description=f"{_BLOCK_TEXT[spec.name]} Stands for the link config keys {keys}: do not set them in "
            "`config` as well.",
            attributes=[
                Attribute("enabled", Bool(), required=True, description="Whether the task runs."),
                Attribute("interval_ms", Number(), optional=True, computed=True,
                          description=f"How often it runs, in ms (at least 1000). Default: "
                          f"{spec.default_interval_ms}."),
                *(f for f in fields if isinstance(f, Attribute)),
            ],
            block_types=[f for f in fields if not isinstance(f, Attribute)],
        ),
        required=False,
    )


def _plan_block_defaults(planned: dict, config: dict) -> None:
    """Fills the defaults of the computed attributes of the typed blocks that are present."""
    for spec in mapping.TASK_BLOCKS:
        block, written = planned.get(spec.name), config.get(spec.name)
        if not isinstance(block, dict):
            continue
        written = written if isinstance(written, dict) else {}
        apply_default(block, written, "interval_ms", spec.default_interval_ms)
        for f in spec.fields:
            if f.default is not None:
                apply_default(block, written, f.name, f.default)
            items, written_items = block.get(f.name), written.get(f.name)
            if f.item_defaults and isinstance(items, list) and isinstance(written_items, list):
                for item, item_written in zip(items, written_items, strict=False):
                    if isinstance(item, dict):
                        for name, default in f.item_defaults.items():
                            apply_default(item, item_written, name, default)


def _connection_object() -> Object:
    return Object({
        "bootstrap_servers": String(),
        "security_protocol": String(),
        "sasl_mechanism": String(),
        "sasl_username": String(),
        "ssl_ca_pem": String(),
        "ssl_certificate_pem": String(),
        "sasl_password_set": Bool(),
        "ssl_key_set": Bool(),
    })


def _hint(err: ServiceError, hint: str) -> ServiceError:
    err.detail = f"{err.detail}\n\n{hint}" if err.detail else hint
    return err


class LinkResource(Base, Resource):
    @classmethod
    def get_name(cls) -> str:
        return "link"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            # 1: the auto_create_mirror_topics, topic_config_sync and acl_sync blocks and the tasks'
            # error_code, message and last_success_time. A version 0 state may also lack
            # consumer_offset_sync (added without a bump); Base.upgrade fills in whatever is missing.
            version=1,
            description="A link between a source and a destination Kafka cluster. Mirror topics "
            "(`clusterlink_mirror_topic`) belong to a link.",
            attributes=[
                Attribute("id", String(), computed=True, description="The link's name."),
                Attribute(
                    "name", String(), required=True, requires_replace=True,
                    description="The link's name: 1 to 63 lower-case letters, digits and hyphens, starting "
                    "with a letter (e.g. `dr-east`). Changing it replaces the link.",
                ),
                Attribute("config", Map(String()), optional=True, computed=True, description=CONFIG_DESCRIPTION),
                Attribute(
                    "paused", Bool(), optional=True, computed=True,
                    description="A paused link stops all its mirror topics without changing their state. "
                    "Default: false.",
                ),
                Attribute("etag", String(), computed=True, description=ETAG_DESCRIPTION),
                Attribute("state", String(), computed=True, description=STATE_DESCRIPTION),
                Attribute("tasks", List(TASK), computed=True, description=TASKS_DESCRIPTION),
            ],
            block_types=[_connection_block("source", "source"), _connection_block("destination", "destination"),
                         *(_task_block(spec) for spec in mapping.TASK_BLOCKS)],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        # A key is set in one place: a typed block stands for its link config keys.
        for block, key in mapping.keys_set_twice(config or {}):
            diags.add_error(
                f"config key {key!r} is set twice: in `config` and by the `{block}` block",
                f"The `{block}` block stands for its link config keys. Remove {key!r} from `config`, or remove "
                f"the `{block}` block and set all its keys in `config`.",
                path=["config", (key,)],
            )

    # ------------------------------------------------------------------ plan

    @guarded(1)
    def plan(self, ctx: ConfigPlanContext, current: State | None, planned: State) -> State:
        config = ctx.config or {}
        for side in ("source", "destination"):
            if isinstance(planned.get(side), dict):
                apply_default(planned[side], config.get(side), "security_protocol", mapping.DEFAULT_SECURITY_PROTOCOL)
        apply_default(planned, config, "config", {})
        apply_default(planned, config, "paused", False)
        _plan_block_defaults(planned, config)
        planned["id"] = planned.get("name")

        if current is None:
            mark_unknown(planned, _STATUS)
            if is_known({k: planned.get(k) for k in _USER}):
                self._validate(ctx, "CreateLink", pb.CreateLinkRequest(
                    link_id=planned["name"], link=mapping.link_request(planned), validate_only=True,
                ), f"ClusterLink would refuse to create link {planned['name']!r}")
            return planned

        changed = differs(current, planned, _USER)
        if not changed:
            # Nothing to do: keep what the refresh read, so a no-op plan stays empty.
            planned.update({k: current.get(k) for k in _STATUS})
            return planned
        mark_unknown(planned, _STATUS)
        if "name" not in changed and is_known({k: planned.get(k) for k in _USER}):
            message, paths = mapping.link_update(current, planned)
            if paths:
                self._validate(ctx, "UpdateLink", pb.UpdateLinkRequest(
                    link=message, update_mask=FieldMask(paths=paths), validate_only=True,
                ), f"ClusterLink would refuse to update link {planned['name']!r}")
        return planned

    def _validate(self, ctx: ConfigPlanContext, method: str, request: Any, what: str) -> None:
        """Runs `request` (validate_only) and turns a refusal into a plan error."""
        try:
            self.client.call(method, request, what)
        except ServiceError as err:
            # Not an error at plan time: the object may be created or deleted earlier in the same apply.
            if err.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS):
                diagnose(ctx.diagnostics, err)

    # ------------------------------------------------------------------ CRUD

    @guarded(None)
    def create(self, ctx: Any, planned: State) -> State | None:
        name = planned["name"]
        try:
            link = self.client.call(
                "CreateLink",
                pb.CreateLinkRequest(link_id=name, link=mapping.link_request(planned)),
                f"cannot create link {name!r}",
            )
        except ServiceError as err:
            if err.code == grpc.StatusCode.ALREADY_EXISTS:
                raise _hint(err, f"To manage it with Terraform, import it: terraform import ADDRESS {name}") from None
            raise
        return mapping.link_state(link, planned)

    @guarded(0)
    def read(self, ctx: Any, current: State) -> State | None:
        name = current.get("name") or current.get("id")
        try:
            link = self.client.call("GetLink", pb.GetLinkRequest(name=mapping.link_name(name)),
                                    f"cannot read link {name!r}")
        except ServiceError as err:
            if is_not_found(err):
                return None  # deleted outside Terraform: the next plan creates it again
            raise
        return mapping.link_state(link, current)

    @guarded(0)
    def update(self, ctx: Any, current: State, planned: State) -> State | None:
        name = planned["name"]
        message, paths = mapping.link_update(current, planned)
        if not paths:
            link = self.client.call("GetLink", pb.GetLinkRequest(name=mapping.link_name(name)),
                                    f"cannot read link {name!r}")
            return mapping.link_state(link, planned)
        try:
            link = self.client.call(
                "UpdateLink",
                pb.UpdateLinkRequest(link=message, update_mask=FieldMask(paths=paths)),
                f"cannot update link {name!r}",
            )
        except ServiceError as err:
            if err.code == grpc.StatusCode.ABORTED:
                raise _hint(err, "The link changed after Terraform read it; run terraform plan and apply again.") from None
            raise
        return mapping.link_state(link, planned)

    @guarded(0)
    def delete(self, ctx: Any, current: State) -> None:
        name = current.get("name") or current.get("id")
        try:
            self.client.call(
                "DeleteLink",
                pb.DeleteLinkRequest(name=mapping.link_name(name), etag=current.get("etag") or ""),
                f"cannot delete link {name!r}",
            )
        except ServiceError as err:
            if is_not_found(err):
                return None
            if err.code == grpc.StatusCode.FAILED_PRECONDITION:
                raise _hint(
                    err,
                    "Terraform never forces this: destroy the link's clusterlink_mirror_topic resources first, "
                    "or delete mirror topics it does not manage with `clusterlink mirror delete`.",
                ) from None
            if err.code == grpc.StatusCode.ABORTED:
                raise _hint(err, "The link changed after Terraform read it; run terraform destroy again.") from None
            raise
        return None

    @guarded(None)
    def import_(self, ctx: Any, id: str) -> State | None:
        link_id = mapping.parse_link_import_id(id)
        link = self.client.call("GetLink", pb.GetLinkRequest(name=mapping.link_name(link_id)),
                                f"cannot import link {link_id!r}")
        return mapping.link_state(link, None)


class LinkDataSource(Base, DataSource):
    @classmethod
    def get_name(cls) -> str:
        return "link"

    @classmethod
    def get_schema(cls) -> Schema:
        connection = _connection_object()
        return Schema(
            version=0,
            description="Reads a link by name.",
            attributes=[
                Attribute("name", String(), required=True, description="The link's name, e.g. `east`."),
                Attribute("id", String(), computed=True, description="The link's name."),
                Attribute(
                    "source", connection, computed=True,
                    description="The source connection; secrets are never returned, `sasl_password_set` and "
                    "`ssl_key_set` say whether one is stored.",
                ),
                Attribute("destination", connection, computed=True,
                          description="The destination connection, shaped like `source`."),
                Attribute("config", Map(String()), computed=True, description="The link settings that are set."),
                Attribute("paused", Bool(), computed=True, description="Whether the link is paused."),
                Attribute("etag", String(), computed=True, description=ETAG_DESCRIPTION),
                Attribute("state", String(), computed=True, description=STATE_DESCRIPTION),
                Attribute("tasks", List(TASK), computed=True, description=TASKS_DESCRIPTION),
                Attribute("mirror_topic_count", Number(), computed=True,
                          description="How many mirror topics the link has."),
            ],
        )

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        name = config.get("name")
        try:
            if not isinstance(name, str) or name is Unknown:
                raise ServiceError("data.clusterlink_link: name must be a known string")
            link = self.client.call("GetLink", pb.GetLinkRequest(name=mapping.link_name(name)),
                                    f"cannot read link {name!r}")
        except Exception as exc:  # noqa: BLE001 - becomes a diagnostic
            diagnose(ctx.diagnostics, exc, ["name"])
            return None
        return mapping.link_data(link)
