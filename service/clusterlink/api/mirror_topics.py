"""Mirror topic handlers: each runs inside one database transaction and returns the answer.

State changes are computed with `store.lifecycle.apply` and written with a
compare-and-set `UPDATE mirror_topics ... WHERE id = ? AND state = ?`, so a
state a worker wrote meanwhile (e.g. ACTIVE -> FAILED) is never overwritten:
the update misses, raises `Conflict`, and the servicer re-runs the unit of
work once on the fresh row (where the transition may then be refused).
"""

from __future__ import annotations

from typing import Any

import grpc
from confluent_kafka import KafkaException
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clusterlink.api import convert, errors
from clusterlink.api import validation as v
from clusterlink.engine.segments import Segment, destination_for_source
from clusterlink.api.store_ops import load_link, load_mirror_topic, sortable
from clusterlink.config import link_config
from clusterlink.engine import restore
from clusterlink.engine.prepare import DestinationError, FatalMirrorError, SourceUnavailableError
from clusterlink.kafka.clients import Connection
from clusterlink.store.secrets import SecretBox
from clusterlink.store import lifecycle
from clusterlink.store import models as m
from clusterlink.v1 import clusterlink_pb2 as pb

# Moving into these states clears `reason` (it described the state left behind).
_CLEARS_REASON = frozenset({lifecycle.ACTIVE, lifecycle.PAUSED, lifecycle.PROMOTING})


def render(session: Session, row: m.MirrorTopic, link_id: str) -> pb.MirrorTopic:
    partitions = session.scalars(
        select(m.MirrorPartition).where(m.MirrorPartition.mirror_topic_id == row.id)
    ).all() if row.id is not None else []
    return convert.mirror_topic_to_pb(row, link_id, partitions)


