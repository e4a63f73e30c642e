"""SQLAlchemy models: one row per link, mirror topic, partition and segment.

Desired state (what the API wrote) and observed state (what workers saw) sit
in the same rows; `version` is bumped on every API-visible change and is the
etag. The destination cluster, not this store, is the authority on mirroring
progress: partition rows are a cache for status and metrics.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: DateTime(timezone=True)}


class Link(Base):
    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # Non-secret connection fields as JSON; secrets live encrypted beside them.
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_secrets: Mapped[str | None] = mapped_column(Text)
    destination: Mapped[dict[str, Any]] = mapped_column(JSON)
    destination_secrets: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    create_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    update_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Retired: the producer id is now the mirror topic's (MirrorTopic.producer_id);
    # migration 0006 copied it to the link's existing mirror topics.
    producer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The clusters' ids as the link's runtime last read them. A link whose
    # destination is another link's source is the other half of a two-way
    # pair: its mirror topics are never mirrored back (new topics from filters).
    source_cluster_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    destination_cluster_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    mirror_topics: Mapped[list[MirrorTopic]] = relationship(
        back_populates="link", cascade="all, delete-orphan", passive_deletes=True
    )
    tasks: Mapped[list[LinkTask]] = relationship(
        back_populates="link", cascade="all, delete-orphan", passive_deletes=True
    )


class MirrorTopic(Base):
    __tablename__ = "mirror_topics"
    __table_args__ = (UniqueConstraint("link_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), index=True)
    # The destination topic name (the {topic} of the resource name).
    name: Mapped[str] = mapped_column(String(249))
    source_topic: Mapped[str] = mapped_column(String(249))
    # Lifecycle state (clusterlink.v1.MirrorTopic.State names). The API and
    # the workers both move it; workers only with compare-and-set updates.
    state: Mapped[str] = mapped_column(String(32), default="PENDING")
    reason: Mapped[str] = mapped_column(Text, default="")
    delete_destination_topic: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    create_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    update_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_time: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The mirror's idempotent producer id on the destination (InitProducerId
    # without a transactional id), kept for the mirror's whole life: every
    # session writing the mirror uses it with epoch 0 and a sequence equal to
    # the destination offset, so the broker's sequence check fences late and
    # duplicate batches. Per mirror, not per link: a new mirror over a topic
    # that others wrote to since (a failback) must not meet an old sequence of
    # the same id there, which the broker would refuse for ever. None until
    # the mirror is first prepared.
    producer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The destination topic's id (the cluster's UUID for it) once the mirror has
    # copied into it. A topic deleted, or deleted and created again, while the
    # mirror was not running shows as gone or as another id when it is prepared
    # again, and fails the mirror rather than starting the copy over in silence.
    destination_topic_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Failback (engine.restore): asked for at creation; the runtime moves
    # restore_state REQUESTED -> SETTING_ASIDE -> REPLACING -> DONE and keeps
    # per partition what it set aside ({"partition", "divergence_offset",
    # "end_offset", "records", "side_start_offset"}), so a restart resumes
    # the step it was in and never sets a record aside twice.
    restore_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    set_aside_topic: Mapped[str] = mapped_column(String(249), default="", server_default="")
    restore_state: Mapped[str] = mapped_column(String(16), default="", server_default="")
    restore_partitions: Mapped[list[dict[str, int]] | None] = mapped_column(JSON, nullable=True)

    link: Mapped[Link] = relationship(back_populates="mirror_topics")
    partitions: Mapped[list[MirrorPartition]] = relationship(
        back_populates="mirror_topic",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MirrorPartition.partition",
    )


def new_mirror_topic(link_id: int, name: str, source_topic: str, set_aside_topic: str = "") -> MirrorTopic:
    """A mirror topic row as it starts: PENDING, the reconciler starts it.

    A `set_aside_topic` asks for a restore (failback) of a diverged destination."""
    now = utcnow()
    return MirrorTopic(link_id=link_id, name=name, source_topic=source_topic, state="PENDING", reason="",
                       delete_destination_topic=False, version=1, create_time=now, update_time=now,
                       restore_enabled=bool(set_aside_topic), set_aside_topic=set_aside_topic,
                       restore_state="REQUESTED" if set_aside_topic else "", restore_partitions=None)


class MirrorPartition(Base):
    """Observed progress of one partition, written by its worker."""

    __tablename__ = "mirror_partitions"

    mirror_topic_id: Mapped[int] = mapped_column(
        ForeignKey("mirror_topics.id", ondelete="CASCADE"), primary_key=True
    )
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_log_start_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    source_end_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    mirror_end_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    mirrored_source_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    lag: Mapped[int] = mapped_column(BigInteger, default=0)
    translated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Source batches re-encoded instead of forwarded as they are (compaction
    # holes, legacy format, a resume inside a batch).
    reencoded_batches: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The replica (Replica.id) that last wrote this partition's status, i.e. the
    # one copying it. Not a foreign key: the row outlives a replica that is
    # pruned or unregistered, and says who copied it last. None when not recorded.
    replica_id: Mapped[str | None] = mapped_column(String(255), nullable=True)

    mirror_topic: Mapped[MirrorTopic] = relationship(back_populates="partitions")


class TranslationSegment(Base):
    """From `source_offset` on, destination = destination_offset + (source - source_offset).

    Written before the first record past a gap is produced, so the mapping
    for every record on the destination is known even after a crash.
    """

    __tablename__ = "translation_segments"

    mirror_topic_id: Mapped[int] = mapped_column(
        ForeignKey("mirror_topics.id", ondelete="CASCADE"), primary_key=True
    )
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Keyed by destination offset: a gap re-found after a crash at the same
    # destination offset replaces the earlier row instead of adding one.
    destination_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_offset: Mapped[int] = mapped_column(BigInteger)


class LinkTask(Base):
    """Observed state of a link's background tasks (reconciler, workers)."""

    __tablename__ = "link_tasks"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="RUNNING")
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_time: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    update_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Sync tasks only: the kind of the last run's error ("" when it succeeded),
    # when a run last succeeded, and what that run did.
    error_code: Mapped[str] = mapped_column(String(32), default="", server_default="")
    last_success_time: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The replica (Replica.id) running the task; None when not recorded.
    replica_id: Mapped[str | None] = mapped_column(String(255), nullable=True)

    link: Mapped[Link] = relationship(back_populates="tasks")


