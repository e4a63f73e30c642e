"""The topic config sync task: each mirror topic keeps its source topic's configs.

Every run reads the dynamic configs (those set on the topic itself) of all
mirroring source topics and of their mirror topics, two DescribeConfigs
requests in all that ask for the synced keys only, and applies the difference
for the synced keys
(config.topic_configs) in one IncrementalAlterConfigs request: a key set or
changed on the source is set on the mirror, a key removed on the source is
removed from the mirror. Partition growth stays the topology step's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient

from clusterlink.config import topic_configs
from clusterlink.engine.tasks import shown
from clusterlink.engine.tasks.errors import ADMIN_ERRORS, SideError
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection

TASK_NAME = "TopicConfigSync"


@dataclass
class Report:
    topics: int = 0
    changed: list[str] = field(default_factory=list)   # "mirror topic: key=value, -key"

    def message(self) -> str:
        text = f"{self.topics} mirror topic(s) in sync"
        if self.changed:
            text += "; changed " + shown(self.changed, "; ")
        return text


@dataclass
class ConfigSync:
    source: Connection
    destination: Connection
    dst_admin: AdminClient  # writes the changes
    keys: frozenset[str]
    timeout: float

    def run(self, mirrored: Callable[[], Mapping[str, str]]) -> Report:
        """`mirrored`: source topic -> mirror topic, for the mirrors that are mirroring."""
        pairs = dict(mirrored())
        if not pairs:
            return Report()
        try:
            source = wire.dynamic_topic_configs(self.source, set(pairs), self.keys, self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("source", exc) from exc
        try:
            mirror = wire.dynamic_topic_configs(self.destination, set(pairs.values()), self.keys, self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("destination", exc) from exc
        report = Report()
        changes: dict[str, tuple[dict[str, str], list[str]]] = {}
        for src_topic, dst_topic in sorted(pairs.items()):
            src, dst = source.get(src_topic), mirror.get(dst_topic)
            if src is None or dst is None:
                continue  # deleted meanwhile: the topology step fails the mirror
            report.topics += 1
            to_set, to_delete = topic_configs.sync_plan(src, dst, self.keys)
            if to_set or to_delete:
                changes[dst_topic] = (to_set, to_delete)
                report.changed.append(f"{dst_topic}: " + ", ".join(
                    [f"{k}={v}" for k, v in to_set.items()] + [f"-{k}" for k in to_delete]))
        try:
            problems = kadmin.alter_topic_configs_many(self.dst_admin, changes, self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("destination", exc) from exc
        for topic, problem in sorted(problems.items()):
            if problem is not None:
                raise SideError("destination", problem)
        return report
