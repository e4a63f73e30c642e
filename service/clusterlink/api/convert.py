"""Store rows <-> protobuf messages.

Connections are stored as two parts: the non-secret fields as JSON
(`links.source`, `links.destination`, every key of
`validation.CONNECTION_FIELDS`, empty string when unset) and the secrets
(`sasl_password`, `ssl_key_pem`) sealed with SecretBox into
`links.source_secrets` / `links.destination_secrets`. Secrets never go back
into a message: only `sasl_password_set` / `ssl_key_set`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from clusterlink.api import validation as v
from clusterlink.store import models as m
from clusterlink.store.replicas import ReplicaRow
from clusterlink.v1 import clusterlink_pb2 as pb


def timestamp(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


# --------------------------------------------------------------------------- connections

def connection_from_pb(msg: pb.ClusterConnection) -> v.Connection:
    """A request's connection: fields as given, secrets given when non-empty."""
    fields = {name: getattr(msg, name) for name in v.CONNECTION_FIELDS}
    secrets = {name: getattr(msg, name) for name in v.SECRET_FIELDS if getattr(msg, name)}
    return v.Connection.make(fields, secrets, given=secrets.keys())


def connection_to_pb(fields: Mapping[str, object] | None, secret_names: Iterable[str]) -> pb.ClusterConnection:
    fields = fields or {}
    names = set(secret_names)
    return pb.ClusterConnection(
        **{name: str(fields.get(name) or "") for name in v.CONNECTION_FIELDS},
        sasl_password_set="sasl_password" in names,
        ssl_key_set="ssl_key_pem" in names,
    )


def stored_fields(conn: v.Connection) -> dict[str, str]:
    """The JSON column value for a connection."""
    return {name: conn.fields.get(name, "") for name in v.CONNECTION_FIELDS}


def spec_from_pb(link: pb.Link) -> v.LinkSpec:
    return v.LinkSpec(
        source=connection_from_pb(link.source),
        destination=connection_from_pb(link.destination),
        config=dict(link.config),
        paused=link.paused,
    )


# --------------------------------------------------------------------------- links

def link_status(paused: bool, tasks: Iterable[m.LinkTask], mirror_topic_count: int) -> pb.LinkStatus:
    tasks = list(tasks)
    if paused:
        state = pb.LinkStatus.PAUSED
    elif any(t.state in ("ERROR", "IN_ERROR") for t in tasks):
        state = pb.LinkStatus.DEGRADED
    else:
        state = pb.LinkStatus.ACTIVE
    return pb.LinkStatus(
        state=state,
        tasks=[task_to_pb(t) for t in sorted(tasks, key=lambda t: t.name)],
        mirror_topic_count=mirror_topic_count,
    )


def task_to_pb(task: m.LinkTask) -> pb.LinkTask:
    msg = pb.LinkTask(
        name=task.name,
        state=_enum(pb.LinkTask.State, task.state),
        last_error=task.last_error or "",
        message=task.message or "",
        replica=replica_name(task.replica_id),
    )
    if task.error_code:
        msg.error_code = _enum(pb.LinkTask.ErrorCode, task.error_code)
    _set_time(msg, "last_error_time", task.last_error_time)
    _set_time(msg, "last_success_time", task.last_success_time)
    _set_time(msg, "update_time", task.update_time)
    return msg


def link_to_pb(
    row: m.Link,
    *,
    source_secrets: Iterable[str],
    destination_secrets: Iterable[str],
    tasks: Iterable[m.LinkTask],
    mirror_topic_count: int,
) -> pb.Link:
    msg = pb.Link(
        name=v.link_name(row.name),
        source=connection_to_pb(row.source, source_secrets),
        destination=connection_to_pb(row.destination, destination_secrets),
        config={str(k): str(val) for k, val in (row.config or {}).items()},
        paused=bool(row.paused),
        etag=v.etag(row.version),
        status=link_status(bool(row.paused), tasks, mirror_topic_count),
    )
    _set_time(msg, "create_time", row.create_time)
    _set_time(msg, "update_time", row.update_time)
    return msg


