"""Pure mapping between Terraform values (dicts) and clusterlink.v1 messages.

Nothing here talks to the service or to Terraform, so every rule is unit tested
(tests/unit/test_provider_mapping.py). The rules themselves (validation,
defaults of the link config, which transition is allowed) belong to the
service; this module only translates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clusterlink.api.validation import shown
from clusterlink.config import topic_configs
from clusterlink.config.filters import DEFAULT_FILTER_TYPE, DEFAULT_PATTERN_TYPE, NameFilter, dumps
from clusterlink.config.link_config import KNOBS
from clusterlink.v1 import clusterlink_pb2 as pb

# --------------------------------------------------------------------------- names and ids

LINKS = "links/"
MIRRORS = "/mirrorTopics/"


def link_name(link_id: str) -> str:
    """`east` -> `links/east` (the API's resource name)."""
    return f"{LINKS}{link_id}"


def mirror_topic_name(link_id: str, topic: str) -> str:
    """(`east`, `orders`) -> `links/east/mirrorTopics/orders`."""
    return f"{LINKS}{link_id}{MIRRORS}{topic}"


def link_id_of(name: str) -> str:
    """`links/east` -> `east` (anything else is returned as it is)."""
    return name[len(LINKS):] if name.startswith(LINKS) else name


def mirror_ids_of(name: str) -> tuple[str, str]:
    """`links/east/mirrorTopics/orders` -> (`east`, `orders`)."""
    rest = link_id_of(name)
    link, sep, topic = rest.partition(MIRRORS)
    if not sep:
        raise ValueError(f"{shown(name)} is not a mirror topic name (links/LINK/mirrorTopics/TOPIC)")
    return link, topic


def parse_link_import_id(value: str) -> str:
    """The link id from `terraform import clusterlink_link.X ID`: `east` or `links/east`.

    Taken as given, never stripped: the service checks the name in full (and
    refuses, e.g., a trailing newline).
    """
    link = link_id_of(value)
    if not link or "/" in link:
        raise ValueError(f"{shown(value)} is not a link id; use the link's name, e.g. `east`")
    return link


def parse_mirror_import_id(value: str) -> tuple[str, str]:
    """(link, topic) from `LINK/TOPIC` or `links/LINK/mirrorTopics/TOPIC` (taken as given, never stripped)."""
    if value.startswith(LINKS) and MIRRORS in value:
        link, topic = mirror_ids_of(value)
    else:
        link, sep, topic = value.partition("/")
        if not sep:
            link, topic = "", ""
    if not link or not topic or "/" in topic:
        raise ValueError(
            f"{shown(value)} is not a mirror topic id; use LINK/TOPIC with TOPIC the mirror topic's "
            "name on the destination, e.g. `east/orders`"
        )
    return link, topic


# --------------------------------------------------------------------------- mirror topic states

# What an operator declares in `state`.
DECLARED_STATES = ("ACTIVE", "PAUSED", "PROMOTED", "FAILED_OVER")

# Observed lifecycle state -> the declared vocabulary, so that a healthy mirror never
# shows a diff. The real state is exposed as `observed_state`. FAILED stays FAILED, so
# a plan proposes the operator's declared state (e.g. FAILED -> FAILED_OVER).
_DECLARED_FROM_OBSERVED = {
    "PENDING": "ACTIVE",
    "ACTIVE": "ACTIVE",
    "SOURCE_UNAVAILABLE": "ACTIVE",
    "PAUSED": "PAUSED",
    "PROMOTING": "PROMOTED",
    "PROMOTED": "PROMOTED",
    "FAILED_OVER": "FAILED_OVER",
    "FAILED": "FAILED",
}

# Declared target -> the RPC that moves a mirror there. Whether the move is
# possible from the current state is the service's decision (FAILED_PRECONDITION).
_ACTION_FOR_TARGET = {
    "ACTIVE": "resume",
    "PAUSED": "pause",
    "PROMOTED": "promote",
    "FAILED_OVER": "failover",
}


def declared_state(observed: str) -> str | None:
    """The `state` value an observed lifecycle state maps to; None when the mirror is going away."""
    if observed == "DELETING":
        return None
    return _DECLARED_FROM_OBSERVED.get(observed)


def transition_action(target: str) -> str:
    """`pause`, `resume`, `promote` or `failover`: the action that moves a mirror to `target`."""
    try:
        return _ACTION_FOR_TARGET[target]
    except KeyError:
        raise ValueError(f"state {target!r} is not one of {', '.join(DECLARED_STATES)}") from None


def mirror_state_name(value: int) -> str:
    return pb.MirrorTopic.State.Name(value) if value in pb.MirrorTopic.State.values() else "STATE_UNSPECIFIED"


def fidelity_name(value: int) -> str:
    """EXACT, TRANSLATED, or "" before the first status report."""
    if value == pb.OFFSET_FIDELITY_UNSPECIFIED or value not in pb.OffsetFidelity.values():
        return ""
    return pb.OffsetFidelity.Name(value)


# --------------------------------------------------------------------------- connections

# Non-secret connection fields, as the API names them.
CONNECTION_FIELDS = (
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "ssl_ca_pem",
    "ssl_certificate_pem",
)
# Write-only fields: sent, never read back; the API only says whether one is stored.
SECRET_FIELDS = {"sasl_password": "sasl_password_set", "ssl_key_pem": "ssl_key_set"}
DEFAULT_SECURITY_PROTOCOL = "PLAINTEXT"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _same_text(prior: Any, new: str) -> Any:
    """`new` as a Terraform value: null when empty, or the prior value when it means the same."""
    if _text(prior) == new:
        return prior
    return new or None


def connection_to_pb(block: Mapping[str, Any] | None, secrets: Iterable[str] | None = None) -> pb.ClusterConnection:
    """A connection block as a request message.

    `secrets` names the secret fields to send (default: all that are set); the
    others are left empty, which the service reads as "keep what is stored".
    """
    block = block or {}
    send = set(SECRET_FIELDS) if secrets is None else set(secrets)
    fields = {name: _text(block.get(name)) for name in CONNECTION_FIELDS}
    fields.update({name: _text(block.get(name)) for name in SECRET_FIELDS if name in send})
    return pb.ClusterConnection(**fields)


def connection_state(conn: pb.ClusterConnection, prior: Mapping[str, Any] | None) -> dict[str, Any]:
    """A connection message as a block value.

    Secrets are write-only: the value in `prior` (config or state) is kept while
    the service says one is stored, and dropped when it says none is (so the
    next plan sends it again).
    """
    prior = prior or {}
    out: dict[str, Any] = {name: _same_text(prior.get(name), getattr(conn, name)) for name in CONNECTION_FIELDS}
    out["security_protocol"] = conn.security_protocol or DEFAULT_SECURITY_PROTOCOL
    for name, flag in SECRET_FIELDS.items():
        out[name] = prior.get(name) if getattr(conn, flag) else None
    return out


def connection_data(conn: pb.ClusterConnection) -> dict[str, Any]:
    """A connection as the data source shows it (no secrets, only whether they are stored)."""
    out: dict[str, Any] = {name: getattr(conn, name) for name in CONNECTION_FIELDS}
    out["security_protocol"] = conn.security_protocol or DEFAULT_SECURITY_PROTOCOL
    out.update({flag: getattr(conn, flag) for flag in SECRET_FIELDS.values()})
    return out


# --------------------------------------------------------------------------- links

def link_state_name(value: int) -> str:
    return pb.LinkStatus.State.Name(value) if value in pb.LinkStatus.State.values() else "STATE_UNSPECIFIED"


def error_code_name(value: int) -> str:
    """AUTHORIZATION_ERROR, ..., or "" when the task reports none."""
    if value == pb.LinkTask.ERROR_CODE_UNSPECIFIED or value not in pb.LinkTask.ErrorCode.values():
        return ""
    return pb.LinkTask.ErrorCode.Name(value)


def time_text(message: Any, name: str) -> str:
    """A Timestamp field as RFC 3339 (`2024-05-01T12:00:00Z`), "" when unset."""
    return getattr(message, name).ToJsonString() if message.HasField(name) else ""


def tasks_state(status: pb.LinkStatus) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "state": pb.LinkTask.State.Name(t.state) if t.state in pb.LinkTask.State.values() else "STATE_UNSPECIFIED",
            "last_error": t.last_error,
            "error_code": error_code_name(t.error_code),
            "message": t.message,
            "last_success_time": time_text(t, "last_success_time"),
        }
        for t in status.tasks
    ]


