"""Which topic configs a mirror topic takes from its source topic.

A mirror topic gets its source topic's dynamic configs (the ones set on the
topic, not broker defaults) for the keys in `synced_keys`: at creation, and
afterwards on every run of the topic config sync task, which also removes a
key from the mirror once it is removed on the source.

The default set is DEFAULT_SYNCED; `topic.config.sync.include` adds keys and
`topic.config.sync.exclude` removes them. NEVER_SYNCED keys are refused in
both: the mirror fixes some of them (CreateTime timestamps and
compression.type=producer, for byte-for-byte copies), and the others only
make sense per cluster (placement, replication throttles, tiered storage).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_SYNCED: tuple[str, ...] = (
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "segment.bytes",
    "segment.ms",
    "segment.jitter.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "flush.messages",
    "flush.ms",
    "preallocate",
    "file.delete.delay.ms",
)

NEVER_SYNCED: dict[str, str] = {
    "message.timestamp.type": "a mirror keeps CreateTime, so records keep the source's timestamps",
    "compression.type": "a mirror keeps compression.type=producer, so batches stay byte for byte",
    "compression.gzip.level": "a mirror never recompresses",
    "compression.lz4.level": "a mirror never recompresses",
    "compression.zstd.level": "a mirror never recompresses",
    "leader.replication.throttled.replicas": "replication throttles are per cluster",
    "follower.replication.throttled.replicas": "replication throttles are per cluster",
    "confluent.placement.constraints": "replica placement is per cluster",
    "remote.storage.enable": "tiered storage is per cluster",
    "local.retention.ms": "tiered storage is per cluster",
    "local.retention.bytes": "tiered storage is per cluster",
}

_KEY = re.compile(r"[a-z][a-z0-9.]*[a-z0-9]")


def parse_keys(value: str) -> tuple[str, ...]:
    """A comma-separated key list, e.g. "min.insync.replicas,unclean.leader.election.enable"."""
    return tuple(k.strip() for k in value.split(",") if k.strip())


def key_problem(value: str) -> str | None:
    """Why a comma-separated key list cannot be used, or None."""
    for key in parse_keys(value):
        if not _KEY.fullmatch(key):
            return f"has {key!r}, which is not a topic config name (lower case words joined by '.')"
        if key in NEVER_SYNCED:
            return f"names {key}, which is never synced: {NEVER_SYNCED[key]}"
    return None


def synced_keys(include: Iterable[str], exclude: Iterable[str]) -> frozenset[str]:
    return (frozenset(DEFAULT_SYNCED) | frozenset(include)) - frozenset(exclude) - frozenset(NEVER_SYNCED)


def sync_plan(source: dict[str, str], mirror: dict[str, str],
              keys: frozenset[str]) -> tuple[dict[str, str], list[str]]:
    """Dynamic configs of a source topic and its mirror -> (keys to set, keys to delete) on the mirror.

    Only keys in `keys` are looked at: a synced key the source sets is set to
    the source's value, and a synced key the source does not set (any more)
    is removed from the mirror, which then falls back to the broker default.
    """
    want = {k: v for k, v in source.items() if k in keys}
    to_set = {k: v for k, v in sorted(want.items()) if mirror.get(k) != v}
    to_delete = sorted(k for k in mirror if k in keys and k not in want)
    return to_set, to_delete
