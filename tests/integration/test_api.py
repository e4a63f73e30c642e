"""The gRPC API end to end: a real server on a free port, a real database (SQLite, and PostgreSQL
when CLUSTERLINK_TEST_POSTGRES_URL is set), the generated client, health checking and reflection.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from cryptography.fernet import Fernet
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from clusterlink.api import errors, mirror_topics
from clusterlink.api.server import build_server
from clusterlink.api.server import BindError
from clusterlink.store import db
from clusterlink.store import models as m
from clusterlink.store.secrets import SecretBox
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

POSTGRES_ENV = "CLUSTERLINK_TEST_POSTGRES_URL"
PASSWORD = "s3cr3t-Pa55w0rd-do-not-leak"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"


# --------------------------------------------------------------------------- fixtures


def _suite_postgres(request: pytest.FixtureRequest) -> str | None:
    """The PostgreSQL server the test suite starts (tests/fixtures/postgres.py), when it is there."""
    try:
        return request.getfixturevalue("postgres_url")
    except pytest.FixtureLookupError:
        return None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The URL of an empty database of each kind (swap for the suite's `database_url` fixture)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clusterlink.db'}"
        return
    base = os.environ.get(POSTGRES_ENV) or _suite_postgres(request)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV} (e.g. postgresql://user@127.0.0.1:5432/db) to run on PostgreSQL")
    # One fresh schema per test, selected with search_path, dropped afterwards.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db.normalize_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Api:
    stub: pb_grpc.ClusterLinkServiceStub
    channel: grpc.Channel
    factory: sessionmaker[Session]
    box: SecretBox
    changes: list[int]


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    factory = db.session_factory(engine)
    box = SecretBox(Fernet(Fernet.generate_key()))
    changes: list[int] = []
    server, port = build_server("127.0.0.1:0", factory, box, on_change=lambda: changes.append(1))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Api(pb_grpc.ClusterLinkServiceStub(channel), channel, factory, box, changes)
    finally:
        channel.close()
        server.stop(None)
        engine.dispose()


def plain(servers: str = "10.0.0.1:9092") -> pb.ClusterConnection:
    return pb.ClusterConnection(bootstrap_servers=servers)


def new_link(api: Api, link_id: str = "dr-east", **kw: Any) -> pb.Link:
    link = pb.Link(source=plain(), destination=plain("10.0.0.2:9092"), **kw)
    return api.stub.CreateLink(pb.CreateLinkRequest(link_id=link_id, link=link))


def new_mirror(api: Api, link_id: str = "dr-east", source_topic: str = "orders", mirror_topic_id: str = "") -> pb.MirrorTopic:
    return api.stub.CreateMirrorTopic(
        pb.CreateMirrorTopicRequest(
            parent=f"links/{link_id}",
            mirror_topic_id=mirror_topic_id,
            mirror_topic=pb.MirrorTopic(source_topic=source_topic),
        )
    )


def fails(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value


def set_state(api: Api, link_id: str, topic: str, state: str, reason: str = "") -> None:
    """What a worker would write."""
    with db.transaction(api.factory) as s:
        link = s.scalars(select(m.Link).where(m.Link.name == link_id)).one()
        s.execute(
            update(m.MirrorTopic)
            .where(m.MirrorTopic.link_id == link.id, m.MirrorTopic.name == topic)
            .values(state=state, reason=reason)
        )


def mirror_row_id(api: Api, link_id: str, topic: str) -> int:
    with db.transaction(api.factory) as s:
        return s.scalars(
            select(m.MirrorTopic.id).join(m.Link).where(m.Link.name == link_id, m.MirrorTopic.name == topic)
        ).one()


# --------------------------------------------------------------------------- health and reflection


def test_health_serving(api: Api) -> None:
    health = health_pb2_grpc.HealthStub(api.channel)
    for service in ("", "clusterlink.v1.ClusterLinkService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_service(api: Api) -> None:
    reflection_db = ProtoReflectionDescriptorDatabase(api.channel)
    services = reflection_db.get_services()
    assert "clusterlink.v1.ClusterLinkService" in services
    assert "grpc.health.v1.Health" in services
    proto = reflection_db.FindFileContainingSymbol("clusterlink.v1.ClusterLinkService")
    assert proto.package == "clusterlink.v1"
    assert any(s.name == "ClusterLinkService" for s in proto.service)


# --------------------------------------------------------------------------- links


def test_create_get_list_link(api: Api) -> None:
    created = new_link(api, config={"mirror.topic.prefix": "east."})
    assert created.name == "links/dr-east"
    assert created.etag == '"1"'
    assert created.create_time.seconds > 0 and created.update_time.seconds > 0
    assert created.status.state == pb.LinkStatus.ACTIVE
    assert created.status.mirror_topic_count == 0
    assert created.source.bootstrap_servers == "10.0.0.1:9092"
    assert dict(created.config) == {"mirror.topic.prefix": "east."}
    assert api.changes == [1]
    assert api.stub.GetLink(pb.GetLinkRequest(name="links/dr-east")) == created
    listed = api.stub.ListLinks(pb.ListLinksRequest())
    assert list(listed.links) == [created]
    assert listed.next_page_token == ""


def test_duplicate_link(api: Api) -> None:
    new_link(api)
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id="dr-east", link=pb.Link(source=plain(), destination=plain())))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "links/dr-east" in err.details()


def test_concurrent_creates_one_wins(api: Api) -> None:
    codes: list[grpc.StatusCode] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            new_link(api, "race")
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c.name for c in codes) == ["ALREADY_EXISTS"] * 7 + ["OK"]


def test_not_found(api: Api) -> None:
    new_link(api)
    cases = [
        (api.stub.GetLink, pb.GetLinkRequest(name="links/missing"), "links/missing"),
        (api.stub.UpdateLink, pb.UpdateLinkRequest(link=pb.Link(name="links/missing", source=plain(), destination=plain())), "links/missing"),
        (api.stub.DeleteLink, pb.DeleteLinkRequest(name="links/missing"), "links/missing"),
        (api.stub.PauseLink, pb.PauseLinkRequest(name="links/missing"), "links/missing"),
        (api.stub.ResumeLink, pb.ResumeLinkRequest(name="links/missing"), "links/missing"),
        (api.stub.CreateMirrorTopic, pb.CreateMirrorTopicRequest(parent="links/missing", mirror_topic=pb.MirrorTopic(source_topic="t")), "links/missing"),
        (api.stub.ListMirrorTopics, pb.ListMirrorTopicsRequest(parent="links/missing"), "links/missing"),
        (api.stub.GetMirrorTopic, pb.GetMirrorTopicRequest(name="links/dr-east/mirrorTopics/nope"), "links/dr-east/mirrorTopics/nope"),
        (api.stub.GetMirrorTopic, pb.GetMirrorTopicRequest(name="links/missing/mirrorTopics/nope"), "links/missing"),
        (api.stub.PauseMirrorTopic, pb.PauseMirrorTopicRequest(name="links/dr-east/mirrorTopics/nope"), "nope"),
        (api.stub.ResumeMirrorTopic, pb.ResumeMirrorTopicRequest(name="links/dr-east/mirrorTopics/nope"), "nope"),
        (api.stub.PromoteMirrorTopic, pb.PromoteMirrorTopicRequest(name="links/dr-east/mirrorTopics/nope"), "nope"),
        (api.stub.FailoverMirrorTopic, pb.FailoverMirrorTopicRequest(name="links/dr-east/mirrorTopics/nope"), "nope"),
        (api.stub.DeleteMirrorTopic, pb.DeleteMirrorTopicRequest(name="links/dr-east/mirrorTopics/nope"), "nope"),
        (api.stub.ListTranslationSegments, pb.ListTranslationSegmentsRequest(name="links/dr-east/mirrorTopics/nope"), "nope"),
        (api.stub.TranslateOffsets, pb.TranslateOffsetsRequest(name="links/dr-east/mirrorTopics/nope", source_offsets=[1]), "nope"),
    ]
    for call, request, named in cases:
        err = fails(call, request)
        assert err.code() == grpc.StatusCode.NOT_FOUND, (call, err.details())
        assert named in err.details()


# Every RPC, with bad input, answers INVALID_ARGUMENT naming the field (even though the resources exist).
BAD_INPUT = [
    ("CreateLink", pb.CreateLinkRequest(link_id="Bad_Id", link=pb.Link(source=plain(), destination=plain())), "link_id"),
    ("CreateLink", pb.CreateLinkRequest(link=pb.Link(source=plain(), destination=plain())), "link_id is required"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(source=plain("foo"), destination=plain())),
     "link.source.bootstrap_servers: 'foo' is not host:port (example: 10.0.0.1:9092)"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(source=plain(), destination=plain("PLAINTEXT://b:9092"))),
     "link.destination.bootstrap_servers"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(source=plain())), "link.destination.bootstrap_servers is required"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(source=plain(), destination=plain(), config={"bogus": "1"})),
     "link.config: config key 'bogus' is unknown; known keys: "),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(source=plain(), destination=plain(), config={"mirror.producer.linger.ms": "-3"})),
     "link.config: config mirror.producer.linger.ms"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SASL_SSL", sasl_username="u", sasl_password=PASSWORD),
        destination=plain())), "link.source.sasl_mechanism is required"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers="a:1", sasl_password=PASSWORD), destination=plain())),
     "link.source.sasl_password is only used with SASL_PLAINTEXT or SASL_SSL"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(
        source=plain(), destination=pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SSL", ssl_key_pem=KEY_PEM))),
     "link.destination.ssl_key_pem needs link.destination.ssl_certificate_pem"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(
        source=plain(), destination=pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SSL", ssl_ca_pem="nope"))),
     "link.destination.ssl_ca_pem does not look like PEM"),
    ("CreateLink", pb.CreateLinkRequest(link_id="x", link=pb.Link(
        source=pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="TLS"), destination=plain())),
     "link.source.security_protocol: 'TLS' is not one of"),
    ("GetLink", pb.GetLinkRequest(name="dr-east"), "name: 'dr-east' is not a link name"),
    ("GetLink", pb.GetLinkRequest(), "name is required"),
    ("ListLinks", pb.ListLinksRequest(page_size=-1), "page_size"),
    ("ListLinks", pb.ListLinksRequest(page_token="not-a-token"), "page_token"),
    ("UpdateLink", pb.UpdateLinkRequest(link=pb.Link(name="links/Nope")), "link.name"),
    ("UpdateLink", pb.UpdateLinkRequest(link=pb.Link(name="links/dr-east"), update_mask=field_mask_pb2.FieldMask(paths=["etag"])),
     "update_mask: path 'etag' cannot be updated"),
    ("UpdateLink", pb.UpdateLinkRequest(link=pb.Link(name="links/dr-east"), update_mask=field_mask_pb2.FieldMask(paths=["source.sasl_password_set"])),
     "update_mask: path 'source.sasl_password_set' is output only"),
    ("UpdateLink", pb.UpdateLinkRequest(link=pb.Link(name="links/dr-east", source=plain("x")), update_mask=field_mask_pb2.FieldMask(paths=["source.bootstrap_servers"])),
     "link.source.bootstrap_servers: 'x' is not host:port"),
    ("UpdateLink", pb.UpdateLinkRequest(link=pb.Link(name="links/dr-east", config={"nope": "1"}), update_mask=field_mask_pb2.FieldMask(paths=["config.nope"])),
     "link.config: config key 'nope' is unknown"),
    ("DeleteLink", pb.DeleteLinkRequest(name="links/"), "name"),
    ("PauseLink", pb.PauseLinkRequest(name="links/dr_east"), "name"),
    ("ResumeLink", pb.ResumeLinkRequest(name="dr-east"), "name"),
    ("CreateMirrorTopic", pb.CreateMirrorTopicRequest(parent="dr-east", mirror_topic=pb.MirrorTopic(source_topic="t")), "parent"),
    ("CreateMirrorTopic", pb.CreateMirrorTopicRequest(parent="links/dr-east"), "mirror_topic.source_topic is required"),
    ("CreateMirrorTopic", pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="a b")),
     "mirror_topic.source_topic: 'a b' contains characters"),
    ("CreateMirrorTopic", pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic_id="..", mirror_topic=pb.MirrorTopic(source_topic="t")),
     "mirror_topic_id"),
    ("CreateMirrorTopic", pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="x" * 250)),
     "mirror_topic.source_topic: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (250 characters) is 250 characters long"),
    ("GetMirrorTopic", pb.GetMirrorTopicRequest(name="links/dr-east/mirrorTopics/a b"), "name"),
    ("GetMirrorTopic", pb.GetMirrorTopicRequest(name="links/dr-east/topics/orders"), "name: 'links/dr-east/topics/orders' is not a mirror topic name"),
    ("ListMirrorTopics", pb.ListMirrorTopicsRequest(parent="links/dr-east/x"), "parent"),
    ("ListMirrorTopics", pb.ListMirrorTopicsRequest(parent="links/dr-east", page_size=-5), "page_size: -5 is negative"),
    ("ListMirrorTopics", pb.ListMirrorTopicsRequest(parent="links/dr-east", page_token="zzz"), "page_token"),
    ("PauseMirrorTopic", pb.PauseMirrorTopicRequest(name="links/dr-east/mirrorTopics/"), "name"),
    ("ResumeMirrorTopic", pb.ResumeMirrorTopicRequest(name="orders"), "name"),
    ("PromoteMirrorTopic", pb.PromoteMirrorTopicRequest(name="links/dr-east/mirrorTopics/.."), "name"),
    ("FailoverMirrorTopic", pb.FailoverMirrorTopicRequest(name="links//mirrorTopics/orders"), "name"),
    ("DeleteMirrorTopic", pb.DeleteMirrorTopicRequest(name="links/dr-east/mirrorTopics/a:b"), "name"),
    ("ListTranslationSegments", pb.ListTranslationSegmentsRequest(name="x"), "name"),
    ("ListTranslationSegments", pb.ListTranslationSegmentsRequest(name="links/dr-east/mirrorTopics/orders", partition=-2), "partition: -2"),
    ("TranslateOffsets", pb.TranslateOffsetsRequest(name="x", source_offsets=[1]), "name"),
    ("TranslateOffsets", pb.TranslateOffsetsRequest(name="links/dr-east/mirrorTopics/orders", partition=-1, source_offsets=[1]), "partition: -1"),
    ("TranslateOffsets", pb.TranslateOffsetsRequest(name="links/dr-east/mirrorTopics/orders", source_offsets=[5, -1]),
     "source_offsets[1]: -1 is negative"),
]


def test_bad_input_on_every_rpc(api: Api) -> None:
    new_link(api)
    new_mirror(api)
    covered = set()
    for method, request, named in BAD_INPUT:
        err = fails(getattr(api.stub, method), request)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, request, err.details())
        assert named in err.details(), (method, err.details())
        assert PASSWORD not in err.details() and "TOPSECRET" not in err.details()
        covered.add(method)
    service = pb.DESCRIPTOR.services_by_name["ClusterLinkService"]
    # A request without fields (ListReplicas) has no input to get wrong.
    assert covered == {method.name for method in service.methods if method.input_type.fields}


def test_create_mirror_topic_default_name_too_long(api: Api) -> None:
    new_link(api, config={"mirror.topic.prefix": "p" * 200})
    err = fails(
        api.stub.CreateMirrorTopic,
        pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="t" * 60)),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("mirror_topic_id: the default name")


def test_etag_mismatch(api: Api) -> None:
    link = new_link(api)
    update_req = pb.UpdateLinkRequest(
        link=pb.Link(name=link.name, paused=True, etag='"7"'), update_mask=field_mask_pb2.FieldMask(paths=["paused"])
    )
    err = fails(api.stub.UpdateLink, update_req)
    assert err.code() == grpc.StatusCode.ABORTED
    assert "etag mismatch: re-read the link and retry" in err.details()
    err = fails(api.stub.DeleteLink, pb.DeleteLinkRequest(name=link.name, etag='"7"'))
    assert err.code() == grpc.StatusCode.ABORTED
    # the current etag works; the old one is then stale
    update_req.link.etag = link.etag
    updated = api.stub.UpdateLink(update_req)
    assert updated.paused and updated.etag == '"2"'
    err = fails(api.stub.DeleteLink, pb.DeleteLinkRequest(name=link.name, etag=link.etag))
    assert err.code() == grpc.StatusCode.ABORTED
    api.stub.DeleteLink(pb.DeleteLinkRequest(name=link.name, etag=updated.etag))
    assert fails(api.stub.GetLink, pb.GetLinkRequest(name=link.name)).code() == grpc.StatusCode.NOT_FOUND


def test_update_with_field_masks(api: Api) -> None:
    link = new_link(api, config={"mirror.topic.prefix": "a.", "mirror.producer.linger.ms": "10"})

    def upd(paths: list[str], **fields: Any) -> pb.Link:
        return api.stub.UpdateLink(
            pb.UpdateLinkRequest(link=pb.Link(name=link.name, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths))
        )

    # one config key set, one removed (absent from the request map), the rest kept
    out = upd(["config.mirror.topic.prefix", "config.mirror.producer.linger.ms"], config={"mirror.topic.prefix": "b."})
    assert dict(out.config) == {"mirror.topic.prefix": "b."}
    assert out.etag == '"2"'
    assert out.update_time.ToDatetime() >= link.update_time.ToDatetime()
    assert out.create_time == link.create_time
    # one connection field; the other fields stay
    out = upd(["source.bootstrap_servers"], source=plain("s1:9092,s2:9092"))
    assert out.source.bootstrap_servers == "s1:9092,s2:9092"
    assert out.destination.bootstrap_servers == "10.0.0.2:9092"
    assert out.etag == '"3"'
    # paused only: config untouched even though the request's map is empty
    out = upd(["paused"], paused=True)
    assert out.paused and out.status.state == pb.LinkStatus.PAUSED
    assert dict(out.config) == {"mirror.topic.prefix": "b."}
    # same values again: nothing changes, not even the etag
    again = upd(["paused"], paused=True)
    assert again.etag == out.etag
    # whole config map replaced
    out = upd(["config"], config={"mirror.batch.max.records": "5"})
    assert dict(out.config) == {"mirror.batch.max.records": "5"}
    # empty mask: source/destination if present, config and paused as given
    out = api.stub.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(name=link.name, destination=plain("d:1"))))
    assert out.destination.bootstrap_servers == "d:1"
    assert out.source.bootstrap_servers == "s1:9092,s2:9092"
    assert dict(out.config) == {} and not out.paused
    assert api.stub.GetLink(pb.GetLinkRequest(name=link.name)) == out


def test_validate_only_changes_nothing(api: Api) -> None:
    link = new_link(api)
    mirror = new_mirror(api)
    before_changes = len(api.changes)

    def snapshot() -> tuple[Any, ...]:
        return (
            api.stub.ListLinks(pb.ListLinksRequest()),
            api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent=link.name)),
        )

    before = snapshot()
    out = api.stub.CreateLink(pb.CreateLinkRequest(link_id="other", link=pb.Link(source=plain(), destination=plain()), validate_only=True))
    assert out.name == "links/other" and out.etag == '"1"'
    # validate_only still runs the existence checks
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id="dr-east", link=pb.Link(source=plain(), destination=plain()), validate_only=True))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    out = api.stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(name=link.name, config={"mirror.topic.prefix": "z."}),
        update_mask=field_mask_pb2.FieldMask(paths=["config"]), validate_only=True))
    assert dict(out.config) == {"mirror.topic.prefix": "z."} and out.etag == '"2"'
    assert api.stub.PauseLink(pb.PauseLinkRequest(name=link.name, validate_only=True)).paused
    err = fails(api.stub.DeleteLink, pb.DeleteLinkRequest(name=link.name, validate_only=True))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    api.stub.DeleteLink(pb.DeleteLinkRequest(name=link.name, force=True, validate_only=True))
    out = api.stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
        parent=link.name, mirror_topic=pb.MirrorTopic(source_topic="payments"), validate_only=True))
    assert out.name == "links/dr-east/mirrorTopics/payments" and out.state == pb.MirrorTopic.PENDING
    out = api.stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=mirror.name, validate_only=True))
    assert out.state == pb.MirrorTopic.PAUSED
    out = api.stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=mirror.name, validate_only=True))
    assert out.state == pb.MirrorTopic.FAILED_OVER
    out = api.stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=mirror.name, validate_only=True))
    assert out.state == pb.MirrorTopic.PENDING  # resuming a PENDING mirror is a no-op
    err = fails(api.stub.CreateMirrorTopic, pb.CreateMirrorTopicRequest(
        parent=link.name, mirror_topic=pb.MirrorTopic(source_topic="orders"), validate_only=True))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    api.stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=mirror.name, delete_destination_topic=True, validate_only=True))
    assert snapshot() == before
    assert len(api.changes) == before_changes


def test_secrets_are_write_only_and_sealed(api: Api) -> None:
    source = pb.ClusterConnection(
        bootstrap_servers="[::1]:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="mirror",
        sasl_password=PASSWORD,
        ssl_ca_pem=CERT_PEM,
        ssl_certificate_pem=CERT_PEM,
        ssl_key_pem=KEY_PEM,
    )
    created = api.stub.CreateLink(pb.CreateLinkRequest(link_id="secure", link=pb.Link(source=source, destination=plain())))
    for out in (created, api.stub.GetLink(pb.GetLinkRequest(name="links/secure")),
                api.stub.ListLinks(pb.ListLinksRequest()).links[0]):
        assert out.source.sasl_password == "" and out.source.ssl_key_pem == ""
        assert out.source.sasl_password_set and out.source.ssl_key_set
        assert not out.destination.sasl_password_set and not out.destination.ssl_key_set
        assert out.source.sasl_username == "mirror" and out.source.ssl_ca_pem == CERT_PEM
        assert PASSWORD not in str(out) and "TOPSECRET" not in str(out)

    def raw() -> str:
        with api.factory() as s:
            return repr(s.execute(text("SELECT * FROM links")).all())

    stored = raw()
    assert PASSWORD not in stored and "TOPSECRET" not in stored
    with db.transaction(api.factory) as s:
        row = s.scalars(select(m.Link).where(m.Link.name == "secure")).one()
        assert api.box.open(row.source_secrets) == {"sasl_password": PASSWORD, "ssl_key_pem": KEY_PEM}
        assert "sasl_password" not in row.source and "ssl_key_pem" not in row.source
        assert row.destination_secrets is None

    # replacing the whole source without secrets keeps the stored ones
    keep = pb.ClusterConnection()
    keep.CopyFrom(source)
    keep.sasl_password = ""
    keep.ssl_key_pem = ""
    keep.sasl_username = "mirror2"
    out = api.stub.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(name="links/secure", source=keep),
                                                   update_mask=field_mask_pb2.FieldMask(paths=["source"])))
    assert out.source.sasl_username == "mirror2" and out.source.sasl_password_set and out.source.ssl_key_set
    # naming the password in the mask clears it, which SASL refuses (without echoing anything secret)
    err = fails(api.stub.UpdateLink, pb.UpdateLinkRequest(link=pb.Link(name="links/secure"),
                                                          update_mask=field_mask_pb2.FieldMask(paths=["source.sasl_password"])))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "link.source.sasl_password is required with SASL_SSL" in err.details()
    # clearing the key works and is reported
    out = api.stub.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(name="links/secure"),
                                                   update_mask=field_mask_pb2.FieldMask(paths=["source.ssl_key_pem"])))
    assert not out.source.ssl_key_set and out.source.sasl_password_set
    # a new password through the sub-path
    out = api.stub.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(name="links/secure", source=pb.ClusterConnection(sasl_password="new-one")),
                                                   update_mask=field_mask_pb2.FieldMask(paths=["source.sasl_password"])))
    with db.transaction(api.factory) as s:
        row = s.scalars(select(m.Link).where(m.Link.name == "secure")).one()
        assert api.box.open(row.source_secrets) == {"sasl_password": "new-one"}
    # switching to PLAINTEXT drops the stored password rather than keeping an unused secret
    out = api.stub.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(name="links/secure", source=plain("p:1")),
                                                   update_mask=field_mask_pb2.FieldMask(paths=["source"])))
    assert not out.source.sasl_password_set and out.source.security_protocol == ""
    assert PASSWORD not in raw() and "new-one" not in raw()


# --------------------------------------------------------------------------- link lifecycle


def test_pause_resume_link_idempotent(api: Api) -> None:
    link = new_link(api)
    paused = api.stub.PauseLink(pb.PauseLinkRequest(name=link.name))
    assert paused.paused and paused.status.state == pb.LinkStatus.PAUSED and paused.etag == '"2"'
    assert api.stub.PauseLink(pb.PauseLinkRequest(name=link.name)) == paused
    resumed = api.stub.ResumeLink(pb.ResumeLinkRequest(name=link.name))
    assert not resumed.paused and resumed.status.state == pb.LinkStatus.ACTIVE and resumed.etag == '"3"'
    assert api.stub.ResumeLink(pb.ResumeLinkRequest(name=link.name)).etag == '"3"'


def test_delete_link_with_mirrors_refused_force_works(api: Api) -> None:
    link = new_link(api)
    mirror = new_mirror(api)
    new_mirror(api, source_topic="payments")
    row_id = mirror_row_id(api, "dr-east", "orders")
    with db.transaction(api.factory) as s:
        s.add(m.MirrorPartition(mirror_topic_id=row_id, partition=0, lag=3))
        s.add(m.TranslationSegment(mirror_topic_id=row_id, partition=0, source_offset=10, destination_offset=9))
        s.add(m.LinkTask(link_id=s.scalars(select(m.Link.id)).one(), name="reconciler", state="RUNNING"))
    err = fails(api.stub.DeleteLink, pb.DeleteLinkRequest(name=link.name))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2 mirror topics" in err.details() and "force" in err.details()
    assert api.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror.name)).source_topic == "orders"
    api.stub.DeleteLink(pb.DeleteLinkRequest(name=link.name, force=True))
    assert fails(api.stub.GetLink, pb.GetLinkRequest(name=link.name)).code() == grpc.StatusCode.NOT_FOUND
    with db.transaction(api.factory) as s:
        for model in (m.Link, m.MirrorTopic, m.MirrorPartition, m.TranslationSegment, m.LinkTask):
            assert s.scalars(select(model)).all() == [], model
    # a link without mirror topics needs no force
    new_link(api, "empty")
    api.stub.DeleteLink(pb.DeleteLinkRequest(name="links/empty"))


def test_link_status_from_tasks(api: Api) -> None:
    link = new_link(api)
    new_mirror(api)
    with db.transaction(api.factory) as s:
        link_id = s.scalars(select(m.Link.id)).one()
        s.add(m.LinkTask(link_id=link_id, name="reconciler", state="RUNNING"))
        s.add(m.LinkTask(link_id=link_id, name="mirrorTopics/orders", state="ERROR",
                         last_error="source unreachable", last_error_time=m.utcnow()))
    out = api.stub.GetLink(pb.GetLinkRequest(name=link.name))
    assert out.status.state == pb.LinkStatus.DEGRADED
    assert out.status.mirror_topic_count == 1
    assert [(t.name, t.state) for t in out.status.tasks] == [
        ("mirrorTopics/orders", pb.LinkTask.ERROR), ("reconciler", pb.LinkTask.RUNNING)]
    assert out.status.tasks[0].last_error == "source unreachable"
    assert out.status.tasks[0].last_error_time.seconds > 0
    assert api.stub.PauseLink(pb.PauseLinkRequest(name=link.name)).status.state == pb.LinkStatus.PAUSED


def test_list_pagination(api: Api) -> None:
    for name in ["e", "a", "c", "b", "d"]:
        new_link(api, name)
    names: list[str] = []
    token = ""
    while True:
        page = api.stub.ListLinks(pb.ListLinksRequest(page_size=2, page_token=token))
        assert len(page.links) <= 2
        names += [link.name for link in page.links]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"links/{n}" for n in "abcde"]
    for topic in ["z", "Y", "a.b", "a-b", "a_b"]:
        new_mirror(api, "a", topic)
    first = api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/a", page_size=3))
    second = api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/a", page_size=3, page_token=first.next_page_token))
    got = [t.name.rsplit("/", 1)[1] for t in list(first.mirror_topics) + list(second.mirror_topics)]
    assert got == sorted(["z", "Y", "a.b", "a-b", "a_b"])  # bytewise on every database
    assert second.next_page_token == ""
    # a token belongs to its collection
    err = fails(api.stub.ListMirrorTopics, pb.ListMirrorTopicsRequest(parent="links/b", page_token=first.next_page_token))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()


# --------------------------------------------------------------------------- mirror topics


def test_create_mirror_topic(api: Api) -> None:
    new_link(api, config={"mirror.topic.prefix": "east."})
    mirror = new_mirror(api)
    assert mirror.name == "links/dr-east/mirrorTopics/east.orders"
    assert mirror.source_topic == "orders"
    assert mirror.state == pb.MirrorTopic.PENDING
    assert mirror.offset_fidelity == pb.OFFSET_FIDELITY_UNSPECIFIED
    assert mirror.etag == '"1"'
    explicit = new_mirror(api, source_topic="orders", mirror_topic_id="orders-copy")
    assert explicit.name == "links/dr-east/mirrorTopics/orders-copy"
    err = fails(api.stub.CreateMirrorTopic, pb.CreateMirrorTopicRequest(
        parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="orders")))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and "east.orders" in err.details()
    assert api.stub.GetLink(pb.GetLinkRequest(name="links/dr-east")).status.mirror_topic_count == 2
    # once being deleted, a new one with the same name has to wait
    api.stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=mirror.name))
    err = fails(api.stub.CreateMirrorTopic, pb.CreateMirrorTopicRequest(
        parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="orders")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is being deleted, retry when it is gone" in err.details()


def test_mirror_topic_status_output(api: Api) -> None:
    new_link(api)
    mirror = new_mirror(api)
    row_id = mirror_row_id(api, "dr-east", "orders")
    with db.transaction(api.factory) as s:
        s.add(m.MirrorPartition(mirror_topic_id=row_id, partition=1, source_end_offset=50, mirror_end_offset=40,
                                mirrored_source_offset=45, lag=5, translated=True))
        s.add(m.MirrorPartition(mirror_topic_id=row_id, partition=0, source_log_start_offset=3, source_end_offset=100,
                                mirror_end_offset=90, mirrored_source_offset=90, lag=10))
        s.execute(update(m.MirrorTopic).where(m.MirrorTopic.id == row_id).values(status_time=m.utcnow(), state="ACTIVE"))
    out = api.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror.name))
    assert [p.partition for p in out.partitions] == [0, 1]
    assert out.partitions[0].offset_fidelity == pb.EXACT and out.partitions[1].offset_fidelity == pb.TRANSLATED
    assert out.partitions[0].source_log_start_offset == 3 and out.partitions[1].mirrored_source_offset == 45
    assert out.max_lag == 10
    assert out.offset_fidelity == pb.TRANSLATED
    assert out.status_time.seconds > 0
    assert api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/dr-east")).mirror_topics[0] == out


def test_transitions(api: Api) -> None:
    new_link(api)
    mirror = new_mirror(api)
    name = mirror.name
    paused = api.stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=name))
    assert paused.state == pb.MirrorTopic.PAUSED and paused.etag == '"2"'
    # idempotent: same answer, no error, no new version
    assert api.stub.PauseMirrorTopic(pb.PauseMirrorTopicRequest(name=name)) == paused
    resumed = api.stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name=name))
    assert resumed.state == pb.MirrorTopic.ACTIVE
    promoting = api.stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=name))
    assert promoting.state == pb.MirrorTopic.PROMOTING
    assert api.stub.PromoteMirrorTopic(pb.PromoteMirrorTopicRequest(name=name)).state == pb.MirrorTopic.PROMOTING
    # the worker finishes the promotion
    set_state(api, "dr-east", "orders", "PROMOTED")
    err = fails(api.stub.ResumeMirrorTopic, pb.ResumeMirrorTopicRequest(name=name))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cannot resume a mirror topic in state PROMOTED" in err.details()
    assert fails(api.stub.PauseMirrorTopic, pb.PauseMirrorTopicRequest(name=name)).code() == grpc.StatusCode.FAILED_PRECONDITION
    # FAILED (set by a worker): failover is allowed, resume clears the reason
    new_mirror(api, source_topic="payments")
    set_state(api, "dr-east", "payments", "FAILED", reason="foreign write detected at offset 42")
    payments = "links/dr-east/mirrorTopics/payments"
    got = api.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=payments))
    assert got.state == pb.MirrorTopic.FAILED and got.reason.startswith("foreign write")
    out = api.stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=payments))
    assert out.state == pb.MirrorTopic.FAILED_OVER
    assert api.stub.FailoverMirrorTopic(pb.FailoverMirrorTopicRequest(name=payments)) == out
    new_mirror(api, source_topic="audit")
    set_state(api, "dr-east", "audit", "FAILED", reason="broken")
    out = api.stub.ResumeMirrorTopic(pb.ResumeMirrorTopicRequest(name="links/dr-east/mirrorTopics/audit"))
    assert out.state == pb.MirrorTopic.ACTIVE and out.reason == ""
    # deleting: idempotent, can switch to deleting the destination topic, and stops every transition
    api.stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=name))
    api.stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=name, delete_destination_topic=True))
    api.stub.DeleteMirrorTopic(pb.DeleteMirrorTopicRequest(name=name))
    with db.transaction(api.factory) as s:
        row = s.get(m.MirrorTopic, mirror_row_id(api, "dr-east", "orders"))
        assert row is not None and row.state == "DELETING" and row.delete_destination_topic is True
    err = fails(api.stub.FailoverMirrorTopic, pb.FailoverMirrorTopicRequest(name=name))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "being deleted" in err.details()
    assert api.stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name)).state == pb.MirrorTopic.DELETING


def test_state_write_is_compare_and_set(api: Api) -> None:
    """A worker's state change between the API's read and write is never overwritten."""
    new_link(api)
    new_mirror(api)
    set_state(api, "dr-east", "orders", "ACTIVE")
    with db.transaction(api.factory) as s:
        row = s.get(m.MirrorTopic, mirror_row_id(api, "dr-east", "orders"))
        assert row is not None and row.state == "ACTIVE"
        set_state(api, "dr-east", "orders", "FAILED", reason="worker saw a foreign write")
        with pytest.raises(errors.Conflict):
            mirror_topics.write(s, row, {"state": "PAUSED", "reason": ""})
    # through the API, the retry re-reads the row and applies the lifecycle to the fresh state
    err = fails(api.stub.PauseMirrorTopic, pb.PauseMirrorTopicRequest(name="links/dr-east/mirrorTopics/orders"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cannot pause a mirror topic in state FAILED" in err.details()


def test_translation_segments_and_translate(api: Api) -> None:
    new_link(api)
    mirror = new_mirror(api)
    row_id = mirror_row_id(api, "dr-east", "orders")
    with db.transaction(api.factory) as s:
        for partition, src, dst in [(0, 100, 90), (0, 200, 180), (1, 5, 4)]:
            s.add(m.TranslationSegment(mirror_topic_id=row_id, partition=partition, source_offset=src, destination_offset=dst))
    segs = api.stub.ListTranslationSegments(pb.ListTranslationSegmentsRequest(name=mirror.name, partition=-1)).segments
    assert [(x.partition, x.source_offset, x.destination_offset) for x in segs] == [(0, 100, 90), (0, 200, 180), (1, 5, 4)]
    segs = api.stub.ListTranslationSegments(pb.ListTranslationSegmentsRequest(name=mirror.name, partition=1)).segments
    assert [(x.partition, x.source_offset) for x in segs] == [(1, 5)]
    assert list(api.stub.ListTranslationSegments(pb.ListTranslationSegmentsRequest(name=mirror.name, partition=7)).segments) == []
    out = api.stub.TranslateOffsets(pb.TranslateOffsetsRequest(name=mirror.name, partition=0, source_offsets=[0, 99, 100, 150, 200, 250]))
    assert list(out.destination_offsets) == [0, 99, 90, 140, 180, 230]
    out = api.stub.TranslateOffsets(pb.TranslateOffsetsRequest(name=mirror.name, partition=2, source_offsets=[7]))
    assert list(out.destination_offsets) == [7]


def test_store_unreachable_is_unavailable(tmp_path: Any) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")
    box = SecretBox(Fernet(Fernet.generate_key()))
    server, port = build_server("127.0.0.1:0", db.session_factory(engine), box)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClusterLinkServiceStub(channel)
            err = fails(stub.GetLink, pb.GetLinkRequest(name="links/x"))
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert err.details().startswith("the store is unreachable: ")
            err = fails(stub.CreateLink, pb.CreateLinkRequest(link_id="x", link=pb.Link(
                source=pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                                            sasl_username="u", sasl_password=PASSWORD), destination=plain())))
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert PASSWORD not in err.details()
    finally:
        server.stop(None)
        engine.dispose()


def test_bind_errors(tmp_path: Any) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    factory = db.session_factory(engine)
    box = SecretBox(Fernet(Fernet.generate_key()))
    server, port = build_server("127.0.0.1:0", factory, box)
    server.start()
    try:
        for listen in (f"127.0.0.1:{port}", "127.0.0.1:99999", "no-port", "127.0.0.1:http"):
            with pytest.raises(BindError):
                build_server(listen, factory, box)
    finally:
        server.stop(None)
        engine.dispose()


def test_a_failing_store_write_leaves_nothing_half_made(api: Api) -> None:
    """A forced DeleteLink removes mirrors, tasks and the link in one unit of work;
    when the database refuses its last statement, nothing at all is removed."""
    new_link(api)
    new_mirror(api, source_topic="orders")
    new_mirror(api, source_topic="payments")
    engine = api.factory.kw["bind"]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(
                "CREATE TRIGGER refuse_link_delete BEFORE DELETE ON links "
                "BEGIN SELECT RAISE(ABORT, 'simulated disk full'); END"))
        else:
            conn.execute(text(
                "CREATE FUNCTION refuse_delete() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'simulated disk full'; END $$ LANGUAGE plpgsql"))
            conn.execute(text(
                "CREATE TRIGGER refuse_link_delete BEFORE DELETE ON links "
                "FOR EACH ROW EXECUTE FUNCTION refuse_delete()"))
    err = fails(api.stub.DeleteLink, pb.DeleteLinkRequest(name="links/dr-east", force=True))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "store refused the request (error id " in err.details()
    assert "simulated" not in err.details()  # the details stay in the service log
    # The mirrors deleted before the refused statement are all still there.
    listed = api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/dr-east")).mirror_topics
    assert sorted(m.source_topic for m in listed) == ["orders", "payments"]
    assert api.stub.GetLink(pb.GetLinkRequest(name="links/dr-east")).name == "links/dr-east"


# --------------------------------------------------------------------------- hardening (issue 7)


def ok_message(err: grpc.RpcError, code: grpc.StatusCode, *named: str) -> str:
    assert err.code() == code, (err.code(), err.details())
    details = err.details() or ""
    assert len(details) < 1024, len(details)
    for text in named:
        assert text in details, details
    return details


def test_names_with_a_trailing_newline_are_refused(api: Api) -> None:
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id="abc\n", link=pb.Link(source=plain(), destination=plain())))
    ok_message(err, grpc.StatusCode.INVALID_ARGUMENT, "link_id: 'abc\\n' is not a valid link id")
    new_link(api)
    for request, field in [
        (pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic="a\n")),
         "mirror_topic.source_topic: 'a\\n' contains characters"),
        (pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic_id="a\n", mirror_topic=pb.MirrorTopic(source_topic="a")),
         "mirror_topic_id: 'a\\n'"),
        (pb.CreateMirrorTopicRequest(parent="links/dr-east\n", mirror_topic=pb.MirrorTopic(source_topic="a")), "parent: "),
    ]:
        ok_message(fails(api.stub.CreateMirrorTopic, request), grpc.StatusCode.INVALID_ARGUMENT, field)
    update = pb.UpdateLinkRequest(
        link=pb.Link(name="links/dr-east", config={"mirror.topic.prefix": "p\n"}),
        update_mask=field_mask_pb2.FieldMask(paths=["config.mirror.topic.prefix"]),
    )
    ok_message(fails(api.stub.UpdateLink, update), grpc.StatusCode.INVALID_ARGUMENT,
               "link.config: config mirror.topic.prefix='p\\n'")
    ok_message(fails(api.stub.GetLink, pb.GetLinkRequest(name="links/dr-east\n")), grpc.StatusCode.INVALID_ARGUMENT, "name: ")
    # nothing was stored
    assert [link.name for link in api.stub.ListLinks(pb.ListLinksRequest()).links] == ["links/dr-east"]
    assert list(api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/dr-east")).mirror_topics) == []
    assert dict(api.stub.GetLink(pb.GetLinkRequest(name="links/dr-east")).config) == {}


def test_a_huge_value_gets_a_short_answer(api: Api) -> None:
    """Once a 1 MB message: above gRPC's metadata limit, so the client saw a transport error instead."""
    huge = "a" * 1_000_000
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id=huge, link=pb.Link(source=plain(), destination=plain())))
    details = ok_message(err, grpc.StatusCode.INVALID_ARGUMENT, "link_id: ", "(1000000 characters)", "lower-case letters")
    assert "a" * 40 not in details
    new_link(api)
    for call, request, field in [
        (api.stub.GetLink, pb.GetLinkRequest(name="links/" + huge), "name: "),
        (api.stub.CreateMirrorTopic, pb.CreateMirrorTopicRequest(parent="links/dr-east", mirror_topic=pb.MirrorTopic(source_topic=huge)),
         "mirror_topic.source_topic: "),
        (api.stub.UpdateLink, pb.UpdateLinkRequest(link=pb.Link(name="links/dr-east", source=plain(huge)),
                                                   update_mask=field_mask_pb2.FieldMask(paths=["source.bootstrap_servers"])),
         "link.source.bootstrap_servers: "),
        (api.stub.UpdateLink, pb.UpdateLinkRequest(link=pb.Link(name="links/dr-east", config={huge: "1"}),
                                                   update_mask=field_mask_pb2.FieldMask(paths=["config"])),
         "link.config: config key "),
        (api.stub.DeleteLink, pb.DeleteLinkRequest(name="links/dr-east", etag=huge), "etag: "),
        (api.stub.ListLinks, pb.ListLinksRequest(page_token=huge), "page_token: "),
    ]:
        details = ok_message(fails(call, request), grpc.StatusCode.INVALID_ARGUMENT, field)
        assert "a" * 40 not in details


