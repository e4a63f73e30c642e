"""Link config keys: every knob named, typed, defaulted and documented.

Unknown keys are refused by the API. The README's "Link config" table is
generated from KNOBS (see `clusterlink link config-keys`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from clusterlink.config import filters, topic_configs
from clusterlink.config.numbers import NumberError, parse_int

_TOPIC_CHARS = re.compile(r"[a-zA-Z0-9._-]*")
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")


@dataclass(frozen=True)
class Knob:
    key: str
    default: str
    doc: str
    check: Callable[[str], str | None]  # returns an error text or None
    max_len: int = 256                  # longest value accepted


def _int_range(low: int, high: int) -> Callable[[str], str | None]:
    # Strict: ASCII digits only (config.numbers, shared with the CLI).
    def check(value: str) -> str | None:
        try:
            parse_int(value, low, high)
        except NumberError as exc:
            return str(exc)
        return None

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _prefix(value: str) -> str | None:
    if len(value) > 200:
        return "must be at most 200 characters"
    if not _TOPIC_CHARS.fullmatch(value):
        return "may contain only ASCII letters, digits, '.', '_' and '-'"
    return None


def _filters(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """A check for a filter key: empty, or a value `parse` accepts."""
    def check(value: str) -> str | None:
        if not value:
            return None
        try:
            parse(value)
        except filters.FilterError as exc:
            return str(exc)
        return None

    return check


def _group_prefix(value: str) -> str | None:
    if len(value) > 200:
        return "must be at most 200 characters"
    if not value.isascii() or not value.isprintable() or " " in value:
        return "may contain only printable ASCII characters without spaces"
    return None


KNOBS: dict[str, Knob] = {
    k.key: k
    for k in (
        Knob(
            "mirror.topic.prefix",
            "",
            "Prefix put before the source topic name to name a mirror topic "
            "(hub and spoke, aggregation, two-way links). Applies to mirror topics created later.",
            _prefix,
        ),
        Knob(
            "mirror.fetch.max.bytes",
            "52428800",
            "Most bytes one Fetch request to a source broker may return (all partitions of the link "
            "that broker leads). The link holds at most one such answer per source broker in memory.",
            _int_range(1024, 1_073_741_824),
        ),
        Knob(
            "mirror.fetch.partition.max.bytes",
            "10485760",
            "Most bytes one Fetch request may return for one partition. A batch larger than this is "
            "still returned whole when it is the first one.",
            _int_range(1024, 1_073_741_824),
        ),
        Knob(
            "mirror.fetch.max.wait.ms",
            "500",
            "How long a source broker may hold a Fetch when it has no new records. Higher means fewer "
            "requests on an idle link; it does not delay records that arrive meanwhile.",
            _int_range(10, 30_000),
        ),
        Knob(
            "mirror.buffer.max.kbytes",
            "262144",
            "Most KiB of fetched batches the link queues for the destination, all its mirror topics "
            "together; fetching pauses above it. Batches wait in the buffer their Fetch answer arrived "
            "in, which counts whole while any of them waits. With the fetch answers in flight, this "
            "bounds the link's memory, whatever the number of mirror topics.",
            _int_range(1024, 4_194_304),
        ),
        Knob(
            "mirror.produce.max.in.flight",
            "5",
            "Most Produce requests in flight on one destination connection. Each carries at most one "
            "batch per partition, so this is also the most batches of one partition in flight.",
            _int_range(1, 32),
        ),
        Knob(
            "mirror.produce.connections",
            "3",
            "Connections to each destination broker for Produce requests. A broker answers one "
            "connection's requests in turn: batches of 64 KiB or more spread over the connections, "
            "smaller ones share the first so that one request carries many partitions. A partition's "
            "writes in flight always share one connection, which keeps them in order.",
            _int_range(1, 16),
        ),
        Knob(
            "mirror.produce.request.max.bytes",
            "491520",
            "Most bytes of batches in one Produce request (one batch per partition; a single larger "
            "batch still goes alone). A broker holds each request whole on its heap, and G1 allocates "
            "anything of half a region or more (512 KiB on heaps under 4 GiB) as a humongous object, "
            "which costs it concurrent GC cycles: the default keeps requests under that.",
            _int_range(65_536, 104_857_600),
        ),
        Knob(
            "destination.request.timeout.ms",
            "30000",
            "How long a Produce request may wait for the destination (acks=all) before the partition "
            "starts again from the destination's end offset.",
            _int_range(1000, 600_000),
        ),
        Knob(
            "mirror.batch.max.records",
            "10000",
            "Retired: batches are copied as the source wrote them, so this has no effect. Accepted so "
            "that existing declarations keep working.",
            _int_range(1, 1_000_000),
        ),
        Knob(
            "mirror.producer.compression.type",
            "lz4",
            "Retired: batches keep the source's codec byte for byte (mirror topics use "
            "compression.type=producer), so this has no effect. Accepted so that existing "
            "declarations keep working.",
            _one_of(*COMPRESSION_TYPES),
        ),
        Knob(
            "mirror.producer.linger.ms",
            "5",
            "Retired: batches are written as soon as they are fetched, so this has no effect. "
            "Accepted so that existing declarations keep working.",
            _int_range(0, 60_000),
        ),
        Knob(
            "restore.transaction.records",
            "20000",
            "Most records a restore (failback, mirror create --restore) sets aside in one Kafka "
            "transaction. A restarted service re-copies at most this many.",
            _int_range(1, 1_000_000),
        ),
        Knob(
            "mirror.status.interval.ms",
            "1000",
            "How often the link writes the status (offsets, lag) of all its mirror topics to the store, "
            "in one transaction.",
            _int_range(100, 600_000),
        ),
        Knob(
            "consumer.offset.sync.enable",
            "false",
            "Copy the committed offsets of the source's consumer groups that match "
            "consumer.offset.group.filters to the destination, for partitions of this link's mirror "
            "topics while they mirror. Offsets are translated through the segments, never ahead of "
            "what the mirror holds; groups with active members on the destination are left alone; "
            "no group is ever deleted.",
            _one_of("true", "false"),
        ),
        Knob(
            "consumer.offset.group.filters",
            "",
            'Which consumer groups the offset sync copies, in Cluster Linking\'s JSON form: '
            '{"groupFilters":[{"name":"app","patternType":"LITERAL","filterType":"INCLUDE"}]}. '
            "patternType LITERAL (\"*\" alone means all), PREFIXED or GLOB; filterType INCLUDE or "
            "EXCLUDE; any case; a group passes when an INCLUDE matches and no EXCLUDE does. Required "
            "when consumer.offset.sync.enable is true.",
            _filters(lambda value: filters.parse(value, "groupFilters")),
            max_len=16384,
        ),
        Knob(
            "consumer.offset.sync.ms",
            "30000",
            "How often the consumer offset sync runs. A consumer that fails over re-reads at most about "
            "this much of its traffic.",
            _int_range(1000, 86_400_000),
        ),
        Knob(
            "consumer.group.prefix",
            "",
            "Prefix put before a source group's name to name its group on the destination (hub and "
            "spoke). Empty: the same name.",
            _group_prefix,
        ),
        Knob(
            "auto.create.mirror.topics.enable",
            "false",
            "Create a mirror topic (named with mirror.topic.prefix) for every source topic that "
            "auto.create.mirror.topics.filters passes and that has no mirror topic on this link yet. "
            "Internal topics (names starting with __) and the mirror topics of links whose destination "
            "is this link's source (the other half of a two-way pair) are never mirrored. Mirror topics "
            "are never deleted by this task: to stop mirroring a topic, delete its mirror topic and "
            "add an EXCLUDE filter.",
            _one_of("true", "false"),
        ),
        Knob(
            "auto.create.mirror.topics.filters",
            "",
            'Which source topics get a mirror topic, in Cluster Linking\'s JSON form: '
            '{"topicFilters":[{"name":"orders.","patternType":"PREFIXED","filterType":"INCLUDE"}]}; '
            "same rules as consumer.offset.group.filters. Required when "
            "auto.create.mirror.topics.enable is true.",
            _filters(lambda value: filters.parse(value, "topicFilters")),
            max_len=16384,
        ),
        Knob(
            "auto.create.mirror.topics.ms",
            "60000",
            "How often the source's topics are listed for new topics that pass the filters.",
            _int_range(1000, 86_400_000),
        ),
        Knob(
            "topic.config.sync.enable",
            "true",
            "Keep each mirror topic's configs equal to its source topic's: a dynamic config set, changed "
            "or removed on the source follows on the mirror, for the keys of topic.config.sync.include "
            "and .exclude. The keys are always copied when a mirror topic is created.",
            _one_of("true", "false"),
        ),
        Knob(
            "topic.config.sync.ms",
            "30000",
            "How often the topic config sync compares the source topics' configs with their mirrors'.",
            _int_range(1000, 86_400_000),
        ),
        Knob(
            "topic.config.sync.include",
            "",
            "Comma-separated topic config keys synced on top of the default set ("
            + ", ".join(topic_configs.DEFAULT_SYNCED) + "). Never synced: "
            + ", ".join(topic_configs.NEVER_SYNCED) + ".",
            topic_configs.key_problem,
            max_len=4096,
        ),
        Knob(
            "topic.config.sync.exclude",
            "",
            "Comma-separated topic config keys taken out of the synced set: the mirror keeps its own "
            "value for them.",
            topic_configs.key_problem,
            max_len=4096,
        ),
        Knob(
            "acl.sync.enable",
            "false",
            "Create the source's ACLs that acl.filters passes on the destination, with mirror.topic.prefix "
            "put before TOPIC resource names (LITERAL and PREFIXED; the LITERAL wildcard * becomes PREFIXED "
            "on the prefix). An ACL that vanishes from the source is deleted from the destination only if "
            "this link created it; no other ACL is touched. Needs DESCRIBE on the source's CLUSTER and "
            "ALTER on the destination's.",
            _one_of("true", "false"),
        ),
        Knob(
            "acl.filters",
            "",
            'Which source ACLs are synced, in Cluster Linking\'s JSON form: {"aclFilters":[{"resourceFilter":'
            '{"resourceType":"TOPIC","name":"orders","patternType":"LITERAL"},"accessFilter":{"principal":'
            '"User:alice","host":"*","operation":"ANY","permissionType":"ANY"}}]}. Each filter is a Kafka ACL '
            "binding filter; a missing field matches any value; enums in any case. Required when "
            "acl.sync.enable is true.",
            _filters(filters.parse_acl_filters),
            max_len=16384,
        ),
        Knob(
            "acl.sync.ms",
            "30000",
            "How often the ACL sync runs.",
            _int_range(1000, 86_400_000),
        ),
        Knob(
            "source.request.timeout.ms",
            "5000",
            "How long the source may go unanswered before a mirror reports SOURCE_UNAVAILABLE; also the "
            "timeout of admin calls on both clusters.",
            _int_range(500, 600_000),
        ),
    )
}


def validate(config: Mapping[str, str]) -> list[str]:
    """Returns one error text per bad entry (empty when all are good)."""
    errors = []
    for key, value in sorted(config.items()):
        knob = KNOBS.get(key)
        if knob is None:
            errors.append(f"config key {key!r} is unknown; known keys: {', '.join(sorted(KNOBS))}")
            continue
        problem = knob.check(value)
        if problem:
            errors.append(f"config {key}={value!r} {problem}")
    return errors or combination_problems(config)


def combination_problems(config: Mapping[str, str]) -> list[str]:
    """Problems between keys (each key's own value already checked)."""
    problems = []
    if config.get("consumer.offset.sync.enable") == "true" and not config.get("consumer.offset.group.filters"):
        problems.append(
            "consumer.offset.sync.enable=true needs consumer.offset.group.filters, e.g. "
            '{"groupFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]} for every group')
    if config.get("auto.create.mirror.topics.enable") == "true" and not config.get("auto.create.mirror.topics.filters"):
        problems.append(
            "auto.create.mirror.topics.enable=true needs auto.create.mirror.topics.filters, e.g. "
            '{"topicFilters":[{"name":"orders.","patternType":"PREFIXED","filterType":"INCLUDE"}]}')
    if config.get("acl.sync.enable") == "true" and not config.get("acl.filters"):
        problems.append(
            "acl.sync.enable=true needs acl.filters, e.g. "
            '{"aclFilters":[{"resourceFilter":{"resourceType":"TOPIC"},"accessFilter":{}}]} for every topic ACL')
    both = set(topic_configs.parse_keys(config.get("topic.config.sync.include", ""))) & set(
        topic_configs.parse_keys(config.get("topic.config.sync.exclude", "")))
    if both:
        problems.append(f"topic.config.sync.include and topic.config.sync.exclude both name {', '.join(sorted(both))}; "
                        "keep each key in one of them")
    return problems


def runs_without_mirrors(config: Mapping[str, str]) -> bool:
    """Whether the link needs its runtime even with no mirror topic (its tasks look at the whole cluster)."""
    return config.get("auto.create.mirror.topics.enable") == "true" or config.get("acl.sync.enable") == "true"


def effective(config: Mapping[str, str]) -> dict[str, str]:
    """The config with defaults filled in for keys that are not set."""
    return {key: config.get(key, knob.default) for key, knob in KNOBS.items()}
