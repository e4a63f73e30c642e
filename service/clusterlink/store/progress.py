"""What the engine reads from and writes to the store: orders, progress, segments.

The engine moves lifecycle states only with compare-and-set updates, so an
operator's change (pause, failover, delete) made meanwhile always wins.

Per-link calls (`read_link_orders`, `write_link_status`, `load_link_segments`)
cost one query or one transaction for every mirror of a link, however many
mirrors and partitions it has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Insert, Update, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.engine.segments import Segment
from clusterlink.store.db import transaction
from clusterlink.store.models import (
    Link,
    LinkAcl,
    LinkTask,
    MirrorPartition,
    MirrorTopic,
    TranslationSegment,
    new_mirror_topic,
    utcnow,
)


@dataclass(frozen=True)
class PartitionProgress:
    partition: int
    source_log_start_offset: int
    source_end_offset: int
    mirror_end_offset: int
    mirrored_source_offset: int
    translated: bool
    # Source batches the data path re-encoded instead of forwarding them as they are.
    reencoded_batches: int = 0

    @property
    def lag(self) -> int:
        return max(0, self.source_end_offset - self.mirrored_source_offset)


@dataclass(frozen=True)
class MirrorOrders:
    """What the store currently asks of a mirror's worker."""

    state: str
    link_paused: bool


@dataclass(frozen=True)
class MirrorStatus:
    """The progress of every partition of one mirror, as the runtime last saw it."""

    mirror_id: int
    partitions: list[PartitionProgress]


Factory = sessionmaker[Session]


def read_orders(factory: Factory, mirror_id: int) -> MirrorOrders | None:
    with factory() as session:
        row = session.get(MirrorTopic, mirror_id)
        if row is None:
            return None
        return MirrorOrders(state=row.state, link_paused=row.link.paused)


def read_link_orders(factory: Factory, link_id: int) -> dict[int, MirrorOrders] | None:
    """Orders for every mirror of a link, in one query; None when the link is gone."""
    with factory() as session:
        rows = session.execute(
            select(Link.paused, MirrorTopic.id, MirrorTopic.state)
            .select_from(Link)
            .outerjoin(MirrorTopic, MirrorTopic.link_id == Link.id)
            .where(Link.id == link_id)
        ).all()
    if not rows:
        return None
    # A link without mirrors still yields one row, with no mirror in it.
    return {
        mirror_id: MirrorOrders(state=state, link_paused=paused)
        for paused, mirror_id, state in rows
        if mirror_id is not None
    }


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
    set_reasons(factory, {mirror_id: (state, reason)})


def set_reasons(factory: Factory, reasons: dict[int, tuple[str, str]]) -> None:
    """`set_reason` for many mirrors in one transaction: mirror id -> (state, reason)."""
    if not reasons:
        return
    with transaction(factory) as session:
        for mirror_id, (state, reason) in reasons.items():
            session.execute(
                update(MirrorTopic)
                .where(MirrorTopic.id == mirror_id, MirrorTopic.state == state, MirrorTopic.reason != reason)
                .values(reason=reason)
            )


def read_restore(factory: Factory, mirror_id: int) -> tuple[str, list[dict[str, int]]]:
    """The restore state of a mirror ("" when none was asked for) and what it set aside per partition."""
    with factory() as session:
        row = session.execute(select(MirrorTopic.restore_state, MirrorTopic.restore_partitions)
                              .where(MirrorTopic.id == mirror_id)).one_or_none()
    return (row[0], list(row[1] or [])) if row is not None else ("", [])


def save_restore(factory: Factory, mirror_id: int, state: str, partitions: list[dict[str, int]]) -> None:
    with transaction(factory) as session:
        session.execute(update(MirrorTopic).where(MirrorTopic.id == mirror_id)
                        .values(restore_state=state, restore_partitions=partitions))


def load_link_segments(factory: Factory, mirror_ids: Iterable[int]) -> dict[int, dict[int, list[Segment]]]:
    """Segments of several mirrors in one query: mirror id -> partition -> segments.

    Every mirror asked for has an entry, empty when all its partitions are exact.
    """
    ids = sorted(set(mirror_ids))
    out: dict[int, dict[int, list[Segment]]] = {m: {} for m in ids}
    if not ids:
        return out
    with factory() as session:
        rows = session.execute(
            select(
                TranslationSegment.mirror_topic_id,
                TranslationSegment.partition,
                TranslationSegment.source_offset,
                TranslationSegment.destination_offset,
            )
            .where(TranslationSegment.mirror_topic_id.in_(ids))
            .order_by(
                TranslationSegment.mirror_topic_id,
                TranslationSegment.partition,
                TranslationSegment.destination_offset,
            )
        )
        for mirror_id, partition, source_offset, destination_offset in rows:
            out[mirror_id].setdefault(partition, []).append(Segment(source_offset, destination_offset))
    return out