def test_crafted_page_tokens_are_invalid_argument(api: Api) -> None:
    import base64

    for name in "abc":
        new_link(api, name)
    new_mirror(api, "a", "t1")
    new_mirror(api, "a", "t2")
    nested = base64.urlsafe_b64encode(b"[" * 100_000).decode()  # once a RecursionError -> INTERNAL
    legacy = base64.urlsafe_b64encode(b'{"c":"links","a":"a"}').decode().rstrip("=")
    page = api.stub.ListLinks(pb.ListLinksRequest(page_size=1))
    assert page.next_page_token and len(page.next_page_token) <= 1024
    mirrors = api.stub.ListMirrorTopics(pb.ListMirrorTopicsRequest(parent="links/a", page_size=1))
    for token in [nested, legacy, "zzz", page.next_page_token[:-4], page.next_page_token + "\n", mirrors.next_page_token]:
        details = ok_message(fails(api.stub.ListLinks, pb.ListLinksRequest(page_token=token)),
                             grpc.StatusCode.INVALID_ARGUMENT, "page_token: ")
        assert "start the list again" in details or "pass the next_page_token" in details
    for token in [nested, page.next_page_token]:
        ok_message(fails(api.stub.ListMirrorTopics, pb.ListMirrorTopicsRequest(parent="links/a", page_token=token)),
                   grpc.StatusCode.INVALID_ARGUMENT, "page_token: ")
    ok_message(fails(api.stub.ListMirrorTopics, pb.ListMirrorTopicsRequest(parent="links/b", page_token=mirrors.next_page_token)),
               grpc.StatusCode.INVALID_ARGUMENT, "page_token: the page token belongs to another list")
    # the real ones work
    assert [x.name for x in api.stub.ListLinks(pb.ListLinksRequest(page_token=page.next_page_token)).links] == ["links/b", "links/c"]


