"""The ClusterLinkService servicer: one transaction per call, every failure a gRPC status.

Reads run in a transaction of their own. Writes run `fn(session)` in
`store.db.transaction`; a lost compare-and-set (`Conflict`) re-runs the unit
of work once on fresh rows, and a second loss answers ABORTED. With
`validate_only` the very same code runs and the transaction is rolled back,
so the answer is exactly what would have resulted. `on_change()` is called
after every committed write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import grpc
from google.protobuf import empty_pb2
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.api import links, mirror_topics, replicas
from clusterlink.api import validation as v
from clusterlink.api.errors import Conflict, rpc
from clusterlink.store.db import transaction
from clusterlink.store.secrets import SecretBox
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

log = logging.getLogger("clusterlink.api")

T = TypeVar("T")


class _Rollback(Exception):
    def __init__(self, result: object) -> None:
        super().__init__("validate_only")
        self.result = result


class ClusterLinkServicer(pb_grpc.ClusterLinkServiceServicer):
    def __init__(
        self,
        factory: sessionmaker[Session],
        box: SecretBox,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._factory = factory
        self._box = box
        self._on_change = on_change
        self._tokens = v.PageTokens(box.fernet)

    # ------------------------------------------------------------------ units of work

    def _read(self, fn: Callable[[Session], T]) -> T:
        with transaction(self._factory) as session:
            return fn(session)

    def _write(self, what: str, fn: Callable[[Session], T], validate_only: bool) -> T:
        for attempt in (1, 2):
            try:
                with transaction(self._factory) as session:
                    result = fn(session)
                    if validate_only:
                        raise _Rollback(result)
            except _Rollback as rollback:
                return rollback.result  # type: ignore[return-value]
            except Conflict:
                if attempt == 2:
                    raise
                log.info("%s: concurrent change, retrying once", what)
                continue
            log.info("%s: done", what)
            try:
                self._on_change()
            except Exception:  # noqa: BLE001 - the change is committed; waking the reconciler is best effort
                log.exception("on_change callback failed after %s", what)
            return result
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ links

    @rpc
    def CreateLink(self, request: pb.CreateLinkRequest, context: grpc.ServicerContext) -> pb.Link:
        return self._write(
            f"CreateLink link_id={v.shown(request.link_id)}",
            lambda s: links.create_link(s, self._box, request),
            request.validate_only,
        )

    @rpc
    def GetLink(self, request: pb.GetLinkRequest, context: grpc.ServicerContext) -> pb.Link:
        return self._read(lambda s: links.get_link(s, self._box, request))

    @rpc
    def ListLinks(self, request: pb.ListLinksRequest, context: grpc.ServicerContext) -> pb.ListLinksResponse:
        return self._read(lambda s: links.list_links(s, self._box, request, self._tokens))

    @rpc
    def UpdateLink(self, request: pb.UpdateLinkRequest, context: grpc.ServicerContext) -> pb.Link:
        return self._write(
            f"UpdateLink {v.shown(request.link.name)} mask={v.shown(','.join(request.update_mask.paths), 200)}",
            lambda s: links.update_link(s, self._box, request),
            request.validate_only,
        )

    @rpc
    def DeleteLink(self, request: pb.DeleteLinkRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._write(
            f"DeleteLink {v.shown(request.name)} force={request.force}",
            lambda s: links.delete_link(s, request),
            request.validate_only,
        )
        return empty_pb2.Empty()

    @rpc
    def PauseLink(self, request: pb.PauseLinkRequest, context: grpc.ServicerContext) -> pb.Link:
        return self._write(
            f"PauseLink {v.shown(request.name)}",
            lambda s: links.set_paused(s, self._box, request.name, True),
            request.validate_only,
        )

    @rpc
    def ResumeLink(self, request: pb.ResumeLinkRequest, context: grpc.ServicerContext) -> pb.Link:
        return self._write(
            f"ResumeLink {v.shown(request.name)}",
            lambda s: links.set_paused(s, self._box, request.name, False),
            request.validate_only,
        )

    # ------------------------------------------------------------------ mirror topics

    @rpc
    def CreateMirrorTopic(
        self, request: pb.CreateMirrorTopicRequest, context: grpc.ServicerContext
    ) -> pb.MirrorTopic:
        answer = self._write(
            f"CreateMirrorTopic {v.shown(request.parent)} source_topic={v.shown(request.mirror_topic.source_topic)}",
            lambda s: mirror_topics.create_mirror_topic(s, request),
            request.validate_only,
        )
        if request.validate_only and request.mirror_topic.restore.enabled:
            return mirror_topics.restore_preview(self._factory, self._box, answer)
        return answer

    @rpc
    def GetMirrorTopic(self, request: pb.GetMirrorTopicRequest, context: grpc.ServicerContext) -> pb.MirrorTopic:
        return self._read(lambda s: mirror_topics.get_mirror_topic(s, request))

    @rpc
    def ListMirrorTopics(
        self, request: pb.ListMirrorTopicsRequest, context: grpc.ServicerContext
    ) -> pb.ListMirrorTopicsResponse:
        return self._read(lambda s: mirror_topics.list_mirror_topics(s, request, self._tokens))

    def _transition(self, action: str, request: object) -> pb.MirrorTopic:
        name = request.name  # type: ignore[attr-defined]
        return self._write(
            f"{action} {v.shown(name)}",
            lambda s: mirror_topics.transition(s, name, action),
            request.validate_only,  # type: ignore[attr-defined]
        )

    @rpc
    def PauseMirrorTopic(self, request: pb.PauseMirrorTopicRequest, context: grpc.ServicerContext) -> pb.MirrorTopic:
        return self._transition("pause", request)

    @rpc
    def ResumeMirrorTopic(
        self, request: pb.ResumeMirrorTopicRequest, context: grpc.ServicerContext
    ) -> pb.MirrorTopic:
        return self._transition("resume", request)

    @rpc
    def PromoteMirrorTopic(
        self, request: pb.PromoteMirrorTopicRequest, context: grpc.ServicerContext
    ) -> pb.MirrorTopic:
        return self._transition("promote", request)

    @rpc
    def FailoverMirrorTopic(
        self, request: pb.FailoverMirrorTopicRequest, context: grpc.ServicerContext
    ) -> pb.MirrorTopic:
        return self._transition("failover", request)

    @rpc
    def DeleteMirrorTopic(
        self, request: pb.DeleteMirrorTopicRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        self._write(
            f"DeleteMirrorTopic {v.shown(request.name)} delete_destination_topic={request.delete_destination_topic}",
            lambda s: mirror_topics.delete_mirror_topic(s, request),
            request.validate_only,
        )
        return empty_pb2.Empty()

    # ------------------------------------------------------------------ offsets

    @rpc
    def ListTranslationSegments(
        self, request: pb.ListTranslationSegmentsRequest, context: grpc.ServicerContext
    ) -> pb.ListTranslationSegmentsResponse:
        return self._read(lambda s: mirror_topics.list_translation_segments(s, request))

    @rpc
    def TranslateOffsets(
        self, request: pb.TranslateOffsetsRequest, context: grpc.ServicerContext
    ) -> pb.TranslateOffsetsResponse:
        return self._read(lambda s: mirror_topics.translate_offsets(s, request))

    # ------------------------------------------------------------------ replicas

    @rpc
    def ListReplicas(self, request: pb.ListReplicasRequest, context: grpc.ServicerContext) -> pb.ListReplicasResponse:
        return replicas.list_replicas(self._factory)