# --------------------------------------------------------------------------- link task blocks
#
# `consumer_offset_sync`, `auto_create_mirror_topics`, `topic_config_sync` and `acl_sync` are
# typed blocks over link config keys (README, "Consumer offset sync" and "New topics, topic
# configs and ACLs"). Each has `enabled` and `interval_ms` and a few fields of four kinds; a
# field writes one key and reads it back. Values are written as given (the service checks
# them); reading checks only the shape, and a stored value the block cannot show as it is
# raises Unshowable: the block's keys then stay in `config`.


class Unshowable(ValueError):
    """A stored value that the typed block cannot show."""


def _knob_default(key: str) -> str:
    return KNOBS[key].default


def _json_list(raw: str, list_key: str) -> list[dict[str, Any]]:
    """The objects of `{"<list_key>": [{...}, ...]}`; Unshowable when it is not that shape."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise Unshowable(f"not JSON: {raw[:32]!r}") from None
    if not isinstance(doc, dict) or set(doc) != {list_key} or not isinstance(doc[list_key], list):
        raise Unshowable(f"not an object with the one key {list_key!r} holding a list")
    if not all(isinstance(item, dict) for item in doc[list_key]):
        raise Unshowable(f"{list_key} holds something else than objects")
    return doc[list_key]


def _known_only(obj: Mapping[str, Any], names: Iterable[str]) -> None:
    unknown = set(obj) - set(names)
    if unknown:
        raise Unshowable(f"unknown field {sorted(unknown)[0]!r}")


def _json_fields(item: Mapping[str, Any], names: Mapping[str, str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`item`'s JSON fields (`names`: attribute -> JSON name) as block attributes; a missing
    field takes its default. Unshowable on an unknown field or a value that is not a string."""
    _known_only(item, names.values())
    out = {attr: item.get(json_name, defaults.get(attr)) for attr, json_name in names.items()}
    if not all(v is None or isinstance(v, str) for v in out.values()):
        raise Unshowable("a field is not a string")
    return out