def load_segments(factory: Factory, mirror_id: int) -> dict[int, list[Segment]]:
    """Segments per partition, sorted by destination offset."""
    return load_link_segments(factory, [mirror_id])[mirror_id]


def save_segments(factory: Factory, mirror_id: int, segments: dict[int, list[Segment]]) -> None:
    """Durably records segments; must return before any record past them is produced."""
    save_link_segments(factory, {mirror_id: segments})


def save_link_segments(factory: Factory, segments: dict[int, dict[int, list[Segment]]]) -> None:
    """`save_segments` for several mirrors of a link in one transaction (mirror -> partition -> segments)."""
    with transaction(factory) as session:
        for mirror_id, per_partition in segments.items():
            for partition, segs in per_partition.items():
                for seg in segs:
                    session.merge(TranslationSegment(
                        mirror_topic_id=mirror_id, partition=partition,
                        destination_offset=seg.destination_offset, source_offset=seg.source_offset))
                session.execute(
                    update(MirrorPartition)
                    .where(MirrorPartition.mirror_topic_id == mirror_id, MirrorPartition.partition == partition)
                    .values(translated=True)
                )


def load_reencoded(factory: Factory, mirror_id: int) -> dict[int, int]:
    """Per partition, how many batches were re-encoded so far (the count survives restarts)."""
    with factory() as session:
        rows = session.execute(
            select(MirrorPartition.partition, MirrorPartition.reencoded_batches)
            .where(MirrorPartition.mirror_topic_id == mirror_id)
        ).all()
    return {p: n for p, n in rows}


def delete_mirror_row(factory: Factory, mirror_id: int) -> bool:
    """Drops a mirror that is DELETING; False when it is gone or no longer DELETING."""
    with transaction(factory) as session:
        result = session.execute(
            delete(MirrorTopic).where(MirrorTopic.id == mirror_id, MirrorTopic.state == "DELETING"))
        return result.rowcount == 1


_PARTITION_FIELDS = (
    "source_log_start_offset",
    "source_end_offset",
    "mirror_end_offset",
    "mirrored_source_offset",
    "lag",
    "translated",
    "reencoded_batches",
    "replica_id",
)