def test_config_numbers_are_strict(api: Api) -> None:
    key = "mirror.producer.linger.ms"
    for value in ["+5", " 5", "5\n", "1_000", "\uff15", "\u0665", "-1", "5.0"]:
        err = fails(api.stub.CreateLink, pb.CreateLinkRequest(
            link_id="x", link=pb.Link(source=plain(), destination=plain(), config={key: value})))
        ok_message(err, grpc.StatusCode.INVALID_ARGUMENT, f"link.config: config {key}=", "written with the digits 0-9 only")
    assert new_link(api, config={key: "5"}).config[key] == "5"


def test_a_malformed_etag_is_invalid_argument(api: Api) -> None:
    link = new_link(api)
    err = fails(api.stub.DeleteLink, pb.DeleteLinkRequest(name=link.name, etag='"1"\n'))
    ok_message(err, grpc.StatusCode.INVALID_ARGUMENT, "etag: ", "is not an etag")
    err = fails(api.stub.UpdateLink, pb.UpdateLinkRequest(link=pb.Link(name=link.name, paused=True, etag="one"),
                                                          update_mask=field_mask_pb2.FieldMask(paths=["paused"])))
    ok_message(err, grpc.StatusCode.INVALID_ARGUMENT, "link.etag: 'one' is not an etag")


