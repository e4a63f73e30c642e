"""Pure mapping between Terraform values (dicts) and clusterlink.v1 messages.

Nothing here talks to the service or to Terraform, so every rule is unit tested
(tests/unit/test_provider_mapping.py). The rules themselves (validation,
defaults of the link config, which transition is allowed) belong to the
service; this module only translates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from clusterlink.api.validation import shown
from clusterlink.config.filters import DEFAULT_FILTER_TYPE, DEFAULT_PATTERN_TYPE, NameFilter, dumps
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


def tasks_state(status: pb.LinkStatus) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "state": pb.LinkTask.State.Name(t.state) if t.state in pb.LinkTask.State.values() else "STATE_UNSPECIFIED",
            "last_error": t.last_error,
        }
        for t in status.tasks
    ]


# --------------------------------------------------------------------------- consumer offset sync block

ENABLE_KEY = "consumer.offset.sync.enable"
FILTERS_KEY = "consumer.offset.group.filters"
INTERVAL_KEY = "consumer.offset.sync.ms"
PREFIX_KEY = "consumer.group.prefix"
SYNC_KEYS = (ENABLE_KEY, FILTERS_KEY, INTERVAL_KEY, PREFIX_KEY)
DEFAULT_SYNC_INTERVAL_MS = 30000


def sync_block_config(block: Mapping[str, Any] | None) -> dict[str, str]:
    """The link config keys a `consumer_offset_sync { ... }` block stands for."""
    if not block:
        return {}
    config = {ENABLE_KEY: "true" if block.get("enabled") else "false"}
    filters = [
        NameFilter(_text(f.get("name")), _text(f.get("pattern_type")) or DEFAULT_PATTERN_TYPE,
                   _text(f.get("filter_type")) or DEFAULT_FILTER_TYPE)
        for f in block.get("group_filter") or []
    ]
    if filters:
        config[FILTERS_KEY] = dumps(filters, "groupFilters")
    interval = block.get("interval_ms")
    config[INTERVAL_KEY] = str(int(interval) if interval is not None else DEFAULT_SYNC_INTERVAL_MS)
    if _text(block.get("group_prefix")):
        config[PREFIX_KEY] = _text(block.get("group_prefix"))
    return config


def sync_block_of(config: Mapping[str, str]) -> dict[str, Any] | None:
    """The `consumer_offset_sync` block read back from a link's config (None when no key is set).

    A filter value that is not the JSON form the block writes (set by hand
    elsewhere) is shown as one filter named after the raw value, so a plan
    shows the difference instead of failing.
    """
    if not any(key in config for key in SYNC_KEYS):
        return None
    filters: list[dict[str, Any]] = []
    raw = config.get(FILTERS_KEY, "")
    if raw:
        try:
            items = json.loads(raw)["groupFilters"]
            filters = [{"name": str(i.get("name", "*")),
                        "pattern_type": str(i.get("patternType", DEFAULT_PATTERN_TYPE)),
                        "filter_type": str(i.get("filterType", DEFAULT_FILTER_TYPE))} for i in items]
        except (ValueError, KeyError, TypeError, AttributeError):
            filters = [{"name": raw, "pattern_type": "", "filter_type": ""}]
    interval = config.get(INTERVAL_KEY, "")
    return {
        "enabled": config.get(ENABLE_KEY) == "true",
        "interval_ms": int(interval) if interval.isdigit() else DEFAULT_SYNC_INTERVAL_MS,
        "group_prefix": config.get(PREFIX_KEY, ""),
        "group_filter": filters,
    }


def request_config(state: Mapping[str, Any]) -> dict[str, str]:
    """The whole link config a resource value asks for: `config` plus the typed blocks."""
    config = {str(k): _text(v) for k, v in (state.get("config") or {}).items()}
    config.update(sync_block_config(state.get("consumer_offset_sync")))
    return config


def split_config(config: Mapping[str, str], prior: Mapping[str, Any] | None) -> tuple[dict[str, str], Any]:
    """A link's config as (`config` map, `consumer_offset_sync` block) for the state.

    The sync keys belong to the block, unless the prior value holds them in
    its `config` map (a configuration that sets them as plain keys).
    """
    plain = (prior or {}).get("config") or {}
    if any(key in plain for key in SYNC_KEYS):
        return dict(config), None
    return {k: v for k, v in config.items() if k not in SYNC_KEYS}, sync_block_of(config)


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
    config, sync = split_config(link.config, prior)
    return {
        "id": link_id,
        "name": link_id,
        "source": connection_state(link.source, prior.get("source")),
        "destination": connection_state(link.destination, prior.get("destination")),
        "config": config,
        "consumer_offset_sync": sync,
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


def mirror_status(mirror: pb.MirrorTopic) -> dict[str, Any]:
    """The computed, observed part of a mirror topic."""
    return {
        "observed_state": mirror_state_name(mirror.state),
        "reason": mirror.reason,
        "max_lag": mirror.max_lag,
        "offset_fidelity": fidelity_name(mirror.offset_fidelity),
        "partitions": partitions_state(mirror),
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
