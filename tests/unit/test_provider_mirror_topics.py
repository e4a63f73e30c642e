"""The `clusterlink_mirror_topics` data source without Terraform or a service: its mapping,
its paging through ListMirrorTopics, and its diagnostics."""

from __future__ import annotations

from typing import Any

import grpc
from tf.iface import ReadDataContext
from tf.utils import Diagnostics

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import mapping
from clusterlink_terraform.client import Client, ServiceError, Settings
from clusterlink_terraform.mirror_topics import PAGE_SIZE, MIRROR_TOPIC, MirrorTopicsDataSource


def _mirror(topic: str, source: str, state: int = pb.MirrorTopic.ACTIVE, reason: str = "") -> pb.MirrorTopic:
    return pb.MirrorTopic(
        name=f"links/east/mirrorTopics/{topic}", source_topic=source, state=state, reason=reason, max_lag=2,
        offset_fidelity=pb.EXACT,
        partitions=[pb.PartitionStatus(partition=0, source_end_offset=12, mirror_end_offset=10,
                                       mirrored_source_offset=10, lag=2, offset_fidelity=pb.EXACT)],
    )


def test_every_mirror_is_shown_like_the_single_data_source_ordered_by_name() -> None:
    mirrors = [_mirror("east.b", "b", pb.MirrorTopic.PENDING), _mirror("east.a", "a", pb.MirrorTopic.FAILED, "why"),
               _mirror("east.c", "c", pb.MirrorTopic.DELETING)]
    data = mapping.mirror_topics_data("east", mirrors)
    assert data["id"] == data["link"] == "east"
    assert data["names"] == ["east.a", "east.b", "east.c"]
    assert data["mirror_topics"] == [mapping.mirror_data(m) for m in (mirrors[1], mirrors[0], mirrors[2])]
    assert [(m["source_topic"], m["state"], m["observed_state"], m["reason"]) for m in data["mirror_topics"]] == [
        ("a", "FAILED", "FAILED", "why"), ("b", "ACTIVE", "PENDING", ""), ("c", "DELETING", "DELETING", "")]
    # Each item has exactly the attributes of the list's object type (Terraform decodes it strictly).
    assert all(set(m) == set(MIRROR_TOPIC.attributes) for m in data["mirror_topics"])


def test_a_link_without_mirrors_gives_empty_lists() -> None:
    assert mapping.mirror_topics_data("east", []) == {"id": "east", "link": "east", "mirror_topics": [], "names": []}


class _PagedClient(Client):
    """Answers ListMirrorTopics from `pages` (token -> (mirrors, next token)), or with `error`."""

    def __init__(self, pages: dict[str, tuple[list[pb.MirrorTopic], str]], error: ServiceError | None = None) -> None:
        self.settings = Settings()
        self.endpoint = "scripted"
        self.pages = pages
        self.error = error
        self.requests: list[pb.ListMirrorTopicsRequest] = []

    def call(self, method: str, request: Any, what: str = "", timeout: float = 30.0) -> Any:
        assert method == "ListMirrorTopics"
        self.requests.append(request)
        if self.error is not None:
            raise ServiceError(what, self.error.detail, self.error.code)
        mirrors, token = self.pages[request.page_token]
        return pb.ListMirrorTopicsResponse(mirror_topics=mirrors, next_page_token=token)


class _Provider:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.config_problem = None


def _read(client: _PagedClient, link: Any = "east") -> tuple[Any, Diagnostics]:
    diags = Diagnostics()
    source = MirrorTopicsDataSource(_Provider(client))  # type: ignore[arg-type]
    return source.read(ReadDataContext(diags, "clusterlink_mirror_topics"), {"link": link}), diags


def test_read_follows_the_page_tokens_to_the_end() -> None:
    client = _PagedClient({
        "": ([_mirror("east.c", "c"), _mirror("east.d", "d")], "t1"),
        "t1": ([_mirror("east.a", "a")], "t2"),
        "t2": ([], ""),
    })
    state, diags = _read(client)
    assert not diags.has_errors()
    assert state["names"] == ["east.a", "east.c", "east.d"]
    assert [(r.parent, r.page_size, r.page_token) for r in client.requests] == [
        ("links/east", PAGE_SIZE, ""), ("links/east", PAGE_SIZE, "t1"), ("links/east", PAGE_SIZE, "t2")]


def test_a_page_token_that_comes_back_is_an_error_not_a_loop() -> None:
    state, diags = _read(_PagedClient({"": ([_mirror("east.a", "a")], "t1"), "t1": ([], "t1")}))
    assert state is None and diags.has_errors()
    [diag] = diags.diagnostics
    assert diag.summary == "cannot list the mirror topics of link 'east'" and "same next_page_token" in diag.detail


def test_a_missing_link_is_one_error_naming_it() -> None:
    missing = ServiceError("", "link 'links/nope' not found [NOT_FOUND]", grpc.StatusCode.NOT_FOUND)
    state, diags = _read(_PagedClient({}, error=missing), "nope")
    assert state is None
    [diag] = diags.diagnostics
    assert diag.severity == "error" and diag.summary == "cannot list the mirror topics of link 'nope'"
    assert "not found [NOT_FOUND]" in diag.detail


def test_an_unconfigured_provider_is_a_diagnostic() -> None:
    diags = Diagnostics()
    provider = _Provider(None)  # type: ignore[arg-type]
    provider.config_problem = "ConfigureProvider failed"
    state = MirrorTopicsDataSource(provider).read(  # type: ignore[arg-type]
        ReadDataContext(diags, "clusterlink_mirror_topics"), {"link": "east"})
    assert state is None and "not configured" in diags.diagnostics[0].summary