def _partition_upsert(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (mirror, partition) DO UPDATE, in the database's own dialect.

    Sent with many parameter sets at once (executemany), so 5,000 partitions
    are one round of statements, not 5,000 ORM merges that each SELECT first.
    """
    if dialect == "postgresql":
        stmt = postgresql.insert(MirrorPartition)
    elif dialect == "sqlite":
        stmt = sqlite.insert(MirrorPartition)
    else:
        raise NotImplementedError(f"no partition upsert for database dialect {dialect!r}")
    return stmt.on_conflict_do_update(
        index_elements=[MirrorPartition.mirror_topic_id, MirrorPartition.partition],
        set_={name: stmt.excluded[name] for name in _PARTITION_FIELDS},
    )


def read_partition_rows(factory: Factory, mirror_ids: Iterable[int]) -> dict[int, dict[int, PartitionProgress]]:
    """Mirrors' partitions as their replicas last reported them: mirror id -> partition -> progress."""
    ids = sorted(set(mirror_ids))
    out: dict[int, dict[int, PartitionProgress]] = {mid: {} for mid in ids}
    if not ids:
        return out
    with factory() as session:
        rows = session.scalars(select(MirrorPartition).where(MirrorPartition.mirror_topic_id.in_(ids))).all()
    for r in rows:
        out[r.mirror_topic_id][r.partition] = PartitionProgress(
            partition=r.partition, source_log_start_offset=r.source_log_start_offset,
            source_end_offset=r.source_end_offset, mirror_end_offset=r.mirror_end_offset,
            mirrored_source_offset=r.mirrored_source_offset, translated=r.translated,
            reencoded_batches=r.reencoded_batches)
    return out


def write_link_status(factory: Factory, link_id: int, statuses: Iterable[MirrorStatus],
                      replica_id: str | None = None, touched: Iterable[int] = ()) -> set[int]:
    """Writes the progress of several mirrors of a link in one transaction.

    Upserts every partition row given (naming `replica_id`, the replica that
    copies it) and sets the status_time of each mirror given, and of each
    mirror in `touched` (whose status did not move, so its rows stay).
    Returns the ids of the mirrors whose row is gone (deleted meanwhile, or
    not a mirror of this link): nothing is written for them.
    """
    statuses = list(statuses)
    wanted = {s.mirror_id for s in statuses} | set(touched)
    if not wanted:
        return set()
    with transaction(factory) as session:
        # The status_time update comes first: it locks the mirror rows (row
        # locks on PostgreSQL, the write lock on SQLite), so a concurrent
        # delete waits for this transaction instead of breaking the
        # partition rows' foreign key half-way through.
        found = set(
            session.scalars(
                update(MirrorTopic)
                .where(MirrorTopic.link_id == link_id, MirrorTopic.id.in_(sorted(wanted)))
                .values(status_time=utcnow())
                .returning(MirrorTopic.id)
            )
        )
        rows = [
            {
                "mirror_topic_id": s.mirror_id,
                "partition": p.partition,
                "source_log_start_offset": p.source_log_start_offset,
                "source_end_offset": p.source_end_offset,
                "mirror_end_offset": p.mirror_end_offset,
                "mirrored_source_offset": p.mirrored_source_offset,
                "lag": p.lag,
                "translated": p.translated,
                "reencoded_batches": p.reencoded_batches,
                "replica_id": replica_id,
            }
            for s in statuses
            if s.mirror_id in found
            for p in s.partitions
        ]
        if rows:
            session.execute(_partition_upsert(session.get_bind().dialect.name), rows)
    return wanted - found


def mirror_producer_ids(factory: Factory, mirror_ids: Iterable[int]) -> dict[int, int | None]:
    """Each mirror's producer id on the destination (None: not given one yet); gone mirrors are left out."""
    ids = sorted(set(mirror_ids))
    if not ids:
        return {}
    with factory() as session:
        return dict(session.execute(select(MirrorTopic.id, MirrorTopic.producer_id)
                                    .where(MirrorTopic.id.in_(ids))).tuples().all())


def set_mirror_producer_ids_if_absent(factory: Factory, fresh: dict[int, int]) -> dict[int, int]:
    """Stores each mirror's fresh producer id unless it has one already; returns the ones
    stored (compare-and-set, as for links: racing sessions end with one id per mirror)."""
    with transaction(factory) as session:
        for mirror_id, producer_id in fresh.items():
            session.execute(update(MirrorTopic)
                            .where(MirrorTopic.id == mirror_id, MirrorTopic.producer_id.is_(None))
                            .values(producer_id=producer_id))
        stored = session.execute(select(MirrorTopic.id, MirrorTopic.producer_id)
                                 .where(MirrorTopic.id.in_(list(fresh)))).tuples().all()
    return {mid: pid for mid, pid in stored if pid is not None}


def destination_topic_ids(factory: Factory, mirror_ids: Iterable[int]) -> dict[int, str]:
    """The destination topic id of each mirror that copied into its topic before."""
    ids = sorted(set(mirror_ids))
    if not ids:
        return {}
    with factory() as session:
        return dict(session.execute(select(MirrorTopic.id, MirrorTopic.destination_topic_id)
                                    .where(MirrorTopic.id.in_(ids),
                                           MirrorTopic.destination_topic_id.is_not(None))).tuples().all())


def note_destination_topic_ids(factory: Factory, ids: dict[int, str]) -> None:
    """Stores each mirror's destination topic id unless it has one: it is set once,
    so another id later means the topic was replaced."""
    if not ids:
        return
    with transaction(factory) as session:
        for mirror_id, topic_id in ids.items():
            session.execute(update(MirrorTopic)
                            .where(MirrorTopic.id == mirror_id, MirrorTopic.destination_topic_id.is_(None))
                            .values(destination_topic_id=topic_id))


def mark_mirroring(factory: Factory, link_id: int, tasks: dict[int, str]) -> None:
    """Mirrors that started copying, in one transaction: PENDING or SOURCE_UNAVAILABLE
    become ACTIVE (compare-and-set, clearing the reason), and their tasks RUNNING.

    `tasks` maps mirror id -> task name.
    """
    if not tasks:
        return
    now = utcnow()
    with transaction(factory) as session:
        session.execute(
            update(MirrorTopic)
            .where(MirrorTopic.id.in_(list(tasks)), MirrorTopic.state.in_(["PENDING", "SOURCE_UNAVAILABLE"]))
            .values(state="ACTIVE", reason="", version=MirrorTopic.version + 1, update_time=now)
        )
        # A restore asked for over a destination that needed none (it is a
        # prefix of the source), or whose replaced topic now mirrors, is done.
        session.execute(
            update(MirrorTopic)
            .where(MirrorTopic.id.in_(list(tasks)), MirrorTopic.restore_state.in_(["REQUESTED", "REPLACING"]))
            .values(restore_state="DONE")
        )
        if session.get(Link, link_id) is None:
            return
        existing = {t.name: t for t in session.scalars(
            select(LinkTask).where(LinkTask.link_id == link_id, LinkTask.name.in_(list(tasks.values()))))}
        for name in tasks.values():
            task = existing.get(name)
            if task is None:
                task = LinkTask(link_id=link_id, name=name, last_error="")
                session.add(task)
            task.state = "RUNNING"
            task.update_time = now


def mark_source_unavailable(factory: Factory, link_id: int, tasks: dict[int, str], reason: str, kind: str) -> set[int]:
    """Mirrors whose source cannot be reached, in one transaction: PENDING or ACTIVE
    become SOURCE_UNAVAILABLE with `reason` (compare-and-set), and their tasks ERROR.
    Those already SOURCE_UNAVAILABLE get `reason` when theirs is of another kind
    (see `renew_reasons`), and their tasks too.

    `tasks` maps mirror id -> task name. Returns the ids of the mirrors moved.
    """
    if not tasks:
        return set()
    now = utcnow()
    with transaction(factory) as session:
        renewed = set(session.scalars(
            _renew(tasks, "SOURCE_UNAVAILABLE", reason, kind).returning(MirrorTopic.id)))
        moved = set(session.scalars(
            update(MirrorTopic)
            .where(MirrorTopic.id.in_(sorted(tasks)), MirrorTopic.state.in_(["PENDING", "ACTIVE"]))
            .values(state="SOURCE_UNAVAILABLE", reason=reason, version=MirrorTopic.version + 1, update_time=now)
            .returning(MirrorTopic.id)
        ))
        for mirror_id in sorted(moved | renewed):
            task = _task_row(session, link_id, tasks[mirror_id])
            if task is None:
                break  # the link is gone
            _show_task(task, "ERROR", reason, now)
        return moved


def renew_reasons(factory: Factory, mirror_ids: Iterable[int], state: str, reason: str, kind: str) -> None:
    """`reason` for the mirrors still in `state` whose reason does not start with `kind`.

    A mirror that waits for its source says why, and the why can change: a
    source that could not be reached may now refuse the login. A reason of the
    same kind is left as it is, so a failure that repeats with other details
    (librdkafka's texts change on every try) writes nothing.
    """
    with transaction(factory) as session:
        session.execute(_renew(mirror_ids, state, reason, kind))


def _renew(mirror_ids: Iterable[int], state: str, reason: str, kind: str) -> Update:
    return (
        update(MirrorTopic)
        .where(MirrorTopic.id.in_(sorted(mirror_ids)), MirrorTopic.state == state,
               ~MirrorTopic.reason.startswith(kind, autoescape=True))
        .values(reason=reason)
    )


def _show_task(task: LinkTask, state: str, error: str | None, now: dt.datetime) -> None:
    """A task's state; a non-empty `error` becomes its last error, else the last one stays."""
    task.state = state
    task.update_time = now
    if error:
        task.last_error = error
        task.last_error_time = now


def _task_row(session: Session, link_id: int, name: str) -> LinkTask | None:
    """The link's task row, made if missing; None when the link is gone."""
    task = session.get(LinkTask, (link_id, name))
    if task is None:
        if session.get(Link, link_id) is None:
            return None
        task = LinkTask(link_id=link_id, name=name, last_error="", error_code="", message="")
        session.add(task)
    return task


def set_task(factory: Factory, link_id: int, name: str, state: str, error: str | None = None) -> None:
    """Records a link task's state; `error` None keeps the last error shown."""
    with transaction(factory) as session:
        task = _task_row(session, link_id, name)
        if task is not None:
            _show_task(task, state, error, utcnow())


def remove_task(factory: Factory, link_id: int, name: str) -> None:
    with transaction(factory) as session:
        task = session.get(LinkTask, (link_id, name))
        if task is not None:
            session.delete(task)


def record_sync_task(factory: Factory, link_id: int, name: str, *, state: str, error_code: str = "",
                     error: str = "", message: str | None = None, replica_id: str | None = None) -> None:
    """Records one run of a link's sync task (or that it is NOT_CONFIGURED).

    ACTIVE: the run succeeded (last success time set, error code cleared,
    `message` says what it did). IN_ERROR: `error_code` and `error` say why;
    the last success time and message stay.
    """
    now: dt.datetime = utcnow()
    with transaction(factory) as session:
        task = _task_row(session, link_id, name)
        if task is None:
            return
        task.state = state
        task.update_time = now
        if state == "IN_ERROR":
            task.error_code = error_code
            task.last_error = error
            task.last_error_time = now
        else:
            task.error_code = ""
        if state == "ACTIVE":
            task.last_success_time = now
        if message is not None:
            task.message = message
        if replica_id is not None:
            task.replica_id = replica_id or None


def set_cluster_ids(factory: Factory, link_id: int, *, source: str | None = None,
                    destination: str | None = None) -> None:
    """Records the cluster ids the link's runtime read (None: leave as it is)."""
    values = {k: v for k, v in (("source_cluster_id", source), ("destination_cluster_id", destination)) if v}
    if not values:
        return
    with transaction(factory) as session:
        session.execute(update(Link).where(Link.id == link_id).values(**values))


def link_topic_names(factory: Factory, link_id: int,
                     source_cluster_id: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """For the new topics task: (source topics this link mirrors, this link's mirror
    topic names, mirror topics that other links write into `source_cluster_id`)."""
    with factory() as session:
        own = session.execute(
            select(MirrorTopic.source_topic, MirrorTopic.name).where(MirrorTopic.link_id == link_id)).all()
        foreign = session.scalars(
            select(MirrorTopic.name).join(Link, Link.id == MirrorTopic.link_id)
            .where(Link.id != link_id, Link.destination_cluster_id == source_cluster_id)
        ).all() if source_cluster_id else []
    return frozenset(s for s, _ in own), frozenset(n for _, n in own), frozenset(foreign)


def create_mirror_rows(factory: Factory, link_id: int, pairs: Iterable[tuple[str, str]]) -> list[str]:
    """Writes PENDING mirror topic rows (name, source topic) for the link, in one
    transaction; a name or source topic the link has meanwhile is skipped.
    Returns the names written."""
    pairs = list(pairs)
    with transaction(factory) as session:
        if session.get(Link, link_id) is None:
            return []
        rows = session.execute(
            select(MirrorTopic.name, MirrorTopic.source_topic).where(MirrorTopic.link_id == link_id)).all()
        names, sources = {n for n, _ in rows}, {s for _, s in rows}
        created = []
        for name, source in pairs:
            if name in names or source in sources:
                continue
            session.add(new_mirror_topic(link_id, name, source))
            names.add(name)
            sources.add(source)
            created.append(name)
    return created


# An ACL binding as seven strings: resource type, resource name, pattern type,
# principal, host, operation, permission type (Kafka's names).
AclRow = tuple[str, str, str, str, str, str, str]
_ACL_COLUMNS = ("resource_type", "resource_name", "pattern_type", "principal", "host", "operation",
                "permission_type")


def link_acls(factory: Factory, link_id: int) -> set[AclRow]:
    """The ACLs the link's ACL sync created on the destination."""
    with factory() as session:
        rows = session.execute(
            select(*(getattr(LinkAcl, c) for c in _ACL_COLUMNS)).where(LinkAcl.link_id == link_id)).all()
    return {tuple(r) for r in rows}  # type: ignore[misc]


def add_link_acls(factory: Factory, link_id: int, acls: Iterable[AclRow]) -> None:
    with transaction(factory) as session:
        if session.get(Link, link_id) is None:
            return
        for acl in acls:
            if session.get(LinkAcl, (link_id, *acl)) is None:
                session.add(LinkAcl(link_id=link_id, **dict(zip(_ACL_COLUMNS, acl))))


def remove_link_acls(factory: Factory, link_id: int, acls: Iterable[AclRow]) -> None:
    with transaction(factory) as session:
        for acl in acls:
            row = session.get(LinkAcl, (link_id, *acl))
            if row is not None:
                session.delete(row)
