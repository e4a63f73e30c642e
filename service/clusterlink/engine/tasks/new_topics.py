"""The new topics task: a mirror topic for every new source topic the filters pass.

Every run lists the source's topics and, for each one that passes
`auto.create.mirror.topics.filters` and has no mirror topic on this link yet,
writes a mirror topic row (PENDING, named with the link's prefix) through the
store. The reconciler then starts it like any other mirror topic. The task
never deletes a mirror topic: a source topic deleted later fails its mirror,
as for any mirror topic.

Never mirrored:
- internal topics (names starting with ``__``);
- the mirror topics of other links whose destination is this link's source:
  the other half of a two-way pair. Copying them back would copy a cluster's
  own data onto itself, and with wide filters on both links it would loop
  (a.b.a.orders ...). Links are matched by cluster id, which every runtime
  records in the store.

`plan` is pure; `NewTopics.run` does the listing and the store writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient

from clusterlink.config import filters as name_filters
from clusterlink.engine.tasks import shown
from clusterlink.engine.tasks.errors import ADMIN_ERRORS, SideError

TASK_NAME = "AutoCreateMirrorTopics"
TOPIC_MAX_LEN = 249


@dataclass(frozen=True)
class Existing:
    """What the store holds that concerns this link's new topics."""

    mirrored_sources: frozenset[str]   # source topics with a mirror topic on this link (any state)
    names: frozenset[str]              # this link's mirror topic names
    foreign_mirrors: frozenset[str]    # mirror topics on the source, written there by other links


@dataclass
class Plan:
    create: list[tuple[str, str]] = field(default_factory=list)   # (mirror topic, source topic)
    skipped: list[str] = field(default_factory=list)               # why a passing topic got no mirror


def plan(source_topics: Iterable[str], topic_filters: tuple[name_filters.NameFilter, ...],
         prefix: str, existing: Existing) -> Plan:
    out = Plan()
    for topic in sorted(source_topics):
        if topic.startswith("__") or topic in existing.foreign_mirrors:
            continue
        if topic in existing.mirrored_sources or not name_filters.passes(topic_filters, topic):
            continue
        name = prefix + topic
        if len(name) > TOPIC_MAX_LEN:
            out.skipped.append(f"{topic}: the mirror topic name {prefix!r} + {topic!r} is longer than "
                               f"{TOPIC_MAX_LEN} characters")
        elif name in existing.names:
            out.skipped.append(f"{topic}: this link already has a mirror topic named {name!r} "
                               "(mirroring another source topic)")
        else:
            out.create.append((name, topic))
    return out


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mirrored: int = 0

    def message(self) -> str:
        text = f"{self.mirrored} source topic(s) mirrored on this link"
        if self.created:
            text += f"; created mirror topic(s) {shown(self.created)}"
        if self.skipped:
            text += "; not created: " + "; ".join(self.skipped[:5])
        return text


@dataclass
class NewTopics:
    src_admin: AdminClient
    topic_filters: tuple[name_filters.NameFilter, ...]
    prefix: str
    timeout: float
    # source cluster id -> what the store holds (read fresh every run)
    existing: Callable[[str], Existing]
    # writes the rows; returns the names it created (a concurrent API create may win a name)
    create_rows: Callable[[list[tuple[str, str]]], list[str]]

    def run(self) -> Report:
        try:
            meta = self.src_admin.list_topics(timeout=self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("source", exc) from exc
        topics = [name for name, info in meta.topics.items() if info.error is None]
        existing = self.existing(meta.cluster_id or "")
        todo = plan(topics, self.topic_filters, self.prefix, existing)
        report = Report(skipped=todo.skipped)
        if todo.create:
            report.created = self.create_rows(todo.create)
        report.mirrored = len(existing.mirrored_sources) + len(report.created)
        return report
