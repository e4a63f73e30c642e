"""`clusterlink_mirror_topic`: a resource and a data source over the MirrorTopic RPCs.

`state` is what the operator declares (ACTIVE, PAUSED, PROMOTED, FAILED_OVER);
the observed lifecycle state is mapped onto that vocabulary when read, and the
real one is `observed_state`. Whether a transition is possible is the service's
decision: plan asks it with `validate_only` and shows its refusal.

The `restore` block (failback over a diverged destination topic) is read by
the service only at creation, so a change of its meaning replaces the mirror.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from tf.iface import Config, DataSource, ReadDataContext, Resource, State
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, Number, String, Unknown
from tf.utils import Diagnostics

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import base, mapping
from clusterlink_terraform.base import (
    Base,
    ConfigPlanContext,
    WithState,
    apply_default,
    diagnose,
    differs,
    guarded,
    is_known,
    is_not_found,
    mark_unknown,
)
from clusterlink_terraform.client import ServiceError
from clusterlink_terraform.schema_types import Object, SingleNestedBlock

PARTITION = Object({
    "partition": Number(),
    "source_end_offset": Number(),
    "mirror_end_offset": Number(),
    "mirrored_source_offset": Number(),
    "lag": Number(),
    "offset_fidelity": String(),
})
RESTORE = Object({"enabled": Bool(), "set_aside_topic": String()})
RESTORE_DATA_DESCRIPTION = (
    "What was asked for at creation: `enabled` (whether the mirror topic was created with a restore, for "
    "failback) and `set_aside_topic` (the topic on the destination cluster that receives the records it "
    "sets aside; empty without restore)."
)
SET_ASIDE = Object({
    "partition": Number(),
    "divergence_offset": Number(),
    "end_offset": Number(),
    "records": Number(),
    "side_start_offset": Number(),
})

_METHODS = {
    "pause": ("PauseMirrorTopic", pb.PauseMirrorTopicRequest),
    "resume": ("ResumeMirrorTopic", pb.ResumeMirrorTopicRequest),
    "promote": ("PromoteMirrorTopic", pb.PromoteMirrorTopicRequest),
    "failover": ("FailoverMirrorTopic", pb.FailoverMirrorTopicRequest),
}
_REPLACING = ("link", "source_topic", "name")
_STATUS = ("observed_state", "reason", "max_lag", "offset_fidelity", "partitions", "restore_state", "set_aside")
_WRITABLE = ("PROMOTED", "FAILED_OVER")
# A restore at work keeps its mirror PENDING, with its progress as the reason.
_RESTORING = (pb.Restore.SETTING_ASIDE, pb.Restore.REPLACING)
# How the service's reason starts while a restore retries after an error (engine.runtime):
# it waits for something outside it, as a PENDING mirror with any other reason does.
_RESTORE_WAITS = "restore waits"

RESTORE_STATE_DESCRIPTION = (
    "The restore's progress: `REQUESTED`, `SETTING_ASIDE`, `REPLACING` or `DONE` (the destination topic "
    "mirrors the source again); empty when the mirror topic was created without restore."
)
SET_ASIDE_DESCRIPTION = (
    "What the restore set aside, per partition that had diverged: `partition`, `divergence_offset` (the "
    "first offset whose record is not the source's), `end_offset` (the partition's end when it was set "
    "aside), `records` (how many went to the set-aside topic) and `side_start_offset` (where they start "
    "there). Empty when nothing had diverged or no restore was asked for."
)


def _status_attributes() -> list[Attribute]:
    return [
        Attribute(
            "observed_state", String(), computed=True,
            description="The lifecycle state the service reports: PENDING, ACTIVE, PAUSED, PROMOTING, PROMOTED, "
            "FAILED_OVER, SOURCE_UNAVAILABLE, FAILED or DELETING.",
        ),
        Attribute(
            "reason", String(), computed=True,
            description="Why the mirror is FAILED or SOURCE_UNAVAILABLE, or what a promotion waits for.",
        ),
        Attribute("max_lag", Number(), computed=True,
                  description="The largest lag of any partition, in source offsets, when last read."),
        Attribute(
            "offset_fidelity", String(), computed=True,
            description="`EXACT` (every record at its source offset), `TRANSLATED` (the source has offsets no "
            "consumer can read, so destination offsets are lower past them), or empty before the first report.",
        ),
        Attribute(
            "partitions", List(PARTITION), computed=True,
            description="Per partition: `partition`, `source_end_offset`, `mirror_end_offset`, "
            "`mirrored_source_offset` (everything below it is mirrored; after a failover the data-loss window "
            "starts there), `lag` and `offset_fidelity`.",
        ),
        Attribute("restore_state", String(), computed=True, description=RESTORE_STATE_DESCRIPTION),
        Attribute("set_aside", List(SET_ASIDE), computed=True, description=SET_ASIDE_DESCRIPTION),
    ]


def _restore_block() -> SingleNestedBlock:
    return SingleNestedBlock(
        "restore",
        Block(
            description="Failback over a destination topic that already exists and holds records the source "
            "does not have (the old primary after a failover, now mirrored back from the new one). With "
            "`enabled = true` the service first copies those records, from each partition's divergence "
            "point to its end, into `set_aside_topic` on the destination cluster (partition, key, value, "
            "headers and timestamp kept, plus a `clusterlink.original.offset` header), then deletes and "
            "re-creates the destination topic and mirrors it with equal offsets. Over a topic that holds "
            "only a prefix of the source nothing is set aside. Without it such a mirror goes FAILED, "
            "naming the divergence point. The service reads it only when the mirror topic is created: a "
            "change of `enabled` or `set_aside_topic` replaces the mirror topic. No block is the same as "
            "`enabled = false`.",
            attributes=[
                Attribute(
                    "enabled", Bool(), optional=True, computed=True,
                    description="Whether the mirror topic is created with a restore. Default: false. "
                    "Changing it replaces the mirror topic.",
                ),
                Attribute(
                    "set_aside_topic", String(), optional=True, computed=True,
                    description="The topic on the destination cluster that receives the records set aside "
                    "(created when missing, kept without time or size limit). Default: the mirror topic's "
                    "name followed by `.diverged`, as the service computes it. Only with `enabled = true`. "
                    "Changing it replaces the mirror topic.",
                ),
            ],
        ),
        required=False,
    )


def _plan_restore(planned: State, written: Any) -> None:
    """Fills the `restore` block's defaults: `enabled` false; the set-aside topic is the
    service's to compute when a restore is asked for and it is not set, else null."""
    block = planned.get("restore")
    if not isinstance(block, dict):
        return
    written = written if isinstance(written, dict) else {}
    apply_default(block, written, "enabled", False)
    if not mapping.restore_enabled(block):
        apply_default(block, written, "set_aside_topic", None)
    elif block.get("set_aside_topic") is None:
        block["set_aside_topic"] = Unknown


