"""The topic config sync task: each mirror topic keeps its source topic's configs.

Every run reads the dynamic configs (those set on the topic itself) of all
mirroring source topics and of their mirror topics, two DescribeConfigs
requests in all, and applies the difference for the synced keys
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
    src_admin: AdminClient
    dst_admin: AdminClient
    keys: frozenset[str]
    timeout: float

    def run(self, mirrored: Callable[[], Mapping[str, str]]) -> Report:
        """`mirrored`: source topic -> mirror topic, for the mirrors that are mirroring."""
        pairs = dict(mirrored())
        if not pairs:
            return Report()
        try:
            source = kadmin.dynamic_configs_many(self.src_admin, set(pairs), self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("source", exc) from exc
        try:
            mirror = kadmin.dynamic_configs_many(self.dst_admin, set(pairs.values()), self.timeout)
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
