"""Rendering API resources for people (aligned tables) and for scripts (JSON).

JSON follows the proto field names (snake_case), prints every field including
zero values, keeps 64-bit integers as JSON numbers, writes enums by name and
timestamps as RFC 3339 strings (null when unset). Input-only secret fields are
never printed, whatever the server sends.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from clusterlink.v1 import clusterlink_pb2 as pb

OUTPUT_FORMATS = ("table", "json")

# Input-only fields of ClusterConnection: never written out.
SECRET_FIELDS = frozenset({"sasl_password", "ssl_key_pem"})

_TIMESTAMP = "google.protobuf.Timestamp"


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUT_FORMATS,
        default="table",
        help="output format (default: table)",
    )


# --------------------------------------------------------------------------- JSON


def _enum_name(enum_type: EnumDescriptor, number: int) -> str | int:
    value = enum_type.values_by_number.get(number)
    return value.name if value is not None else number


def _timestamp_string(ts: Any) -> str | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return str(ts.ToJsonString())


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == _TIMESTAMP:
            return _timestamp_string(value)
        return to_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_name(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    return value


def to_dict(message: Message) -> dict[str, Any]:
    """A JSON-ready dict of `message`: every field, ints as ints, enums by name."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.name in SECRET_FIELDS:
            continue
        value = getattr(message, field.name)
        is_map = field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
        if is_map:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {str(k): _value(value_field, value[k]) for k in sorted(value)}
        elif field.label == FieldDescriptor.LABEL_REPEATED:
            out[field.name] = [_value(field, item) for item in value]
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type.full_name == _TIMESTAMP
            and not message.HasField(field.name)
        ):
            out[field.name] = None
        else:
            out[field.name] = _value(field, value)
    return out


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    print(dumps(data), file=stream or sys.stdout)


# --------------------------------------------------------------------------- tables


def cell(value: Any) -> str:
    """How one value reads in a table: '-' for nothing, yes/no for booleans."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if "\n" in text:
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns aligned with two spaces between them; numeric columns right-aligned.

    An empty table is its header line alone.
    """
    raw = [list(row) for row in rows]
    for row in raw:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}")
    text = [[cell(v) for v in row] for row in raw]
    widths = [len(h) for h in headers]
    for row in text:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [bool(raw) and all(_is_number(row[i]) for row in raw) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in text)])


def render_fields(pairs: Sequence[tuple[str, Any]], indent: str = "") -> str:
    """`Label:  value` lines with the values aligned."""
    if not pairs:
        return ""
    width = max(len(label) for label, _ in pairs) + 1
    return "\n".join(f"{indent}{(label + ':').ljust(width)}  {cell(value)}".rstrip() for label, value in pairs)