def _restore_preview(ctx: ConfigPlanContext, answer: pb.MirrorTopic) -> None:
    """Shows what the dry run of a restore found to set aside (nothing shown when nothing)."""
    parts = answer.restore.partitions
    if not parts:
        return
    link, topic = mapping.mirror_ids_of(answer.name)
    side = answer.restore.set_aside_topic
    total = sum(p.records for p in parts)
    rows = "\n".join(
        f"  partition {p.partition}: {p.records} record(s) from offset {p.divergence_offset} to {p.end_offset}"
        for p in sorted(parts, key=lambda p: p.partition)
    )
    ctx.diagnostics.add_warning(
        f"the restore of mirror topic {_label(link, topic)} would set aside {total} record(s) in {side!r}",
        f"Topic {topic!r} on the destination cluster holds records the source does not have. Apply copies them "
        f"into {side!r} (on the destination cluster), then deletes {topic!r} and mirrors it again from the "
        f"source with equal offsets. As of this plan:\n{rows}",
    )


def _ids(value: State) -> tuple[str, str]:
    return str(value["link"]), str(value["name"])


def _label(link: str, topic: str) -> str:
    return f"{link}/{topic}"


class MirrorTopicResource(Base, Resource):
    @classmethod
    def get_name(cls) -> str:
        return "mirror_topic"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            # 1: the restore block, restore_state and set_aside; Base.upgrade adds them to a
            # version 0 state (null, until the next refresh reads them).
            version=1,
            description="A mirror topic: a read-only copy on the destination cluster of a topic on the link's "
            "source cluster, with the same partitions and offsets, until it is promoted or failed over.",
            attributes=[
                Attribute("id", String(), computed=True, description="`LINK/NAME`, the import id."),
                Attribute("link", String(), required=True, requires_replace=True,
                          description="The link's name. Changing it replaces the mirror topic."),
                Attribute("source_topic", String(), required=True, requires_replace=True,
                          description="The topic on the source cluster. Changing it replaces the mirror topic."),
                Attribute(
                    "name", String(), optional=True, computed=True, requires_replace=True,
                    description="The mirror topic's name on the destination cluster. Default: the link's "
                    "`mirror.topic.prefix` followed by `source_topic`, as the service computes it. "
                    "Changing it replaces the mirror topic.",
                ),
                Attribute(
                    "state", String(), optional=True, computed=True,
                    description="The declared state: `ACTIVE` (default, mirroring), `PAUSED`, `PROMOTED` (mirror "
                    "until lag 0, then stop; the topic becomes writable; apply returns when the promotion is "
                    "done) or `FAILED_OVER` (stop at once, writable; allowed from any state, FAILED included). "
                    "A transition the service cannot make (e.g. PROMOTED to ACTIVE) is refused at plan. When "
                    "read, the observed state is shown in this vocabulary (PENDING and SOURCE_UNAVAILABLE as "
                    "ACTIVE, PROMOTING as PROMOTED, and FAILED as FAILED); see `observed_state`.",
                ),
                Attribute(
                    "delete_destination_topic_on_destroy", Bool(), optional=True, computed=True,
                    description="Whether destroying this resource also deletes the topic on the destination "
                    "cluster. Default: false (mirroring stops, the topic and its records stay).",
                ),
                *_status_attributes(),
            ],
            block_types=[_restore_block()],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        state = config.get("state")
        if isinstance(state, str) and state not in mapping.DECLARED_STATES:
            diags.add_error(
                f"state {state!r} is not one of {', '.join(mapping.DECLARED_STATES)}",
                "FAILED is observed, not declared: set ACTIVE to retry a failed mirror, or FAILED_OVER.",
                path=["state"],
            )
        restore = config.get("restore")
        if isinstance(restore, dict) and isinstance(restore.get("set_aside_topic"), str) \
                and restore.get("enabled") is not True and restore.get("enabled") is not Unknown:
            diags.add_error(
                "restore.set_aside_topic is set but restore.enabled is not true",
                "The set-aside topic receives what a restore sets aside: set enabled = true to ask for one, "
                "or leave set_aside_topic out.",
                path=["restore", "set_aside_topic"],
            )

    # ------------------------------------------------------------------ plan

    @guarded(1)
    def plan(self, ctx: ConfigPlanContext, current: State | None, planned: State) -> State:
        config = ctx.config or {}
        apply_default(planned, config, "state", "ACTIVE")
        apply_default(planned, config, "delete_destination_topic_on_destroy", False)
        _plan_restore(planned, config.get("restore"))

        if current is None:
            if config.get("name") is None:
                planned["name"] = Unknown  # the service computes it
            mark_unknown(planned, _STATUS)
            planned["id"] = _label(*_ids(planned)) if is_known([planned["link"], planned["name"]]) else Unknown
            self._validate_create(ctx, planned)
            return planned

        if config.get("name") is None:
            planned["name"] = current.get("name")
        restore_changed = mapping.restore_changes(current.get("restore"), planned.get("restore"))
        # Named by meaning, not form: Terraform replaces for each path whose values differ, and
        # no block and `enabled = false` differ in form only.
        ctx.requires_replace.extend(["restore", name] for name in restore_changed)
        if differs(current, planned, _REPLACING) or restore_changed:
            mark_unknown(planned, ("id", *_STATUS))
            return planned  # a replacement: Terraform plans the new object as a create

        # Keep what the refresh read, so that a changing lag never makes a plan non-empty.
        planned.update({k: current.get(k) for k in ("id", *_STATUS)})
        if planned["state"] != current.get("state"):
            mark_unknown(planned, _STATUS)
            if is_known(planned["state"]):
                self._validate_transition(ctx, planned, planned["state"])
        return planned

    def plan_destroy(self, ctx: Any, current: State) -> None:
        """Warns before a destroy deletes a destination topic that is writable (no longer a copy)."""
        if current.get("delete_destination_topic_on_destroy") and current.get("observed_state") in _WRITABLE:
            link, topic = _ids(current)
            ctx.diagnostics.add_warning(
                f"destroying {_label(link, topic)} deletes a writable topic",
                f"The mirror topic is {current.get('observed_state')}, so its destination topic {topic!r} may "
                "hold records written after that, and delete_destination_topic_on_destroy = true deletes it. "
                "Set it to false before destroying to keep the topic.",
            )

    def _validate_create(self, ctx: ConfigPlanContext, planned: State) -> None:
        restore = planned.get("restore")
        enabled = restore.get("enabled") if isinstance(restore, dict) else None
        if not is_known([planned["link"], planned["source_topic"], planned.get("state"), enabled]):
            return
        request = pb.CreateMirrorTopicRequest(
            parent=mapping.link_name(planned["link"]),
            mirror_topic_id=planned["name"] if is_known(planned["name"]) and planned["name"] else "",
            mirror_topic=pb.MirrorTopic(source_topic=planned["source_topic"],
                                        restore=mapping.restore_request(restore)),
            validate_only=True,
        )
        try:
            # With restore this is also its dry run: what it would set aside now.
            answer = self.client.call("CreateMirrorTopic", request,
                                      f"ClusterLink would refuse to create a mirror of {planned['source_topic']!r}")
        except ServiceError as err:
            # The link may be created, or an old mirror deleted, earlier in the same apply.
            if err.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
                                grpc.StatusCode.FAILED_PRECONDITION):
                diagnose(ctx.diagnostics, err)
            return
        _restore_preview(ctx, answer)

    def _validate_transition(self, ctx: ConfigPlanContext, planned: State, target: str) -> None:
        action = mapping.transition_action(target)
        method, request_type = _METHODS[action]
        link, topic = _ids(planned)
        try:
            self.client.call(
                method,
                request_type(name=mapping.mirror_topic_name(link, topic), validate_only=True),
                f'cannot {action} mirror topic {_label(link, topic)} (state = "{target}")',
            )
        except ServiceError as err:
            if not is_not_found(err):
                diagnose(ctx.diagnostics, err, ["state"])

    # ------------------------------------------------------------------ helpers

    def _get(self, link: str, topic: str, what: str = "") -> pb.MirrorTopic | None:
        """The mirror, or None when it does not exist."""
        try:
            return self.client.call(
                "GetMirrorTopic",
                pb.GetMirrorTopicRequest(name=mapping.mirror_topic_name(link, topic)),
                what or f"cannot read mirror topic {_label(link, topic)}",
            )
        except ServiceError as err:
            if is_not_found(err):
                return None
            raise

    def _wait_gone(self, link: str, topic: str, timeout: float = base.DELETE_TIMEOUT) -> None:
        def gone() -> bool | None:
            return True if self._get(link, topic) is None else None

        try:
            self.client.wait_for(f"mirror topic {_label(link, topic)} to be deleted", gone, timeout,
                                 base.POLL_INTERVAL)
        except ServiceError as err:
            err.detail = self._task_error(link, topic) or "It is still DELETING; its worker has not stopped yet."
            raise

    def _task_error(self, link: str, topic: str) -> str:
        try:
            found = self.client.call("GetLink", pb.GetLinkRequest(name=mapping.link_name(link)))
        except ServiceError:
            return ""
        for task in found.status.tasks:
            if task.name == f"mirrorTopics/{topic}" and task.last_error:
                return f"Its task reports: {task.last_error}"
        return ""

    def _wait_deleting(self, planned: State) -> None:
        """Waits until no mirror of the link that this create could collide with is still being deleted
        (after a replace, or a delete outside Terraform)."""
        link = planned["link"]
        name = planned["name"] if is_known(planned["name"]) else None
        try:
            listed = self.client.call("ListMirrorTopics", pb.ListMirrorTopicsRequest(
                parent=mapping.link_name(link), page_size=1000))
        except ServiceError:
            return  # CreateMirrorTopic reports the problem
        for mirror in listed.mirror_topics:
            _, topic = mapping.mirror_ids_of(mirror.name)
            if mirror.state == pb.MirrorTopic.DELETING and (
                topic == name or mirror.source_topic == planned["source_topic"]
            ):
                self._wait_gone(link, topic)

    def _transition(self, link: str, topic: str, target: str) -> pb.MirrorTopic:
        """Moves the mirror to `target`; for PROMOTED, returns when the promotion is done."""
        action = mapping.transition_action(target)
        method, request_type = _METHODS[action]
        mirror = self.client.call(
            method,
            request_type(name=mapping.mirror_topic_name(link, topic)),
            f"cannot {action} mirror topic {_label(link, topic)}",
        )
        if target == "PROMOTED":
            mirror = self._wait_promoted(link, topic, mirror)
        return mirror

    def _wait_promoted(self, link: str, topic: str, mirror: pb.MirrorTopic) -> pb.MirrorTopic:
        deadline = time.monotonic() + base.PROMOTE_TIMEOUT
        label = _label(link, topic)
        while mirror.state != pb.MirrorTopic.PROMOTED:
            if mirror.state != pb.MirrorTopic.PROMOTING:
                state = mapping.mirror_state_name(mirror.state)
                raise _Stopped(
                    mirror,
                    f"promotion of mirror topic {label} did not finish: it is {state}",
                    (f"Reason: {mirror.reason}\n\n" if mirror.reason else "")
                    + "Set state = \"FAILED_OVER\" to make the topic writable at once.",
                )
            if time.monotonic() >= deadline:
                raise _Stopped(
                    mirror,
                    f"promotion of mirror topic {label} did not finish within {base.PROMOTE_TIMEOUT:g} s",
                    f"It is still PROMOTING: {mirror.reason or 'waiting for lag 0'}.\n\n"
                    "The service goes on promoting it (observed_state shows when it is PROMOTED). To make "
                    "the topic writable at once instead, set state = \"FAILED_OVER\".",
                )
            time.sleep(base.POLL_INTERVAL)
            found = self._get(link, topic)
            if found is None:
                raise ServiceError(f"mirror topic {label} disappeared while it was being promoted")
            mirror = found
        return mirror

    def _wait_started(self, ctx: Any, link: str, topic: str, mirror: pb.MirrorTopic) -> pb.MirrorTopic:
        """Waits while a new mirror is PENDING (its destination topic being prepared)."""
        label = _label(link, topic)
        if mirror.state == pb.MirrorTopic.PENDING and self._link_paused(link):
            ctx.diagnostics.add_warning(
                f"mirror topic {label} waits for its link",
                f"Link {link!r} is paused; the mirror starts when the link is resumed (paused = false).",
            )
            return mirror
        deadline = time.monotonic() + base.START_TIMEOUT
        while mirror.state == pb.MirrorTopic.PENDING:
            if mirror.reason and not _restoring(mirror):
                # The service waits for something outside it (e.g. the source
                # topic does not exist yet): say so instead of blocking apply.
                ctx.diagnostics.add_warning(
                    f"mirror topic {label} is waiting",
                    f"{mirror.reason}\n\nMirroring starts by itself; observed_state shows when it is ACTIVE.",
                )
                return mirror
            if time.monotonic() >= deadline:
                ctx.diagnostics.add_warning(
                    f"mirror topic {label} is still PENDING after {base.START_TIMEOUT:g} s",
                    (f"{mirror.reason}\n\n" if mirror.reason else "")
                    + "The service goes on preparing its destination topic; observed_state shows when it is "
                    "ACTIVE (and restore_state when a restore is DONE). Resources that need the destination "
                    "topic may not find it yet.",
                )
                return mirror
            time.sleep(base.POLL_INTERVAL)
            found = self._get(link, topic)
            if found is None:
                raise ServiceError(f"mirror topic {label} disappeared while it was being created")
            mirror = found
        if mirror.state == pb.MirrorTopic.FAILED:
            raise _Stopped(
                mirror,
                f"mirror topic {label} was created but FAILED",
                f"Reason: {mirror.reason}\n\nTerraform marks it tainted, so the next apply replaces it; or fix "
                "the cause, run `terraform untaint` and apply to resume it.",
            )
        if mirror.state == pb.MirrorTopic.SOURCE_UNAVAILABLE:
            ctx.diagnostics.add_warning(
                f"mirror topic {label} waits for its source cluster",
                f"{mirror.reason}\n\nMirroring starts by itself once the source cluster is reachable.",
            )
        return mirror

    def _link_paused(self, link: str) -> bool:
        found = self.client.call("GetLink", pb.GetLinkRequest(name=mapping.link_name(link)),
                                 f"cannot read link {link!r}")
        return bool(found.paused)

    # ------------------------------------------------------------------ CRUD

    @guarded(None)
    def create(self, ctx: Any, planned: State) -> State | None:
        link = planned["link"]
        self._wait_deleting(planned)
        name = planned["name"] if is_known(planned["name"]) and planned["name"] else ""
        try:
            mirror = self.client.call(
                "CreateMirrorTopic",
                pb.CreateMirrorTopicRequest(
                    parent=mapping.link_name(link),
                    mirror_topic_id=name,
                    mirror_topic=pb.MirrorTopic(source_topic=planned["source_topic"],
                                                restore=mapping.restore_request(planned.get("restore"))),
                ),
                f"cannot create a mirror of {planned['source_topic']!r} on link {link!r}",
            )
        except ServiceError as err:
            if err.code == grpc.StatusCode.ALREADY_EXISTS:
                err.detail += "\n\nTo manage it with Terraform, import it: terraform import ADDRESS LINK/NAME"
            raise
        target = planned["state"]
        _, topic = mapping.mirror_ids_of(mirror.name)
        if target == "ACTIVE":
            # Ready when create returns: the destination topic exists, so a resource that depends
            # on this one (e.g. a mirror of this mirror, A -> B -> C) finds it.
            try:
                mirror = self._wait_started(ctx, link, topic, mirror)
            except _Stopped as err:
                raise WithState(err, mapping.mirror_state(err.mirror, planned)) from None
        else:
            try:
                mirror = self._transition(link, topic, target)
            except _Stopped as err:
                raise WithState(err, mapping.mirror_state(err.mirror, planned)) from None
            except ServiceError as err:
                created = mapping.mirror_state(mirror, planned)
                raise WithState(err, self._state_now(link, topic, planned, created)) from None
        return mapping.mirror_state(mirror, planned, declared=target)

    def _state_now(self, link: str, topic: str, prior: State, fallback: State) -> State:
        """The mirror as it is now (after a failed step), or `fallback` when it cannot be read."""
        try:
            mirror = self._get(link, topic)
        except ServiceError:
            return fallback
        return mapping.mirror_state(mirror, prior) if mirror is not None else fallback

    @guarded(0)
    def read(self, ctx: Any, current: State) -> State | None:
        link, topic = _ids(current)
        mirror = self._get(link, topic)
        if mirror is None or mirror.state == pb.MirrorTopic.DELETING:
            return None  # deleted outside Terraform: the next plan creates it again
        return mapping.mirror_state(mirror, current)

    @guarded(0)
    def update(self, ctx: Any, current: State, planned: State) -> State | None:
        target = planned["state"]
        if target == current.get("state"):
            # Only what the service never reads changed: delete_destination_topic_on_destroy, or the
            # form of a restore block that asks for no restore (none, or enabled = false).
            return planned
        link, topic = _ids(current)
        try:
            mirror = self._transition(link, topic, target)
        except _Stopped as err:
            raise WithState(err, mapping.mirror_state(err.mirror, planned)) from None
        except ServiceError as err:
            raise WithState(err, self._state_now(link, topic, planned, current)) from None
        return mapping.mirror_state(mirror, planned, declared=target)

    @guarded(0)
    def delete(self, ctx: Any, current: State) -> None:
        link, topic = _ids(current)
        try:
            self.client.call(
                "DeleteMirrorTopic",
                pb.DeleteMirrorTopicRequest(
                    name=mapping.mirror_topic_name(link, topic),
                    delete_destination_topic=bool(current.get("delete_destination_topic_on_destroy")),
                ),
                f"cannot delete mirror topic {_label(link, topic)}",
            )
        except ServiceError as err:
            if is_not_found(err):
                return None
            raise
        # Gone from the service before Terraform moves on, so a new mirror of the same name can follow.
        self._wait_gone(link, topic)
        return None

    @guarded(None)
    def import_(self, ctx: Any, id: str) -> State | None:
        link, topic = mapping.parse_mirror_import_id(id)
        mirror = self._get(link, topic, f"cannot import mirror topic {_label(link, topic)}")
        if mirror is None or mirror.state == pb.MirrorTopic.DELETING:
            raise ServiceError(
                f"cannot import mirror topic {_label(link, topic)}: it does not exist",
                "The id is LINK/NAME with NAME the mirror topic's name on the destination cluster "
                "(`clusterlink mirror list LINK` shows them).",
            )
        return mapping.mirror_state(mirror, None)