class LinkAcl(Base):
    """An ACL binding the link's ACL sync created on the destination.

    Only these are ever deleted by the link, when they vanish from the
    source; no other ACL on the destination is touched. Names and enums are
    as Kafka has them (the prefixed resource name, AclOperation names, ...).
    """

    __tablename__ = "link_acls"

    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    pattern_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    principal: Mapped[str] = mapped_column(String(512), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32), primary_key=True)
    permission_type: Mapped[str] = mapped_column(String(16), primary_key=True)


class ServiceOwner(Base):
    """The one row naming the serve process that owns the database (a fencing token).

    A serve that takes over writes a new token; every write transaction
    checks it first (store.db.transaction), so a process that lost the
    database lock while frozen can never write again once it wakes up.
    """

    __tablename__ = "service_owner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    claim_time: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Replica(Base):
    """One `clusterlink serve --replica-id ID` process sharing the database with others.

    Written by the replica itself (store.replicas): at start, at every
    heartbeat, and at a clean stop. A row whose heartbeat is older than
    store.replicas.PRUNE_AFTER is removed by the next heartbeat of another
    replica, so a replica that died without unregistering disappears.
    """

    __tablename__ = "replicas"

    # The replica id: a pod name or "host-pid" (store.replicas.validate_replica_id).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Its gRPC listen address, as given to serve.
    address: Mapped[str] = mapped_column(String(255), default="", server_default="")
    start_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # What it owns, by link name: {link: {"partitions": int, "control": bool}};
    # "control" is the link's once-per-link work (preparing topics, promotion,
    # sync tasks). None until the first heartbeat says.
    owned: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
