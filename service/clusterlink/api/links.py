"""Link handlers: each runs inside one database transaction and returns the answer.

Etag = the row `version` as a quoted string. Every change is written with a
compare-and-set `UPDATE links ... WHERE id = ? AND version = ?` (and read
with FOR UPDATE on PostgreSQL), so two writers can never both succeed from
the same version; the loser raises `Conflict` and the servicer re-runs the
whole unit of work once (with an etag in the request, the re-run answers
ABORTED because the etag no longer matches).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clusterlink.api import convert, errors
from clusterlink.api import validation as v
from clusterlink.api.store_ops import load_link, sortable
from clusterlink.store import models as m
from clusterlink.store.secrets import SecretBox
from clusterlink.v1 import clusterlink_pb2 as pb

ETAG_MISMATCH = "etag mismatch: re-read the link and retry"


def render(session: Session, box: SecretBox, row: m.Link) -> pb.Link:
    tasks = session.scalars(select(m.LinkTask).where(m.LinkTask.link_id == row.id)).all()
    count = session.scalar(
        select(func.count()).select_from(m.MirrorTopic).where(m.MirrorTopic.link_id == row.id)
    )
    return convert.link_to_pb(
        row,
        source_secrets=box.open(row.source_secrets).keys(),
        destination_secrets=box.open(row.destination_secrets).keys(),
        tasks=tasks,
        mirror_topic_count=count or 0,
    )


def stored_spec(box: SecretBox, row: m.Link) -> v.LinkSpec:
    return v.LinkSpec(
        source=v.Connection.make(row.source or {}, box.open(row.source_secrets)),
        destination=v.Connection.make(row.destination or {}, box.open(row.destination_secrets)),
        config={str(k): str(val) for k, val in (row.config or {}).items()},
        paused=bool(row.paused),
    )


def _columns(box: SecretBox, spec: v.LinkSpec) -> dict[str, Any]:
    return {
        "source": convert.stored_fields(spec.source),
        "source_secrets": box.seal(spec.source.secrets),
        "destination": convert.stored_fields(spec.destination),
        "destination_secrets": box.seal(spec.destination.secrets),
        "config": dict(spec.config),
        "paused": spec.paused,
    }


def _same(a: v.LinkSpec, b: v.LinkSpec) -> bool:
    return (
        convert.stored_fields(a.source) == convert.stored_fields(b.source)
        and a.source.secrets == b.source.secrets
        and convert.stored_fields(a.destination) == convert.stored_fields(b.destination)
        and a.destination.secrets == b.destination.secrets
        and a.config == b.config
        and a.paused == b.paused
    )


def write(session: Session, row: m.Link, values: dict[str, Any]) -> None:
    """Compare-and-set update of one link; bumps version and update_time."""
    result = session.execute(
        update(m.Link)
        .where(m.Link.id == row.id, m.Link.version == row.version)
        .values(**values, version=row.version + 1, update_time=m.utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise errors.Conflict(f"link {v.link_name(row.name)!r} changed while this request ran; re-read it and retry")
    session.refresh(row)


def _check_etag(given: str, row: m.Link) -> None:
    if not v.etag_matches(given, row.version):
        raise errors.aborted(f"{ETAG_MISMATCH} (sent {given}, current {v.etag(row.version)})")


# --------------------------------------------------------------------------- handlers

def create_link(session: Session, box: SecretBox, req: pb.CreateLinkRequest) -> pb.Link:
    link_id = v.check_link_id(req.link_id, "link_id")
    if req.link.name and req.link.name != v.link_name(link_id):
        raise errors.invalid(
            f"link.name: {v.shown(req.link.name)} is output only in CreateLink; leave it empty and set link_id"
        )
    v.check_etag(req.link.etag, "link.etag")
    spec = v.check_link_spec(convert.spec_from_pb(req.link), "link")
    if session.scalars(select(m.Link.id).where(m.Link.name == link_id)).one_or_none() is not None:
        raise errors.already_exists(
            f"link {v.link_name(link_id)!r} already exists; choose another link_id or update it with UpdateLink"
        )
    now = m.utcnow()
    row = m.Link(name=link_id, version=1, create_time=now, update_time=now, **_columns(box, spec))
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise errors.Conflict(f"link {v.link_name(link_id)!r} was created concurrently") from None
    return render(session, box, row)


def get_link(session: Session, box: SecretBox, req: pb.GetLinkRequest) -> pb.Link:
    link_id = v.parse_link_name(req.name, "name")
    return render(session, box, load_link(session, link_id))


def list_links(
    session: Session, box: SecretBox, req: pb.ListLinksRequest, tokens: v.PageTokens | None = None
) -> pb.ListLinksResponse:
    tokens = tokens or v.PageTokens(box.fernet)
    size = v.page_size(req.page_size)
    after = tokens.decode(req.page_token, "links")
    key = sortable(session, m.Link.name)
    query = select(m.Link).order_by(key).limit(size + 1)
    if after is not None:
        query = query.where(key > after)
    rows = list(session.scalars(query).all())
    more = len(rows) > size
    rows = rows[:size]
    ids = [r.id for r in rows]
    tasks: dict[int, list[m.LinkTask]] = defaultdict(list)
    counts: dict[int, int] = {}
    if ids:
        for task in session.scalars(select(m.LinkTask).where(m.LinkTask.link_id.in_(ids))):
            tasks[task.link_id].append(task)
        counts = {
            link_id: count
            for link_id, count in session.execute(
                select(m.MirrorTopic.link_id, func.count())
                .where(m.MirrorTopic.link_id.in_(ids))
                .group_by(m.MirrorTopic.link_id)
            ).tuples()
        }
    links = [
        convert.link_to_pb(
            r,
            source_secrets=box.open(r.source_secrets).keys(),
            destination_secrets=box.open(r.destination_secrets).keys(),
            tasks=tasks[r.id],
            mirror_topic_count=counts.get(r.id, 0),
        )
        for r in rows
    ]
    token = tokens.encode("links", rows[-1].name) if more and rows else ""
    return pb.ListLinksResponse(links=links, next_page_token=token)


def update_link(session: Session, box: SecretBox, req: pb.UpdateLinkRequest) -> pb.Link:
    link_id = v.parse_link_name(req.link.name, "link.name")
    paths = v.check_mask(list(req.update_mask.paths))
    v.check_etag(req.link.etag, "link.etag")
    row = load_link(session, link_id, lock="update")
    _check_etag(req.link.etag, row)
    current = stored_spec(box, row)
    merged = v.apply_update(
        current,
        convert.spec_from_pb(req.link),
        paths,
        has_source=req.link.HasField("source"),
        has_destination=req.link.HasField("destination"),
    )
    merged = v.check_link_spec(merged, "link")
    if not _same(current, merged):
        write(session, row, _columns(box, merged))
    return render(session, box, row)


def delete_link(session: Session, req: pb.DeleteLinkRequest) -> None:
    link_id = v.parse_link_name(req.name, "name")
    v.check_etag(req.etag, "etag")
    row = load_link(session, link_id, lock="update")
    _check_etag(req.etag, row)
    count = session.scalar(
        select(func.count()).select_from(m.MirrorTopic).where(m.MirrorTopic.link_id == row.id)
    ) or 0
    if count and not req.force:
        raise errors.failed_precondition(
            f"link {v.link_name(link_id)!r} has {count} mirror topic{'s' if count != 1 else ''}; "
            "delete them first (DeleteMirrorTopic) or set force=true to remove them with the link "
            "(their destination topics are kept)"
        )
    sync = {"synchronize_session": False}
    condition = [m.Link.id == row.id, m.Link.version == row.version]
    if req.force:
        # Children first, so nothing is left behind even where foreign keys are not enforced.
        topic_ids = select(m.MirrorTopic.id).where(m.MirrorTopic.link_id == row.id)
        session.execute(
            delete(m.TranslationSegment).where(m.TranslationSegment.mirror_topic_id.in_(topic_ids)),
            execution_options=sync,
        )
        session.execute(
            delete(m.MirrorPartition).where(m.MirrorPartition.mirror_topic_id.in_(topic_ids)),
            execution_options=sync,
        )
        session.execute(delete(m.MirrorTopic).where(m.MirrorTopic.link_id == row.id), execution_options=sync)
    else:
        # A mirror topic created meanwhile makes this delete miss (Conflict -> re-checked).
        condition.append(~exists().where(m.MirrorTopic.link_id == row.id))
    session.execute(delete(m.LinkTask).where(m.LinkTask.link_id == row.id), execution_options=sync)
    result = session.execute(delete(m.Link).where(*condition), execution_options=sync)
    if result.rowcount != 1:
        raise errors.Conflict(f"link {v.link_name(link_id)!r} changed while it was being deleted; re-read it and retry")


def set_paused(session: Session, box: SecretBox, name: str, paused: bool) -> pb.Link:
    link_id = v.parse_link_name(name, "name")
    row = load_link(session, link_id, lock="update")
    if bool(row.paused) != paused:
        write(session, row, {"paused": paused})
    return render(session, box, row)