def test_an_oversized_request_is_refused_and_the_server_stays_up(api: Api) -> None:
    from clusterlink.api.server import DEFAULT_MAX_REQUEST_BYTES

    big = pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SSL", ssl_ca_pem="x" * (DEFAULT_MAX_REQUEST_BYTES + 1))
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id="big", link=pb.Link(source=big, destination=plain())))
    assert err.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT), err.code()
    # the largest legitimate request still goes through to validation (and gets a short answer)
    pem = "-----BEGIN CERTIFICATE-----\n" + "A" * (256 * 1024 - 60) + "\n-----END CERTIFICATE-----\n"
    side = pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SSL", ssl_ca_pem=pem,
                                ssl_certificate_pem=pem[: 64 * 1024], ssl_key_pem=KEY_PEM)
    created = api.stub.CreateLink(pb.CreateLinkRequest(link_id="large", link=pb.Link(source=side, destination=side)))
    assert created.source.ssl_ca_pem == pem
    # and one over a field's limit is INVALID_ARGUMENT naming the field
    side.ssl_ca_pem = pem + "x" * 100
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id="larger", link=pb.Link(source=side, destination=plain())))
    ok_message(err, grpc.StatusCode.INVALID_ARGUMENT, f"link.source.ssl_ca_pem is {len(pem) + 100} characters long; at most 262144")
    assert api.stub.GetLink(pb.GetLinkRequest(name="links/large")).name == "links/large"


