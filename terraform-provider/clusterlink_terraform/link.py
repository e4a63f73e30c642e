"""`clusterlink_link`: a resource and a data source over the Link RPCs."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from tf.iface import Config, DataSource, ReadDataContext, Resource, State
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, Map, Number, String, Unknown

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

TASK = Object({"name": String(), "state": String(), "last_error": String()})
TASKS_DESCRIPTION = (
    "The link's background tasks, as the service reports them: its reconciler and one worker per "
    "mirror topic (`mirrorTopics/TOPIC`), each with `state` (RUNNING, STOPPED or ERROR) and `last_error`."
)
ETAG_DESCRIPTION = "The link's version as the service last reported it (optimistic concurrency for updates)."
STATE_DESCRIPTION = "ACTIVE, PAUSED, or DEGRADED when a task reports an error (see `tasks`)."
CONFIG_DESCRIPTION = (
    "Link settings (`mirror.topic.prefix`, `mirror.producer.compression.type`, ...), all strings. The "
    "service documents and validates the keys (README, \"Link config\") and refuses unknown ones. "
    "Default: none set (the service's defaults apply)."
)

# What the user sets, as opposed to what the service reports.
_USER = ("name", "source", "destination", "config", "consumer_offset_sync", "paused")
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


def _sync_block() -> SingleNestedBlock:
    return SingleNestedBlock(
        "consumer_offset_sync",
        Block(
            description="Copy the committed offsets of the source's consumer groups to the destination "
            "(the link config keys `consumer.offset.*` and `consumer.group.prefix`; README, \"Consumer "
            "offset sync\"). Offsets are translated, never ahead of the mirror; groups with active members "
            "on the destination are left alone. Do not set these keys in `config` as well.",
            attributes=[
                Attribute("enabled", Bool(), required=True, description="Whether the sync runs."),
                Attribute("interval_ms", Number(), optional=True, computed=True,
                          description="How often it runs, in ms (at least 1000). Default: 30000."),
                Attribute("group_prefix", String(), optional=True, computed=True,
                          description="Prefix of the destination groups' names. Default: none (same name)."),
            ],
            block_types=[ListNestedBlock("group_filter", Block(
                description="Which groups are synced: a group passes when an INCLUDE filter matches it and "
                "no EXCLUDE filter does. At least one is required when `enabled` is true.",
                attributes=[
                    Attribute("name", String(), required=True,
                              description="A group name, a prefix or a glob; `*` with LITERAL means every group."),
                    Attribute("pattern_type", String(), optional=True, computed=True,
                              description="LITERAL (default), PREFIXED or GLOB."),
                    Attribute("filter_type", String(), optional=True, computed=True,
                              description="INCLUDE (default) or EXCLUDE."),
                ],
            ))],
        ),
        required=False,
    )


def _plan_sync_defaults(planned: dict, config: dict) -> None:
    """Fills the defaults of an optional `consumer_offset_sync` block's computed attributes."""
    block = planned.get("consumer_offset_sync")
    if not isinstance(block, dict):
        return
    written = config.get("consumer_offset_sync") or {}
    apply_default(block, written, "interval_ms", mapping.DEFAULT_SYNC_INTERVAL_MS)
    apply_default(block, written, "group_prefix", "")
    filters = block.get("group_filter")
    if isinstance(filters, list):
        for item, item_written in zip(filters, written.get("group_filter") or [], strict=False):
            if isinstance(item, dict):
                apply_default(item, item_written, "pattern_type", mapping.DEFAULT_PATTERN_TYPE)
                apply_default(item, item_written, "filter_type", mapping.DEFAULT_FILTER_TYPE)


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
            version=0,
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
                         _sync_block()],
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
        _plan_sync_defaults(planned, config)
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
