"""Property-based test of the API's input rules (issue 7), with Hypothesis.

For every RPC of ClusterLinkService, every field of its request (found from
the protobuf descriptors, nested messages and map keys included) is set to a
generated value while the rest of the request stays valid, and the request is
sent to an in-process server, on SQLite and on PostgreSQL. The values come
from Hypothesis' own strategies: `from_regex` for valid names of every kind
(which are then corrupted: a trailing newline, cut, doubled), arbitrary text
(control characters, other scripts' digits), very long strings, extreme
numbers. The properties:

- no answer is INTERNAL, UNKNOWN or any other code outside the API's set;
- every message is under 1 KiB, and an INVALID_ARGUMENT names the field;
- nothing invalid is stored: everything listed afterwards still matches its rule.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from cryptography.fernet import Fernet
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from clusterlink.api import validation as v
from clusterlink.api.server import build_server
from clusterlink.config import link_config
from clusterlink.store import db
from clusterlink.store.secrets import SecretBox
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

SERVICE = pb.DESCRIPTOR.services_by_name["ClusterLinkService"]
LINK = "fz"
MIRROR = f"links/{LINK}/mirrorTopics/orders"
# What the API may answer to any input; INTERNAL, UNKNOWN, UNAVAILABLE... mean a bug.
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
}
# Output-only message types: the server never reads them.
SKIPPED_TYPES = {"google.protobuf.Timestamp", "clusterlink.v1.LinkStatus", "clusterlink.v1.PartitionStatus"}
EXAMPLES_PER_FIELD = int(os.environ.get("CLUSTERLINK_FUZZ_EXAMPLES", "12"))
# The documented rules (README, "API input rules"), written out here so that the
# test does not take them from the code under test.
LINK_ID_RULE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
TOPIC_RULE = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def link_id_ok(value: str) -> bool:
    return LINK_ID_RULE.fullmatch(value) is not None


def topic_ok(value: str) -> bool:
    return TOPIC_RULE.fullmatch(value) is not None and value not in (".", "..")


# --------------------------------------------------------------------------- values

def _names() -> st.SearchStrategy[str]:
    """Valid values of every rule the API has, from the rules' own regular expressions."""
    link_id = st.from_regex(LINK_ID_RULE, fullmatch=True)
    topic = st.from_regex(TOPIC_RULE, fullmatch=True)
    return st.one_of(
        link_id,
        topic,
        link_id.map(v.link_name),
        st.tuples(link_id, topic).map(lambda p: v.mirror_topic_name(*p)),
        st.from_regex(r"[a-z][a-z0-9.-]{0,20}:[1-9][0-9]{0,4}", fullmatch=True),  # host:port
        st.from_regex(r"[0-9]{1,7}", fullmatch=True),  # numbers, etags
        st.sampled_from(sorted(link_config.KNOBS)),
        st.sampled_from([*v.SECURITY_PROTOCOLS, *v.SASL_MECHANISMS, "links/fz", MIRROR, '"1"', "W/\"1\"", "*"]),
    )


NAMES = _names()
TEXT = st.one_of(
    NAMES,
    NAMES.map(lambda s: s + "\n"),  # what a rule written with `$` lets through
    NAMES.map(lambda s: s + "\r\n"),
    NAMES.map(lambda s: "\n" + s),
    NAMES.map(lambda s: s[: len(s) // 2]),
    NAMES.map(lambda s: s + s),
    st.tuples(NAMES, st.characters(categories=["Cc", "Zs", "Nd", "Cf"]), NAMES).map("".join),
    st.text(max_size=40),
    st.sampled_from(["", ".", "..", " ", "+5", " 5", "5\n", "1_000", "\uff15", "\u0665", "-1", "links/", "links//x"]),
    st.integers(200, 300_000).map(lambda n: "a" * n),  # too long for any name; far below the request limit
    st.integers(1, 2_000).map(lambda n: "fz/" * n),
)
INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([-2, -1, 0, 1, 1000, 1001]))
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-1, 0, 1]))


def _value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    repeated = field.label == FieldDescriptor.LABEL_REPEATED
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.lists(TEXT, max_size=120) if repeated else TEXT
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_ENUM):
        return st.lists(INT32, max_size=20) if repeated else INT32
    if field.type == FieldDescriptor.TYPE_INT64:
        return st.lists(INT64, max_size=12_000) if repeated else INT64
    raise AssertionError(f"no strategy for {field.full_name}")


# --------------------------------------------------------------------------- requests and their fields