@dataclass(frozen=True)
class TextField:
    """A string attribute, optional and computed (default ""); the key is not written when empty."""

    name: str
    key: str
    default: Any = ""
    item_defaults: Mapping[str, Any] | None = None

    def to_config(self, value: Any) -> str | None:
        return _text(value) or None

    def of_config(self, raw: str | None) -> Any:
        return raw or ""


@dataclass(frozen=True)
class KeyListField:
    """An optional list of strings <-> a comma-separated list (the service's own parser reads it)."""

    name: str
    key: str
    default: Any = None
    item_defaults: Mapping[str, Any] | None = None

    def to_config(self, value: Any) -> str | None:
        return ",".join(_text(v) for v in value) if value else None

    def of_config(self, raw: str | None) -> Any:
        return list(topic_configs.parse_keys(raw)) if raw else None


_NAME_FILTER_FIELDS = {"name": "name", "pattern_type": "patternType", "filter_type": "filterType"}


@dataclass(frozen=True)
class NameFiltersField:
    """Repeated `{ name, pattern_type, filter_type }` blocks <-> `{"<list_key>":[...]}` (filters.dumps)."""

    name: str
    key: str
    list_key: str
    default: Any = None
    item_defaults: Mapping[str, Any] = field(default_factory=lambda: {
        "pattern_type": DEFAULT_PATTERN_TYPE, "filter_type": DEFAULT_FILTER_TYPE})

    def to_config(self, value: Any) -> str | None:
        filters = [NameFilter(_text(f.get("name")), _text(f.get("pattern_type")) or DEFAULT_PATTERN_TYPE,
                              _text(f.get("filter_type")) or DEFAULT_FILTER_TYPE) for f in value or []]
        return dumps(filters, self.list_key) if filters else None

    def of_config(self, raw: str | None) -> Any:
        if not raw:
            return []
        defaults = {"name": "*", **self.item_defaults}
        return [_json_fields(item, _NAME_FILTER_FIELDS, defaults) for item in _json_list(raw, self.list_key)]


