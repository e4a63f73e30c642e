"""Offset translation segments (pure functions).

A segment (source_offset, destination_offset) says: from this source offset
on, until the next segment, a record's destination offset is
destination_offset + (source offset - source_offset). No segment means the
partition is exact: destination offset == source offset.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Segment:
    source_offset: int
    destination_offset: int


def source_for_destination(segments: Sequence[Segment], destination_offset: int) -> int:
    """The source offset that belongs at `destination_offset`.

    `segments` sorted by destination offset. Used to find where to resume:
    the destination's end offset maps to the next source offset to read.
    """
    keys = [s.destination_offset for s in segments]
    i = bisect.bisect_right(keys, destination_offset) - 1
    if i < 0:
        return destination_offset
    seg = segments[i]
    return seg.source_offset + (destination_offset - seg.destination_offset)


def destination_for_source(segments: Sequence[Segment], source_offset: int) -> int:
    """The destination offset of `source_offset` (or of the first record after it
    when it fell into a gap). `segments` sorted by source offset."""
    keys = [s.source_offset for s in segments]
    i = bisect.bisect_right(keys, source_offset) - 1
    if i < 0:
        return source_offset
    seg = segments[i]
    offset = seg.destination_offset + (source_offset - seg.source_offset)
    if i + 1 < len(segments):
        # Inside a gap the records are missing: the next record sits where
        # the next segment starts.
        offset = min(offset, segments[i + 1].destination_offset)
    return offset


def is_exact(segments: Sequence[Segment]) -> bool:
    return all(s.source_offset == s.destination_offset for s in segments)
