"""What workers write to the store: observed state, progress, segments.

Workers move lifecycle states only with compare-and-set updates, so an
operator's change (pause, failover, delete) made meanwhile always wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.engine.segments import Segment
from clusterlink.store.db import transaction
from clusterlink.store.models import Link, LinkTask, MirrorPartition, MirrorTopic, TranslationSegment, utcnow


@dataclass(frozen=True)
class PartitionProgress:
    partition: int
    source_log_start_offset: int
    source_end_offset: int
    mirror_end_offset: int
    mirrored_source_offset: int
    translated: bool

    @property
    def lag(self) -> int:
        return max(0, self.source_end_offset - self.mirrored_source_offset)


@dataclass(frozen=True)
class MirrorOrders:
    """What the store currently asks of a mirror's worker."""

    state: str
    link_paused: bool


Factory = sessionmaker[Session]


def read_orders(factory: Factory, mirror_id: int) -> MirrorOrders | None:
    with factory() as session:
        row = session.get(MirrorTopic, mirror_id)
        if row is None:
            return None
        return MirrorOrders(state=row.state, link_paused=row.link.paused)


def compare_and_set_state(
    factory: Factory, mirror_id: int, expected: Iterable[str], new_state: str, reason: str = ""
) -> bool:
    with transaction(factory) as session:
        result = session.execute(
            update(MirrorTopic)
            .where(MirrorTopic.id == mirror_id, MirrorTopic.state.in_(list(expected)))
            .values(
                state=new_state,
                reason=reason,
                version=MirrorTopic.version + 1,
                update_time=utcnow(),
            )
        )
        return result.rowcount == 1


def set_reason(factory: Factory, mirror_id: int, state: str, reason: str) -> None:
    """Updates the reason text only while the mirror is still in `state`."""
    with transaction(factory) as session:
        session.execute(
            update(MirrorTopic)
            .where(MirrorTopic.id == mirror_id, MirrorTopic.state == state, MirrorTopic.reason != reason)
            .values(reason=reason)
        )


def load_segments(factory: Factory, mirror_id: int) -> dict[int, list[Segment]]:
    """Segments per partition, sorted by destination offset."""
    with factory() as session:
        rows = session.scalars(
            select(TranslationSegment)
            .where(TranslationSegment.mirror_topic_id == mirror_id)
            .order_by(TranslationSegment.partition, TranslationSegment.destination_offset)
        )
        out: dict[int, list[Segment]] = {}
        for r in rows:
            out.setdefault(r.partition, []).append(Segment(r.source_offset, r.destination_offset))
        return out


def save_segments(factory: Factory, mirror_id: int, segments: dict[int, list[Segment]]) -> None:
    """Durably records segments; must return before any record past them is produced."""
    with transaction(factory) as session:
        for partition, segs in segments.items():
            for seg in segs:
                session.merge(
                    TranslationSegment(
                        mirror_topic_id=mirror_id,
                        partition=partition,
                        destination_offset=seg.destination_offset,
                        source_offset=seg.source_offset,
                    )
                )
            session.execute(
                update(MirrorPartition)
                .where(MirrorPartition.mirror_topic_id == mirror_id, MirrorPartition.partition == partition)
                .values(translated=True)
            )


def write_progress(factory: Factory, mirror_id: int, partitions: Iterable[PartitionProgress]) -> bool:
    """Upserts the partition rows; False when the mirror row is gone."""
    with transaction(factory) as session:
        mirror = session.get(MirrorTopic, mirror_id)
        if mirror is None:
            return False
        for p in partitions:
            session.merge(
                MirrorPartition(
                    mirror_topic_id=mirror_id,
                    partition=p.partition,
                    source_log_start_offset=p.source_log_start_offset,
                    source_end_offset=p.source_end_offset,
                    mirror_end_offset=p.mirror_end_offset,
                    mirrored_source_offset=p.mirrored_source_offset,
                    lag=p.lag,
                    translated=p.translated,
                )
            )
        mirror.status_time = utcnow()
        return True


def set_task(factory: Factory, link_id: int, name: str, state: str, error: str | None = None) -> None:
    """Records a link task's state; `error` None keeps the last error shown."""
    now: dt.datetime = utcnow()
    with transaction(factory) as session:
        task = session.get(LinkTask, (link_id, name))
        if task is None:
            if session.get(Link, link_id) is None:
                return
            task = LinkTask(link_id=link_id, name=name, last_error="")
            session.add(task)
        task.state = state
        task.update_time = now
        if error:
            task.last_error = error
            task.last_error_time = now


def remove_task(factory: Factory, link_id: int, name: str) -> None:
    with transaction(factory) as session:
        task = session.get(LinkTask, (link_id, name))
        if task is not None:
            session.delete(task)