# Block attribute -> JSON field, per section of an ACL binding filter.
ACL_FILTER_SECTIONS: dict[str, dict[str, str]] = {
    "resourceFilter": {"resource_type": "resourceType", "name": "name", "pattern_type": "patternType"},
    "accessFilter": {"principal": "principal", "host": "host", "operation": "operation",
                     "permission_type": "permissionType"},
}


@dataclass(frozen=True)
class AclFiltersField:
    """Repeated ACL binding filter blocks (a null attribute matches any value) <->
    `{"aclFilters":[{"resourceFilter":{...},"accessFilter":{...}}]}` with null fields left out."""

    name: str
    key: str
    list_key: str = "aclFilters"
    default: Any = None
    item_defaults: Mapping[str, Any] | None = None

    def to_config(self, value: Any) -> str | None:
        items = [
            {section: {json_name: _text(f[attr]) for attr, json_name in names.items() if f.get(attr) is not None}
             for section, names in ACL_FILTER_SECTIONS.items()}
            for f in value or []
        ]
        return json.dumps({self.list_key: items}, separators=(",", ":")) if items else None

    def of_config(self, raw: str | None) -> Any:
        if not raw:
            return []
        out = []
        for item in _json_list(raw, self.list_key):
            _known_only(item, ACL_FILTER_SECTIONS)
            block: dict[str, Any] = {}
            for section, names in ACL_FILTER_SECTIONS.items():
                part = item.get(section, {})
                if not isinstance(part, dict):
                    raise Unshowable(f"{section} is not an object")
                block.update(_json_fields(part, names, {}))
            out.append(block)
        return out


TaskField = TextField | KeyListField | NameFiltersField | AclFiltersField


@dataclass(frozen=True)
class TaskBlock:
    """A typed block standing for the config keys of one link task."""

    name: str
    enable_key: str
    interval_key: str
    fields: tuple[TaskField, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.enable_key, self.interval_key, *(f.key for f in self.fields))

    @property
    def default_interval_ms(self) -> int:
        return int(_knob_default(self.interval_key))

    def to_config(self, block: Mapping[str, Any] | None) -> dict[str, str]:
        """The link config keys the block stands for (none when the block is absent)."""
        if not block:
            return {}
        interval = block.get("interval_ms")
        config = {
            self.enable_key: "true" if block.get("enabled") else "false",
            self.interval_key: str(int(interval) if interval is not None else self.default_interval_ms),
        }
        for f in self.fields:
            value = f.to_config(block.get(f.name))
            if value is not None:
                config[f.key] = value
        return config

    def of_config(self, config: Mapping[str, str]) -> dict[str, Any] | None:
        """The block read back from a link's config: None when none of its keys is set;
        Unshowable when a value is not in a form the block can show."""
        if not any(key in config for key in self.keys):
            return None
        enabled = config.get(self.enable_key, _knob_default(self.enable_key))
        interval = config.get(self.interval_key, _knob_default(self.interval_key))
        if enabled not in ("true", "false") or not (interval.isascii() and interval.isdigit()):
            raise Unshowable(f"{self.enable_key}={enabled!r}, {self.interval_key}={interval!r}")
        block: dict[str, Any] = {"enabled": enabled == "true", "interval_ms": int(interval)}
        for f in self.fields:
            block[f.name] = f.of_config(config.get(f.key))
        return block

    def means_the_same(self, a: Any, b: Any) -> bool:
        """Whether two block values stand for the same config keys."""
        try:
            return self.to_config(a) == self.to_config(b)
        except (TypeError, ValueError, AttributeError):  # an unknown or malformed part
            return False


