"""Small database helpers shared by the link and mirror topic handlers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from clusterlink.api import errors
from clusterlink.api import validation as v
from clusterlink.store import models as m


def sortable(session: Session, column: Any) -> ColumnElement[Any]:
    """`column` compared and ordered bytewise, so pages are the same on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def load_link(session: Session, link_id: str, lock: str | None = None) -> m.Link:
    """The link row, or NOT_FOUND. lock: None, "share" or "update" (PostgreSQL row locks; SQLite serialises writers)."""
    query = select(m.Link).where(m.Link.name == link_id)
    if lock == "update":
        query = query.with_for_update()
    elif lock == "share":
        query = query.with_for_update(read=True)
    row = session.scalars(query).one_or_none()
    if row is None:
        raise errors.not_found(f"link {v.link_name(link_id)!r} not found")
    return row


def load_mirror_topic(session: Session, link_id: str, topic: str) -> m.MirrorTopic:
    """The mirror topic row, or NOT_FOUND naming what is missing (the link or the topic)."""
    row = session.scalars(
        select(m.MirrorTopic)
        .join(m.Link, m.Link.id == m.MirrorTopic.link_id)
        .where(m.Link.name == link_id, m.MirrorTopic.name == topic)
    ).one_or_none()
    if row is None:
        if session.scalars(select(m.Link.id).where(m.Link.name == link_id)).one_or_none() is None:
            raise errors.not_found(f"link {v.link_name(link_id)!r} not found")
        raise errors.not_found(f"mirror topic {v.mirror_topic_name(link_id, topic)!r} not found")
    return row