def _base_requests() -> dict[str, Callable[[], Message]]:
    """One valid request per RPC (on the link "fz" and its mirror topic "orders")."""
    conn = lambda s: pb.ClusterConnection(bootstrap_servers=s)  # noqa: E731
    fresh = lambda: f"n{uuid.uuid4().hex[:10]}"  # noqa: E731
    return {
        "CreateLink": lambda: pb.CreateLinkRequest(link_id=fresh(), link=pb.Link(source=conn("a:1"), destination=conn("b:2"))),
        "GetLink": lambda: pb.GetLinkRequest(name=f"links/{LINK}"),
        "ListLinks": lambda: pb.ListLinksRequest(page_size=2),
        "UpdateLink": lambda: pb.UpdateLinkRequest(link=pb.Link(name=f"links/{LINK}", source=conn("a:1"), destination=conn("b:2"))),
        "DeleteLink": lambda: pb.DeleteLinkRequest(name=f"links/{LINK}", force=True, validate_only=True),
        "PauseLink": lambda: pb.PauseLinkRequest(name=f"links/{LINK}"),
        "ResumeLink": lambda: pb.ResumeLinkRequest(name=f"links/{LINK}"),
        "CreateMirrorTopic": lambda: pb.CreateMirrorTopicRequest(
            parent=f"links/{LINK}", mirror_topic_id=fresh(), mirror_topic=pb.MirrorTopic(source_topic="orders")),
        "GetMirrorTopic": lambda: pb.GetMirrorTopicRequest(name=MIRROR),
        "ListMirrorTopics": lambda: pb.ListMirrorTopicsRequest(parent=f"links/{LINK}", page_size=2),
        "PauseMirrorTopic": lambda: pb.PauseMirrorTopicRequest(name=MIRROR),
        "ResumeMirrorTopic": lambda: pb.ResumeMirrorTopicRequest(name=MIRROR),
        "PromoteMirrorTopic": lambda: pb.PromoteMirrorTopicRequest(name=MIRROR, validate_only=True),
        "FailoverMirrorTopic": lambda: pb.FailoverMirrorTopicRequest(name=MIRROR, validate_only=True),
        "DeleteMirrorTopic": lambda: pb.DeleteMirrorTopicRequest(name=MIRROR, validate_only=True),
        "ListTranslationSegments": lambda: pb.ListTranslationSegmentsRequest(name=MIRROR, partition=-1),
        "TranslateOffsets": lambda: pb.TranslateOffsetsRequest(name=MIRROR, partition=0, source_offsets=[0, 5]),
        "ListReplicas": lambda: pb.ListReplicasRequest(),
    }


BASE = _base_requests()


def leaf_fields(descriptor: Descriptor, prefix: str = "") -> list[tuple[str, FieldDescriptor]]:
    """Every scalar field of a request, by its path (`link.source.bootstrap_servers`); maps as a whole."""
    out: list[tuple[str, FieldDescriptor]] = []
    for field in descriptor.fields:
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                out.append((path, field))
            elif field.message_type.full_name not in SKIPPED_TYPES and field.label != FieldDescriptor.LABEL_REPEATED:
                out += leaf_fields(field.message_type, f"{path}.")
        else:
            out.append((path, field))
    return out


FIELDS = {method.name: leaf_fields(method.input_type) for method in SERVICE.methods}


def test_every_rpc_and_field_is_covered() -> None:
    assert set(BASE) == set(FIELDS) == {m.name for m in SERVICE.methods}
    assert ("update_mask.paths" in dict(FIELDS["UpdateLink"])) and ("link.config" in dict(FIELDS["CreateLink"]))
    assert "link.source.ssl_key_pem" in dict(FIELDS["UpdateLink"])
    assert sum(len(f) for f in FIELDS.values()) > 60