TASK_BLOCKS = (
    TaskBlock("consumer_offset_sync", "consumer.offset.sync.enable", "consumer.offset.sync.ms", (
        TextField("group_prefix", "consumer.group.prefix"),
        NameFiltersField("group_filter", "consumer.offset.group.filters", "groupFilters"),
    )),
    TaskBlock("auto_create_mirror_topics", "auto.create.mirror.topics.enable", "auto.create.mirror.topics.ms", (
        NameFiltersField("topic_filter", "auto.create.mirror.topics.filters", "topicFilters"),
    )),
    TaskBlock("topic_config_sync", "topic.config.sync.enable", "topic.config.sync.ms", (
        KeyListField("include", "topic.config.sync.include"),
        KeyListField("exclude", "topic.config.sync.exclude"),
    )),
    TaskBlock("acl_sync", "acl.sync.enable", "acl.sync.ms", (
        AclFiltersField("acl_filter", "acl.filters"),
    )),
)
TASK_BLOCK_NAMES = tuple(b.name for b in TASK_BLOCKS)


def task_block(name: str) -> TaskBlock:
    return next(b for b in TASK_BLOCKS if b.name == name)


def request_config(state: Mapping[str, Any]) -> dict[str, str]:
    """The whole link config a resource value asks for: `config` plus the typed blocks."""
    config = {str(k): _text(v) for k, v in (state.get("config") or {}).items()}
    for spec in TASK_BLOCKS:
        config.update(spec.to_config(state.get(spec.name)))
    return config


