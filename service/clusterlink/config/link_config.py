"""Link config keys: every knob named, typed, defaulted and documented.

Unknown keys are refused by the API. The README's "Link config" table is
generated from KNOBS (see `clusterlink link config-keys`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOPIC_CHARS = re.compile(r"^[a-zA-Z0-9._-]*$")
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")


@dataclass(frozen=True)
class Knob:
    key: str
    default: str
    doc: str
    check: Callable[[str], str | None]  # returns an error text or None


def _int_range(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            return f"must be a whole number from {low} to {high}"
        if not low <= number <= high:
            return f"must be from {low} to {high}"
        return None

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _prefix(value: str) -> str | None:
    if len(value) > 200:
        return "must be at most 200 characters"
    if not _TOPIC_CHARS.match(value):
        return "may contain only ASCII letters, digits, '.', '_' and '-'"
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
            "mirror.batch.max.records",
            "10000",
            "Most records a worker reads from the source in one batch before handing them to the producer.",
            _int_range(1, 1_000_000),
        ),
        Knob(
            "mirror.fetch.max.bytes",
            "52428800",
            "Most bytes the source consumer fetches in one request (librdkafka fetch.max.bytes).",
            _int_range(1024, 1_073_741_824),
        ),
        Knob(
            "mirror.buffer.max.kbytes",
            "262144",
            "Most KiB a worker buffers on each side: records prefetched from the source, and "
            "records queued for the destination. Larger buffers ride out latency spikes; each "
            "mirror topic may use up to twice this much memory under backlog.",
            _int_range(1024, 4_194_304),
        ),
        Knob(
            "mirror.producer.compression.type",
            "lz4",
            "Compression of batches written to the destination.",
            _one_of(*COMPRESSION_TYPES),
        ),
        Knob(
            "mirror.producer.linger.ms",
            "5",
            "How long the destination producer waits to fill a batch.",
            _int_range(0, 60_000),
        ),
        Knob(
            "mirror.status.interval.ms",
            "1000",
            "How often a worker checks the source and writes status (offsets, lag) to the store.",
            _int_range(100, 600_000),
        ),
        Knob(
            "source.request.timeout.ms",
            "5000",
            "How long a source request may take before the mirror reports SOURCE_UNAVAILABLE.",
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
    return errors


def effective(config: Mapping[str, str]) -> dict[str, str]:
    """The config with defaults filled in for keys that are not set."""
    return {key: config.get(key, knob.default) for key, knob in KNOBS.items()}