def truncate(text: str, limit: int) -> str:
    text = cell(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- names and values


def link_id(name: str) -> str:
    """'links/dr-east' -> 'dr-east'."""
    return name.split("/", 1)[1] if name.startswith("links/") else name


def mirror_id(name: str) -> str:
    """'links/dr-east/mirrorTopics/orders' -> 'orders'."""
    marker = "/mirrorTopics/"
    return name.split(marker, 1)[1] if marker in name else name


def mirror_link_id(name: str) -> str:
    """'links/dr-east/mirrorTopics/orders' -> 'dr-east'."""
    marker = "/mirrorTopics/"
    return link_id(name.split(marker, 1)[0]) if marker in name else ""


def replica_id(name: str) -> str:
    """'replicas/host-123' -> 'host-123'."""
    return name.split("/", 1)[1] if name.startswith("replicas/") else name


def state_name(enum_type: Any, number: int) -> str:
    """Enum value name for tables; '-' for *_UNSPECIFIED."""
    try:
        name = str(enum_type.Name(number))
    except ValueError:
        return str(number)
    return "-" if name.endswith("UNSPECIFIED") else name


def format_time(message: Message, field: str) -> str:
    if not message.HasField(field):
        return "-"
    ts = getattr(message, field)
    when = ts.ToDatetime(tzinfo=dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


# --------------------------------------------------------------------------- links


def link_dict(link: pb.Link) -> dict[str, Any]:
    return to_dict(link)


def links_table(links: Sequence[pb.Link]) -> str:
    rows = [
        (
            link_id(link.name),
            link.source.bootstrap_servers,
            link.destination.bootstrap_servers,
            state_name(pb.LinkStatus.State, link.status.state),
            link.paused,
            link.status.mirror_topic_count,
        )
        for link in links
    ]
    return render_table(("NAME", "SOURCE", "DESTINATION", "STATE", "PAUSED", "MIRROR_TOPICS"), rows)


def _connection_fields(conn: pb.ClusterConnection) -> list[tuple[str, Any]]:
    return [
        ("Bootstrap servers", conn.bootstrap_servers),
        ("Security protocol", conn.security_protocol or "PLAINTEXT"),
        ("SASL mechanism", conn.sasl_mechanism),
        ("SASL username", conn.sasl_username),
        ("SASL password", "set" if conn.sasl_password_set else "not set"),
        ("TLS CA certificate", "set" if conn.ssl_ca_pem else "not set"),
        ("TLS client certificate", "set" if conn.ssl_certificate_pem else "not set"),
        ("TLS client key", "set" if conn.ssl_key_set else "not set"),
    ]


def link_detail(link: pb.Link) -> str:
    sections = [
        render_fields(
            [
                ("Name", link_id(link.name)),
                ("State", state_name(pb.LinkStatus.State, link.status.state)),
                ("Paused", link.paused),
                ("Mirror topics", link.status.mirror_topic_count),
                ("Etag", link.etag),
                ("Created", format_time(link, "create_time")),
                ("Updated", format_time(link, "update_time")),
            ]
        ),
        "Source:\n" + render_fields(_connection_fields(link.source), indent="  "),
        "Destination:\n" + render_fields(_connection_fields(link.destination), indent="  "),
    ]
    if link.config:
        config_rows = [(key, link.config[key]) for key in sorted(link.config)]
        sections.append("Config:\n" + render_table(("KEY", "VALUE"), config_rows))
    else:
        sections.append("Config: (all defaults)")
    if link.status.tasks:
        sections.append("Tasks:\n" + tasks_table(link.status.tasks))
    else:
        sections.append("Tasks: none")
    return "\n\n".join(sections)


def tasks_table(tasks: Sequence[pb.LinkTask]) -> str:
    """A link's tasks; a REPLICA column when the service records which replica runs them."""
    replicas = any(task.replica for task in tasks)
    rows = [
        (
            task.name,
            state_name(pb.LinkTask.State, task.state),
            format_time(task, "update_time"),
            format_time(task, "last_success_time"),
            *((replica_id(task.replica),) if replicas else ()),
            (f"{state_name(pb.LinkTask.ErrorCode, task.error_code)}: " if task.error_code else "")
            + (task.last_error if task.state in (pb.LinkTask.ERROR, pb.LinkTask.IN_ERROR) else task.message),
        )
        for task in tasks
    ]
    headers = ("TASK", "STATE", "UPDATED", "LAST_SUCCESS", *(("REPLICA",) if replicas else ()), "DETAIL")
    return render_table(headers, rows)


# --------------------------------------------------------------------------- mirror topics


def mirror_dict(mirror: pb.MirrorTopic) -> dict[str, Any]:
    return to_dict(mirror)


def mirrors_table(mirrors: Sequence[pb.MirrorTopic]) -> str:
    rows = [
        (
            mirror_id(m.name),
            m.source_topic,
            state_name(pb.MirrorTopic.State, m.state),
            len(m.partitions),
            m.max_lag,
            state_name(pb.OffsetFidelity, m.offset_fidelity),
            truncate(m.reason, 60),
        )
        for m in mirrors
    ]
    return render_table(("NAME", "SOURCE_TOPIC", "STATE", "PARTITIONS", "MAX_LAG", "FIDELITY", "REASON"), rows)


def partitions_table(partitions: Sequence[pb.PartitionStatus]) -> str:
    """A mirror's partitions; a last REPLICA column when the service records which replica copies them."""
    replicas = any(p.replica for p in partitions)
    rows = [
        (
            p.partition,
            p.source_log_start_offset,
            p.source_end_offset,
            p.mirror_end_offset,
            p.lag,
            state_name(pb.OffsetFidelity, p.offset_fidelity),
            *((replica_id(p.replica),) if replicas else ()),
        )
        for p in sorted(partitions, key=lambda p: p.partition)
    ]
    headers = ("PARTITION", "SOURCE_START", "SOURCE_END", "MIRROR_END", "LAG", "FIDELITY")
    return render_table((*headers, "REPLICA") if replicas else headers, rows)


def set_aside_table(restore: pb.Restore) -> str:
    """Per diverged partition, what a restore set aside (or, in a dry run, would)."""
    rows = [(s.partition, s.divergence_offset, s.end_offset, s.records, restore.set_aside_topic, s.side_start_offset)
            for s in sorted(restore.partitions, key=lambda s: s.partition)]
    return render_table(("PARTITION", "DIVERGES_AT", "END", "RECORDS", "SIDE_TOPIC", "SIDE_START"), rows)


def mirror_detail(mirror: pb.MirrorTopic) -> str:
    header = render_fields(
        [
            ("Name", mirror_id(mirror.name)),
            ("Link", mirror_link_id(mirror.name)),
            ("Source topic", mirror.source_topic),
            ("State", state_name(pb.MirrorTopic.State, mirror.state)),
            ("Reason", mirror.reason),
            ("Max lag", mirror.max_lag),
            ("Fidelity", state_name(pb.OffsetFidelity, mirror.offset_fidelity)),
            ("Status time", format_time(mirror, "status_time")),
            ("Created", format_time(mirror, "create_time")),
            ("Updated", format_time(mirror, "update_time")),
        ]
    )
    if mirror.restore.enabled:
        header += "\n" + render_fields([("Restore", state_name(pb.Restore.State, mirror.restore.state)),
                                        ("Set-aside topic", mirror.restore.set_aside_topic)])
        if mirror.restore.partitions:
            header += "\n\n" + set_aside_table(mirror.restore)
    if mirror.partitions:
        return header + "\n\n" + partitions_table(mirror.partitions)
    return header + "\n\nPartitions: none reported yet"


def segments_table(segments: Sequence[pb.TranslationSegment]) -> str:
    rows = [(s.partition, s.source_offset, s.destination_offset) for s in segments]
    return render_table(("PARTITION", "SOURCE_OFFSET", "DESTINATION_OFFSET"), rows)


# --------------------------------------------------------------------------- replicas


def age(message: Message, field: str, now: dt.datetime | None = None) -> str:
    """How long ago a timestamp was: '3s ago', '4m ago', '2h ago', '5d ago'; '-' when unset."""
    if not message.HasField(field):
        return "-"
    when = getattr(message, field).ToDatetime(tzinfo=dt.UTC)
    seconds = int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds())
    if seconds < 0:
        return "just now"  # the clocks of this host and the replica's differ a little
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def replica_links(replica: pb.Replica) -> str:
    """'orders:6 partitions (control), payments:1 partition'; '-' when it owns nothing."""
    parts = []
    for owned in replica.links:
        count = "1 partition" if owned.partitions == 1 else f"{owned.partitions} partitions"
        parts.append(f"{link_id(owned.link)}:{count}" + (" (control)" if owned.control else ""))
    return ", ".join(parts)


def replicas_table(replicas: Sequence[pb.Replica], now: dt.datetime | None = None) -> str:
    rows = [(r.replica_id, r.address, age(r, "heartbeat_time", now), replica_links(r))
            for r in replicas]
    return render_table(("REPLICA", "ADDRESS", "HEARTBEAT", "LINKS"), rows)