def write(session: Session, row: m.MirrorTopic, values: dict[str, Any]) -> None:
    """Compare-and-set on the state the decision was based on; bumps version and update_time."""
    result = session.execute(
        update(m.MirrorTopic)
        .where(m.MirrorTopic.id == row.id, m.MirrorTopic.state == row.state)
        .values(**values, version=m.MirrorTopic.version + 1, update_time=m.utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise errors.Conflict(f"mirror topic {row.name!r} changed state while this request ran; re-read it and retry")
    session.refresh(row)


# --------------------------------------------------------------------------- handlers

def create_mirror_topic(session: Session, req: pb.CreateMirrorTopicRequest) -> pb.MirrorTopic:
    link_id = v.parse_link_name(req.parent, "parent")
    source_topic = v.check_topic(req.mirror_topic.source_topic, "mirror_topic.source_topic")
    if req.mirror_topic_id:
        v.check_topic(req.mirror_topic_id, "mirror_topic_id")
    link = load_link(session, link_id, lock="share")
    topic = req.mirror_topic_id
    if not topic:
        prefix = link_config.effective({str(k): str(x) for k, x in (link.config or {}).items()})[
            "mirror.topic.prefix"
        ]
        topic = prefix + source_topic
        problem = v.topic_problem(topic)
        if problem:
            raise errors.invalid(
                f"mirror_topic_id: the default name (mirror.topic.prefix {v.shown(prefix)} + source topic) "
                f"{problem}; set mirror_topic_id ({v.TOPIC_RULE})"
            )
    name = v.mirror_topic_name(link_id, topic)
    existing = session.scalars(
        select(m.MirrorTopic).where(m.MirrorTopic.link_id == link.id, m.MirrorTopic.name == topic)
    ).one_or_none()
    if existing is not None:
        if existing.state == lifecycle.DELETING:
            raise errors.failed_precondition(f"mirror topic {name!r} is being deleted, retry when it is gone")
        raise errors.already_exists(
            f"mirror topic {name!r} already exists (mirroring source topic {existing.source_topic!r})"
        )
    restore = req.mirror_topic.restore
    set_aside = ""
    if restore.enabled:
        set_aside = restore.set_aside_topic or f"{topic}.diverged"
        problem = v.topic_problem(set_aside)
        if problem:
            where = "mirror_topic.restore.set_aside_topic" if restore.set_aside_topic else \
                f"mirror_topic.restore.set_aside_topic: the default name {v.shown(set_aside)}"
            raise errors.invalid(f"{where} {problem}; set mirror_topic.restore.set_aside_topic ({v.TOPIC_RULE})")
        if set_aside == topic:
            raise errors.invalid(f"mirror_topic.restore.set_aside_topic {v.shown(set_aside)} is the mirror topic "
                                 "itself; "
                                 "name a topic of its own (default: the mirror topic followed by '.diverged')")
    elif restore.set_aside_topic:
        raise errors.invalid("mirror_topic.restore.set_aside_topic is set but mirror_topic.restore.enabled is "
                             "false; set restore.enabled to ask for a restore, or leave the side topic out")
    row = m.new_mirror_topic(link.id, topic, source_topic, set_aside)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise errors.Conflict(f"mirror topic {name!r} was created concurrently, or its link was deleted") from None
    return convert.mirror_topic_to_pb(row, link_id, [])


def restore_preview(factory: Any, box: SecretBox, answer: pb.MirrorTopic) -> pb.MirrorTopic:
    """The dry run of a restore: `answer` (a validated, rolled-back create) with what
    would be set aside per partition, read from the link's clusters now."""
    link_id, topic = v.parse_mirror_topic_name(answer.name, "name")
    with factory() as session:
        link = load_link(session, link_id)
        source = Connection.from_store(link.source, box.open(link.source_secrets))
        destination = Connection.from_store(link.destination, box.open(link.destination_secrets))
        timeout = int(link_config.effective(dict(link.config or {}))["source.request.timeout.ms"]) / 1000
    try:
        parts = restore.preview(source, destination, answer.source_topic, topic, answer.restore.set_aside_topic,
                                timeout)
    except KafkaException as exc:
        raise errors.ApiError(grpc.StatusCode.UNAVAILABLE,
                              f"the dry run of the restore cannot read the clusters of link {link_id!r}: "
                              f"{exc.args[0] if exc.args else exc}; retry when both clusters answer") from None
    except (FatalMirrorError, DestinationError, SourceUnavailableError) as exc:
        raise errors.failed_precondition(f"the dry run of the restore cannot go on: {exc}") from None
    out = pb.MirrorTopic()
    out.CopyFrom(answer)
    out.restore.partitions.extend(pb.SetAside(**r) for r in restore.rows(parts))
    return out


def get_mirror_topic(session: Session, req: pb.GetMirrorTopicRequest) -> pb.MirrorTopic:
    link_id, topic = v.parse_mirror_topic_name(req.name, "name")
    return render(session, load_mirror_topic(session, link_id, topic), link_id)


def list_mirror_topics(
    session: Session, req: pb.ListMirrorTopicsRequest, tokens: v.PageTokens
) -> pb.ListMirrorTopicsResponse:
    link_id = v.parse_link_name(req.parent, "parent")
    size = v.page_size(req.page_size)
    after = tokens.decode(req.page_token, v.link_name(link_id))
    link = load_link(session, link_id)
    key = sortable(session, m.MirrorTopic.name)
    query = select(m.MirrorTopic).where(m.MirrorTopic.link_id == link.id).order_by(key).limit(size + 1)
    if after is not None:
        query = query.where(key > after)
    rows = list(session.scalars(query).all())
    more = len(rows) > size
    rows = rows[:size]
    partitions: dict[int, list[m.MirrorPartition]] = {r.id: [] for r in rows}
    if rows:
        for part in session.scalars(
            select(m.MirrorPartition).where(m.MirrorPartition.mirror_topic_id.in_(list(partitions)))
        ):
            partitions[part.mirror_topic_id].append(part)
    return pb.ListMirrorTopicsResponse(
        mirror_topics=[convert.mirror_topic_to_pb(r, link_id, partitions[r.id]) for r in rows],
        next_page_token=tokens.encode(v.link_name(link_id), rows[-1].name) if more and rows else "",
    )


def transition(session: Session, name: str, action: str) -> pb.MirrorTopic:
    """pause / resume / promote / failover; a repeat is a no-op that answers the same."""
    link_id, topic = v.parse_mirror_topic_name(name, "name")
    row = load_mirror_topic(session, link_id, topic)
    new_state = lifecycle.apply(action, row.state)  # TransitionError -> FAILED_PRECONDITION
    if new_state != row.state:
        values: dict[str, Any] = {"state": new_state}
        if new_state in _CLEARS_REASON:
            values["reason"] = ""
        write(session, row, values)
    return render(session, row, link_id)


def delete_mirror_topic(session: Session, req: pb.DeleteMirrorTopicRequest) -> None:
    link_id, topic = v.parse_mirror_topic_name(req.name, "name")
    row = load_mirror_topic(session, link_id, topic)
    if row.state == lifecycle.DELETING:
        # Repeating is fine; it may add, never withdraw, the request to delete the destination topic.
        if req.delete_destination_topic and not row.delete_destination_topic:
            write(session, row, {"delete_destination_topic": True})
        return
    write(session, row, {"state": lifecycle.DELETING, "delete_destination_topic": req.delete_destination_topic})


def list_translation_segments(
    session: Session, req: pb.ListTranslationSegmentsRequest
) -> pb.ListTranslationSegmentsResponse:
    link_id, topic = v.parse_mirror_topic_name(req.name, "name")
    partition = v.check_partition(req.partition, "partition", allow_all=True)
    row = load_mirror_topic(session, link_id, topic)
    query = (
        select(m.TranslationSegment)
        .where(m.TranslationSegment.mirror_topic_id == row.id)
        .order_by(m.TranslationSegment.partition, m.TranslationSegment.destination_offset)
    )
    if partition >= 0:
        query = query.where(m.TranslationSegment.partition == partition)
    return pb.ListTranslationSegmentsResponse(segments=[convert.segment_to_pb(s) for s in session.scalars(query)])


def translate_offsets(session: Session, req: pb.TranslateOffsetsRequest) -> pb.TranslateOffsetsResponse:
    link_id, topic = v.parse_mirror_topic_name(req.name, "name")
    partition = v.check_partition(req.partition, "partition")
    offsets = v.check_source_offsets(req.source_offsets, "source_offsets")
    row = load_mirror_topic(session, link_id, topic)
    segments = [
        Segment(s, d)
        for s, d in session.execute(
            select(m.TranslationSegment.source_offset, m.TranslationSegment.destination_offset)
            .where(m.TranslationSegment.mirror_topic_id == row.id, m.TranslationSegment.partition == partition)
            .order_by(m.TranslationSegment.source_offset, m.TranslationSegment.destination_offset)
        ).tuples()
    ]
    return pb.TranslateOffsetsResponse(destination_offsets=[destination_for_source(segments, o) for o in offsets])