def test_a_request_that_is_not_protobuf_is_invalid_argument(api: Api) -> None:
    raw = api.channel.unary_unary(
        "/clusterlink.v1.ClusterLinkService/GetLink", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    for payload in (b"\x0a\x02\xff\xfe", b"\xff\xff\xff\xff"):  # a name that is not UTF-8; not protobuf at all
        with pytest.raises(grpc.RpcError) as info:
            raw(payload)
        ok_message(info.value, grpc.StatusCode.INVALID_ARGUMENT, "not a valid clusterlink.v1.GetLinkRequest")


def test_an_unexpected_error_is_internal_with_an_id_in_the_log(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import re

    from clusterlink.api import links

    def boom(*_args: Any) -> None:
        raise RuntimeError("secret internal detail /var/lib/x")

    monkeypatch.setattr(links, "get_link", boom)
    with caplog.at_level("ERROR", logger="clusterlink.api"):
        err = fails(api.stub.GetLink, pb.GetLinkRequest(name="links/dr-east"))
    details = ok_message(err, grpc.StatusCode.INTERNAL, "error id ")
    assert "secret internal detail" not in details and "RuntimeError" not in details
    error_id = re.search(r"error id ([0-9a-f]{8})\b", details).group(1)  # type: ignore[union-attr]
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None and "secret internal detail" in str(record.exc_info[1])
    assert "GetLink" in record.getMessage()


def test_a_full_store_says_so(api: Api) -> None:
    from sqlalchemy import event

    engine = api.factory.kw["bind"]
    new_link(api)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

        def cap(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        event.listen(engine, "connect", cap)
        engine.dispose()
    else:
        with engine.begin() as conn:
            conn.execute(text(
                "CREATE FUNCTION disk_full() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                "'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER full_links BEFORE INSERT ON links FOR EACH ROW EXECUTE FUNCTION disk_full()"))
    pem = "-----BEGIN CERTIFICATE-----\n" + "A" * 200_000 + "\n-----END CERTIFICATE-----\n"
    side = pb.ClusterConnection(bootstrap_servers="a:1", security_protocol="SSL", ssl_ca_pem=pem)
    err = fails(api.stub.CreateLink, pb.CreateLinkRequest(link_id="more", link=pb.Link(source=side, destination=side)))
    details = ok_message(err, grpc.StatusCode.UNAVAILABLE, "the store is full")
    assert "unreachable" not in details
    # reads still work, and nothing half-made is there
    assert [link.name for link in api.stub.ListLinks(pb.ListLinksRequest()).links] == ["links/dr-east"]