def _restoring(mirror: pb.MirrorTopic) -> bool:
    """A restore at work: the PENDING mirror's reason is its progress, not a wait."""
    return mirror.restore.state in _RESTORING and not mirror.reason.startswith(_RESTORE_WAITS)


class _Stopped(ServiceError):
    """A promotion that did not finish; carries the last mirror read."""

    def __init__(self, mirror: pb.MirrorTopic, summary: str, detail: str) -> None:
        super().__init__(summary, detail)
        self.mirror = mirror


class MirrorTopicDataSource(Base, DataSource):
    @classmethod
    def get_name(cls) -> str:
        return "mirror_topic"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=0,
            description="Reads a mirror topic by link and name.",
            attributes=[
                Attribute("link", String(), required=True, description="The link's name."),
                Attribute("name", String(), required=True,
                          description="The mirror topic's name on the destination cluster."),
                Attribute("id", String(), computed=True, description="`LINK/NAME`."),
                Attribute("source_topic", String(), computed=True, description="The topic on the source cluster."),
                Attribute(
                    "state", String(), computed=True,
                    description="The observed state in the resource's vocabulary: ACTIVE, PAUSED, PROMOTED, "
                    "FAILED_OVER or FAILED (see `observed_state`).",
                ),
                Attribute("restore", RESTORE, computed=True, description=RESTORE_DATA_DESCRIPTION),
                *_status_attributes(),
            ],
        )

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        link, name = config.get("link"), config.get("name")
        try:
            if not isinstance(link, str) or not isinstance(name, str):
                raise ServiceError("data.clusterlink_mirror_topic: link and name must be known strings")
            mirror = self.client.call(
                "GetMirrorTopic", pb.GetMirrorTopicRequest(name=mapping.mirror_topic_name(link, name)),
                f"cannot read mirror topic {_label(link, name)}",
            )
        except Exception as exc:  # noqa: BLE001 - becomes a diagnostic
            diagnose(ctx.diagnostics, exc)
            return None
        return mapping.mirror_data(mirror)
