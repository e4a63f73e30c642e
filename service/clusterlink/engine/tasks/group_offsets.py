"""The consumer offset sync task: source group offsets onto the destination.

Every run: list the source's consumer groups, keep those the filters pass,
read their committed offsets, keep the partitions of this link's mirror
topics that are mirroring, translate each offset to the destination
(through the segments, and never past what the mirror holds), and commit
them on the destination to the group of the same name (or the prefixed
name), with the commit metadata. A destination group with active members is
left alone and named in the run's message. Groups are never deleted.

`plan` is pure; `GroupOffsetSync.run` does the admin calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from clusterlink.config import filters as name_filters
from clusterlink.engine.segments import Segment, destination_for_source
from clusterlink.engine.tasks import shown
from clusterlink.engine.tasks.errors import ADMIN_ERRORS, SideError
from clusterlink.kafka.groups import GroupOffsetReader, GroupOffsets

TASK_NAME = "ConsumerOffsetSync"
# Destination group states in which nobody consumes: offsets may be written.
_IDLE_STATES = ("EMPTY", "DEAD", "UNKNOWN")


@dataclass(frozen=True)
class MirroredPartition:
    mirrored_source_offset: int     # every source offset below it is on the destination
    segments: tuple[Segment, ...]   # sorted by source offset


@dataclass(frozen=True)
class MirroredTopic:
    destination_topic: str
    partitions: Mapping[int, MirroredPartition]


@dataclass(frozen=True)
class Commit:
    topic: str
    partition: int
    offset: int
    metadata: str


def translate(committed: int, part: MirroredPartition) -> int:
    """The destination offset for a source group's committed offset: never past
    what the mirror holds, so a consumer that fails over skips nothing."""
    return destination_for_source(part.segments, min(committed, part.mirrored_source_offset))


def plan(committed: Mapping[str, Mapping[tuple[str, int], tuple[int, str]]],
         mirrored: Mapping[str, MirroredTopic], prefix: str) -> dict[str, list[Commit]]:
    """Source group -> {(source topic, partition): (offset, metadata)} into
    destination group -> commits, for mirrored partitions only."""
    out: dict[str, list[Commit]] = {}
    for group, offsets in committed.items():
        commits = []
        for (topic, partition), (offset, metadata) in sorted(offsets.items()):
            mirror = mirrored.get(topic)
            part = mirror.partitions.get(partition) if mirror else None
            if mirror is None or part is None or offset < 0:
                continue
            commits.append(Commit(mirror.destination_topic, partition, translate(offset, part), metadata))
        if commits:
            out[prefix + group] = commits
    return out


@dataclass
class RunReport:
    groups: int = 0
    partitions: int = 0
    left_alone: list[str] = field(default_factory=list)

    def message(self) -> str:
        text = f"synced {self.groups} group(s), {self.partitions} partition offset(s)"
        if self.left_alone:
            text += f"; left alone (active members on the destination): {shown(self.left_alone)}"
        return text


@dataclass
class GroupOffsetSync:
    src_admin: AdminClient
    src_groups: GroupOffsetReader
    dst_admin: AdminClient
    group_filters: tuple[name_filters.NameFilter, ...]
    prefix: str
    timeout: float
    # What this task last wrote, so an unchanged offset is not written again.
    _written: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def run(self, mirrored: Callable[[], Mapping[str, MirroredTopic]],
            only_topics: frozenset[str] | None = None) -> RunReport:
        """One sync. `only_topics` (source topics) limits it, as promote does."""
        groups = self._source_groups()
        committed = self._source_offsets(groups)
        topics = mirrored()
        if only_topics is not None:
            topics = {t: m for t, m in topics.items() if t in only_topics}
        wanted = plan(committed, topics, self.prefix)
        report = RunReport()
        busy = self._busy_destination_groups(list(wanted))
        report.left_alone = sorted(busy)
        futures = []
        for group, commits in sorted(wanted.items()):
            if group in busy:
                continue
            report.groups += 1
            report.partitions += len(commits)
            changed = [c for c in commits if self._written.get((group, c.topic, c.partition)) != c.offset]
            if not changed:
                continue
            tps = [TopicPartition(c.topic, c.partition, c.offset, metadata=c.metadata) for c in changed]
            try:
                fut = self.dst_admin.alter_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group, tps)], request_timeout=self.timeout)[group]
            except ADMIN_ERRORS as exc:
                raise SideError("destination", exc) from exc
            futures.append((group, changed, fut))
        for group, changed, fut in futures:
            try:
                result = fut.result(self.timeout)
            except ADMIN_ERRORS as exc:
                raise SideError("destination", exc) from exc
            for tp in result.topic_partitions or []:
                if tp.error is not None:
                    raise SideError("destination", KafkaException(tp.error))
            for c in changed:
                self._written[(group, c.topic, c.partition)] = c.offset
        return report

    def _source_groups(self) -> list[str]:
        try:
            listed = self.src_admin.list_consumer_groups(request_timeout=self.timeout).result(self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("source", exc) from exc
        names = sorted(g.group_id for g in listed.valid)
        return [g for g in names if name_filters.passes(self.group_filters, g)]

    def _source_offsets(self, groups: list[str]) -> dict[str, GroupOffsets]:
        try:
            found = self.src_groups.read(groups)
        except ADMIN_ERRORS as exc:
            raise SideError("source", exc) from exc
        return {g: {tp: (offset, metadata) for tp, (offset, metadata) in offsets.items() if offset >= 0}
                for g, offsets in found.items()}

    def _busy_destination_groups(self, groups: list[str]) -> set[str]:
        if not groups:
            return set()
        try:
            futures = self.dst_admin.describe_consumer_groups(groups, request_timeout=self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("destination", exc) from exc
        busy = set()
        for group, fut in futures.items():
            try:
                desc = fut.result(self.timeout)
            except ADMIN_ERRORS as exc:
                if isinstance(exc, KafkaException) and _group_not_found(exc):
                    continue
                raise SideError("destination", exc) from exc
            state = getattr(desc.state, "name", str(desc.state)).upper()
            if desc.members or state not in _IDLE_STATES:
                busy.add(group)
        return busy


def _group_not_found(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return getattr(err, "name", lambda: "")() == "GROUP_ID_NOT_FOUND"