# --------------------------------------------------------------------------- mirror topics

def partition_to_pb(row: m.MirrorPartition) -> pb.PartitionStatus:
    return pb.PartitionStatus(
        partition=row.partition,
        source_log_start_offset=row.source_log_start_offset or 0,
        source_end_offset=row.source_end_offset or 0,
        mirror_end_offset=row.mirror_end_offset or 0,
        lag=row.lag or 0,
        offset_fidelity=pb.TRANSLATED if row.translated else pb.EXACT,
        mirrored_source_offset=row.mirrored_source_offset or 0,
        reencoded_batches=row.reencoded_batches or 0,
        replica=replica_name(row.replica_id),
    )


def topic_fidelity(partitions: Iterable[m.MirrorPartition]) -> int:
    partitions = list(partitions)
    if any(p.translated for p in partitions):
        return pb.TRANSLATED
    return pb.EXACT if partitions else pb.OFFSET_FIDELITY_UNSPECIFIED


def mirror_topic_to_pb(row: m.MirrorTopic, link_id: str, partitions: Iterable[m.MirrorPartition]) -> pb.MirrorTopic:
    parts = sorted(partitions, key=lambda p: p.partition)
    msg = pb.MirrorTopic(
        name=v.mirror_topic_name(link_id, row.name),
        source_topic=row.source_topic,
        state=_enum(pb.MirrorTopic.State, row.state),
        reason=row.reason or "",
        partitions=[partition_to_pb(p) for p in parts],
        max_lag=max((p.lag or 0 for p in parts), default=0),
        offset_fidelity=topic_fidelity(parts),
        etag=v.etag(row.version),
        restore=restore_to_pb(row),
    )
    _set_time(msg, "create_time", row.create_time)
    _set_time(msg, "update_time", row.update_time)
    _set_time(msg, "status_time", row.status_time)
    return msg


def restore_to_pb(row: m.MirrorTopic) -> pb.Restore | None:
    if not row.restore_enabled:
        return None
    return pb.Restore(
        enabled=True,
        set_aside_topic=row.set_aside_topic,
        state=_enum(pb.Restore.State, row.restore_state),
        partitions=[pb.SetAside(**p) for p in sorted(row.restore_partitions or [], key=lambda p: p["partition"])],
    )


def segment_to_pb(row: m.TranslationSegment) -> pb.TranslationSegment:
    return pb.TranslationSegment(
        partition=row.partition, source_offset=row.source_offset, destination_offset=row.destination_offset
    )


# --------------------------------------------------------------------------- replicas

REPLICA_PREFIX = "replicas/"


def replica_name(replica_id: str | None) -> str:
    """`replicas/{replica_id}`; "" when no replica is recorded."""
    return f"{REPLICA_PREFIX}{replica_id}" if replica_id else ""


def _count(value: object) -> int:
    # `owned` is JSON another process wrote: anything but an int32 reads as 0.
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        return 0
    return value


def replica_to_pb(row: ReplicaRow) -> pb.Replica:
    msg = pb.Replica(
        name=replica_name(row.replica_id),
        replica_id=row.replica_id,
        address=row.address,
        links=[
            pb.ReplicaLink(link=v.link_name(link), partitions=_count(what.get("partitions")),
                           control=bool(what.get("control")))
            for link, what in sorted(row.owned.items())
        ],
    )
    _set_time(msg, "start_time", row.start_time)
    _set_time(msg, "heartbeat_time", row.heartbeat_time)
    return msg


# --------------------------------------------------------------------------- helpers

def _enum(enum_type: object, name: str | None) -> int:
    try:
        return enum_type.Value(name or "STATE_UNSPECIFIED")  # type: ignore[attr-defined]
    except ValueError:
        return 0  # a state this API version does not know


def _set_time(msg: object, field: str, value: dt.datetime | None) -> None:
    ts = timestamp(value)
    if ts is not None:
        getattr(msg, field).CopyFrom(ts)