def keys_set_twice(value: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(block, key) for each config key that `value` (a configuration) sets both in its
    `config` map and through a typed block that is present."""
    plain = value.get("config")
    if not isinstance(plain, Mapping):
        return []
    return [(spec.name, key) for spec in TASK_BLOCKS if value.get(spec.name) is not None
            for key in spec.keys if key in plain]


def split_config(config: Mapping[str, str], prior: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, Any]]:
    """A link's config as the `config` map and the typed blocks (name -> value) for the state.

    A block's keys belong to the block, unless the prior value holds one of them
    in its `config` map (a configuration that sets them as plain keys), or a
    stored value is not in a form the block can show (written elsewhere by
    hand): then they stay in `config`. A block read back that means the same as
    the prior one keeps the prior's form (e.g. `include = []`).
    """
    prior = prior or {}
    prior_plain = prior.get("config")
    prior_plain = prior_plain if isinstance(prior_plain, Mapping) else {}
    plain = dict(config)
    blocks: dict[str, Any] = {}
    for spec in TASK_BLOCKS:
        block = None
        if not any(key in prior_plain for key in spec.keys):
            try:
                block = spec.of_config(config)
            except Unshowable:
                block = None
            else:
                for key in spec.keys:
                    plain.pop(key, None)
                if block is not None and spec.means_the_same(prior.get(spec.name), block):
                    block = prior.get(spec.name)
        blocks[spec.name] = block
    return plain, blocks


def link_request(state: Mapping[str, Any]) -> pb.Link:
    """The Link message of a CreateLink request from a planned resource value."""
    return pb.Link(
        source=connection_to_pb(state.get("source")),
        destination=connection_to_pb(state.get("destination")),
        config=request_config(state),
        paused=bool(state.get("paused")),
    )


def link_state(link: pb.Link, prior: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Link message as the `clusterlink_link` resource value.

    `prior` (the planned or stored value) supplies the write-only secrets.
    """
    prior = prior or {}
    link_id = link_id_of(link.name)
    config, blocks = split_config(link.config, prior)
    return {
        "id": link_id,
        "name": link_id,
        "source": connection_state(link.source, prior.get("source")),
        "destination": connection_state(link.destination, prior.get("destination")),
        "config": config,
        **blocks,
        "paused": link.paused,
        "etag": link.etag,
        "state": link_state_name(link.status.state),
        "tasks": tasks_state(link.status),
    }


def link_data(link: pb.Link) -> dict[str, Any]:
    """A Link message as the `clusterlink_link` data source value."""
    link_id = link_id_of(link.name)
    return {
        "id": link_id,
        "name": link_id,
        "source": connection_data(link.source),
        "destination": connection_data(link.destination),
        "config": dict(link.config),
        "paused": link.paused,
        "etag": link.etag,
        "state": link_state_name(link.status.state),
        "tasks": tasks_state(link.status),
        "mirror_topic_count": link.status.mirror_topic_count,
    }


def link_update(prior: Mapping[str, Any], planned: Mapping[str, Any]) -> tuple[pb.Link, list[str]]:
    """The UpdateLink request (message and update_mask paths) that moves `prior` to `planned`.

    Only changed fields are named in the mask; a secret is sent only when it
    changed (a removed secret is named with an empty value, which clears it).
    The etag is the one in `prior`. An empty mask means nothing to send.
    """
    paths: list[str] = []
    secrets: dict[str, list[str]] = {}
    for side in ("source", "destination"):
        old = prior.get(side) or {}
        new = planned.get(side) or {}
        for name in CONNECTION_FIELDS:
            if _text(old.get(name)) != _text(new.get(name)):
                paths.append(f"{side}.{name}")
        secrets[side] = [name for name in SECRET_FIELDS if _text(old.get(name)) != _text(new.get(name))]
        paths += [f"{side}.{name}" for name in secrets[side]]
    old_config = request_config(prior)
    new_config = request_config(planned)
    for key in sorted(set(old_config) | set(new_config)):
        if old_config.get(key) != new_config.get(key):
            paths.append(f"config.{key}")
    if bool(prior.get("paused")) != bool(planned.get("paused")):
        paths.append("paused")
    message = pb.Link(
        name=link_name(str(planned.get("name") or prior.get("name"))),
        source=connection_to_pb(planned.get("source"), secrets["source"]),
        destination=connection_to_pb(planned.get("destination"), secrets["destination"]),
        config=new_config,
        paused=bool(planned.get("paused")),
        etag=_text(prior.get("etag")),
    )
    return message, paths


# --------------------------------------------------------------------------- mirror topics

def partitions_state(mirror: pb.MirrorTopic) -> list[dict[str, Any]]:
    return [
        {
            "partition": p.partition,
            "source_end_offset": p.source_end_offset,
            "mirror_end_offset": p.mirror_end_offset,
            "mirrored_source_offset": p.mirrored_source_offset,
            "lag": p.lag,
            "offset_fidelity": fidelity_name(p.offset_fidelity),
        }
        for p in mirror.partitions
    ]


def restore_state_name(restore: pb.Restore) -> str:
    """REQUESTED, SETTING_ASIDE, REPLACING or DONE; "" when no restore was asked for."""
    if not restore.enabled or restore.state == pb.Restore.STATE_UNSPECIFIED \
            or restore.state not in pb.Restore.State.values():
        return ""
    return pb.Restore.State.Name(restore.state)


def set_aside_state(restore: pb.Restore) -> list[dict[str, Any]]:
    """Per diverged partition, what a restore set aside (or, in a dry run, would), by partition."""
    return [
        {
            "partition": s.partition,
            "divergence_offset": s.divergence_offset,
            "end_offset": s.end_offset,
            "records": s.records,
            "side_start_offset": s.side_start_offset,
        }
        for s in sorted(restore.partitions, key=lambda s: s.partition)
    ]


def restore_enabled(block: Mapping[str, Any] | None) -> bool:
    return isinstance(block, Mapping) and block.get("enabled") is True


def restore_request(block: Mapping[str, Any] | None) -> pb.Restore | None:
    """The `restore` block of a planned resource value as the request's Restore (None when not asked
    for). A set-aside topic not yet known (unknown, null) is left to the service's default."""
    if not restore_enabled(block):
        return None
    assert block is not None
    topic = block.get("set_aside_topic")
    return pb.Restore(enabled=True, set_aside_topic=topic if isinstance(topic, str) else "")


def restore_changes(prior: Mapping[str, Any] | None, planned: Mapping[str, Any] | None) -> list[str]:
    """The attributes of the `restore` block whose meaning differs between two values: `enabled`
    when one asks for a restore and the other does not (an absent block and `enabled = false` mean
    the same), `set_aside_topic` when both do and the planned topic is another one, or not known
    yet. A null planned topic leaves it to the service, whose default the prior one is."""
    enabled = planned.get("enabled") if isinstance(planned, Mapping) else None
    if not isinstance(enabled, bool) and enabled is not None:
        return ["enabled"]  # known only at apply: Terraform replaces unless it is the prior value
    if restore_enabled(prior) != restore_enabled(planned):
        return ["enabled"]
    if not restore_enabled(prior):
        return []
    assert prior is not None and planned is not None
    new = planned.get("set_aside_topic")
    return [] if new is None or new == prior.get("set_aside_topic") else ["set_aside_topic"]


def restore_block(restore: pb.Restore, prior: Any) -> dict[str, Any] | None:
    """The `restore` block as read from the service: present when a restore was asked for at
    creation. When none was, a prior block that asks for none either (`enabled = false`) is kept
    as written, so that neither form shows a diff."""
    if restore.enabled:
        return {"enabled": True, "set_aside_topic": restore.set_aside_topic}
    if isinstance(prior, Mapping) and not restore_enabled(prior):
        return {"enabled": False, "set_aside_topic": None}
    return None


def mirror_status(mirror: pb.MirrorTopic) -> dict[str, Any]:
    """The computed, observed part of a mirror topic."""
    return {
        "observed_state": mirror_state_name(mirror.state),
        "reason": mirror.reason,
        "max_lag": mirror.max_lag,
        "offset_fidelity": fidelity_name(mirror.offset_fidelity),
        "partitions": partitions_state(mirror),
        "restore_state": restore_state_name(mirror.restore),
        "set_aside": set_aside_state(mirror.restore),
    }


def mirror_state(
    mirror: pb.MirrorTopic,
    prior: Mapping[str, Any] | None = None,
    declared: str | None = None,
) -> dict[str, Any]:
    """A MirrorTopic message as the `clusterlink_mirror_topic` resource value.

    `state` is `declared` when given (after create or update, the planned value),
    else the observed state mapped to the declared vocabulary.
    `delete_destination_topic_on_destroy` lives only in Terraform: kept from
    `prior`, false when there is none (import).
    """
    prior = prior or {}
    link, topic = mirror_ids_of(mirror.name)
    observed = mirror_state_name(mirror.state)
    return {
        "id": f"{link}/{topic}",
        "link": link,
        "source_topic": mirror.source_topic,
        "name": topic,
        "state": declared or declared_state(observed) or prior.get("state") or "ACTIVE",
        "delete_destination_topic_on_destroy": bool(prior.get("delete_destination_topic_on_destroy") or False),
        "restore": restore_block(mirror.restore, prior.get("restore")),
        **mirror_status(mirror),
    }


def mirror_data(mirror: pb.MirrorTopic) -> dict[str, Any]:
    """A MirrorTopic message as the `clusterlink_mirror_topic` data source value."""
    link, topic = mirror_ids_of(mirror.name)
    observed = mirror_state_name(mirror.state)
    return {
        "id": f"{link}/{topic}",
        "link": link,
        "name": topic,
        "source_topic": mirror.source_topic,
        "state": declared_state(observed) or observed,
        "restore": {"enabled": mirror.restore.enabled, "set_aside_topic": mirror.restore.set_aside_topic},
        **mirror_status(mirror),
    }


def mirror_topics_data(link_id: str, mirrors: Iterable[pb.MirrorTopic]) -> dict[str, Any]:
    """The mirror topics of a link (every page of ListMirrorTopics) as the
    `clusterlink_mirror_topics` data source value: each as `clusterlink_mirror_topic`
    shows it, ordered by name, plus their names."""
    items = sorted((mirror_data(m) for m in mirrors), key=lambda item: item["name"])
    return {
        "id": link_id,
        "link": link_id,
        "mirror_topics": items,
        "names": [item["name"] for item in items],
    }