def _set(request: Message, path: str, field: FieldDescriptor, value: Any) -> None:
    *parents, _ = path.split(".")
    target = request
    for name in parents:
        target = getattr(target, name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        getattr(target, field.name).clear()
        getattr(target, field.name).update(value)
    elif field.label == FieldDescriptor.LABEL_REPEATED:
        del getattr(target, field.name)[:]
        getattr(target, field.name).extend(value)
    else:
        setattr(target, field.name, value)


def field_value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        keys = st.one_of(st.sampled_from(sorted(link_config.KNOBS)), TEXT)
        return st.dictionaries(keys, TEXT, max_size=6)
    return _value(field)


def api_field(path: str) -> str:
    """How the API names a request field in its messages (what an INVALID_ARGUMENT must contain)."""
    if path.startswith("update_mask."):
        return "update_mask"
    parts = path.split(".")
    if len(parts) >= 3 and parts[1] in ("source", "destination"):
        return ".".join(parts[:2]) + "."  # a connection's rules tie its fields together
    return path


# --------------------------------------------------------------------------- the server

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pb_grpc.ClusterLinkServiceStub]:
    admin = None
    schema = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/clusterlink.db"
    else:
        base = os.environ.get("CLUSTERLINK_TEST_POSTGRES_URL") or request.getfixturevalue("postgres_url")
        schema = f"f_{uuid.uuid4().hex[:12]}"
        admin = create_engine(db.normalize_url(base))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    db.upgrade(url)
    engine = db.make_engine(url)
    server, port = build_server("127.0.0.1:0", db.session_factory(engine), SecretBox(Fernet(Fernet.generate_key())))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.ClusterLinkServiceStub(channel)
    finally:
        channel.close()
        server.stop(None)
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def ensure_base(stub: pb_grpc.ClusterLinkServiceStub) -> None:
    """The link "fz" and its mirror topic "orders" exist (a fuzzed call may have changed them)."""
    conn = pb.ClusterConnection
    for call, request in (
        (stub.CreateLink, pb.CreateLinkRequest(link_id=LINK, link=pb.Link(source=conn(bootstrap_servers="a:1"),
                                                                          destination=conn(bootstrap_servers="b:2")))),
        (stub.CreateMirrorTopic, pb.CreateMirrorTopicRequest(parent=f"links/{LINK}", mirror_topic=pb.MirrorTopic(source_topic="orders"))),
    ):
        try:
            call(request, timeout=30)
        except grpc.RpcError as err:
            assert err.code() in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION), err


def check_answer(method: str, path: str, call: Callable[[], Message]) -> Message | None:
    try:
        return call()
    except grpc.RpcError as err:
        code, details = err.code(), err.details() or ""
        assert code in ALLOWED, (method, path, code, details[:300])
        assert len(details.encode()) < 1024, (method, path, len(details))
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert api_field(path) in details, (method, path, details)
        return None


def check_stored(answer: Message | None) -> None:
    """What an RPC returns (and so stored) matches the rules."""
    if isinstance(answer, pb.Link):
        prefix, _, link_id = answer.name.partition("/")
        assert prefix == "links" and link_id_ok(link_id), answer.name
        for key, value in answer.config.items():
            assert link_config.validate({key: value}) == [] and value.isprintable(), (key, value)
        for side in (answer.source, answer.destination):
            assert v.check_bootstrap(side.bootstrap_servers, "x") == [] and side.bootstrap_servers.isprintable()
            assert side.sasl_username.isprintable() and len(side.sasl_username) <= 256
    elif isinstance(answer, pb.MirrorTopic):
        parts = answer.name.split("/")
        assert len(parts) == 4 and parts[0] == "links" and parts[2] == "mirrorTopics", answer.name
        assert link_id_ok(parts[1]) and topic_ok(parts[3]) and topic_ok(answer.source_topic), answer.name


SETTINGS = dict(
    deadline=None,
    derandomize=True,  # the same examples on every run: a red test is a bug, never bad luck
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


# A request without fields (ListReplicas) has nothing to malform.
@pytest.mark.parametrize("method", sorted(name for name, fields in FIELDS.items() if fields))
def test_malformed_fields(stub: pb_grpc.ClusterLinkServiceStub, method: str) -> None:
    fields = FIELDS[method]

    @settings(max_examples=EXAMPLES_PER_FIELD * len(fields), **SETTINGS)  # type: ignore[arg-type]
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        path, field = data.draw(st.sampled_from(fields), label="field")
        value = data.draw(field_value(field), label="value")
        ensure_base(stub)
        request = BASE[method]()
        _set(request, path, field, value)
        answer = check_answer(method, path, lambda: getattr(stub, method)(request, timeout=60))
        check_stored(answer)

    run()


def test_nothing_invalid_was_stored(stub: pb_grpc.ClusterLinkServiceStub) -> None:
    """After every example above (same server, same database): all that is listed matches its rule."""
    links: list[pb.Link] = []
    token = ""
    while True:
        page = stub.ListLinks(pb.ListLinksRequest(page_size=7, page_token=token))
        links += page.links
        token = page.next_page_token
        if not token:
            break
    assert len(links) > 1
    for link in links:
        check_stored(link)
        token = ""
        while True:
            page = stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent=link.name, page_size=5, page_token=token))
            for mirror in page.mirror_topics:
                check_stored(mirror)
            token = page.next_page_token
            if not token:
                break
