"""The API's pure validators: names, topics, bootstrap servers, connections, masks, paging."""

from __future__ import annotations

import pytest

from clusterlink.api import validation as v

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("value", ["a", "dr-east", "a1", "x" * 63, "a-b-c9"])
def test_link_id_ok(value: str) -> None:
    assert v.check_link_id(value) == value


@pytest.mark.parametrize("value", ["A", "1abc", "-a", "a-", "a_b", "a.b", "x" * 64, "dr east", "é"])
def test_link_id_bad(value: str) -> None:
    with pytest.raises(v.ValidationError, match=r"^link_id: .*lower-case letters"):
        v.check_link_id(value)


def test_link_id_required() -> None:
    with pytest.raises(v.ValidationError, match=r"^link_id is required"):
        v.check_link_id("")


def test_parse_link_name() -> None:
    assert v.parse_link_name("links/dr-east") == "dr-east"
    for bad in ["dr-east", "links/", "links/Dr", "links/a/b", "link/a", "/links/a"]:
        with pytest.raises(v.ValidationError, match=r"^parent"):
            v.parse_link_name(bad, "parent")
    with pytest.raises(v.ValidationError, match=r"^name is required"):
        v.parse_link_name("")


def test_parse_mirror_topic_name() -> None:
    assert v.parse_mirror_topic_name("links/a/mirrorTopics/orders.v1") == ("a", "orders.v1")
    for bad in [
        "links/a",
        "links/a/mirrorTopics",
        "links/a/mirrorTopics/",
        "links/a/topics/x",
        "links/A/mirrorTopics/x",
        "links/a/mirrorTopics/..",
        "links/a/mirrorTopics/a b",
        "links/a/mirrorTopics/x/y",
    ]:
        with pytest.raises(v.ValidationError, match=r"^name"):
            v.parse_mirror_topic_name(bad)


@pytest.mark.parametrize("value", ["orders", "a", "A.b_c-9", "x" * 249, "..."])
def test_topic_ok(value: str) -> None:
    assert v.topic_problem(value) is None
    assert v.check_topic(value, "mirror_topic.source_topic") == value


@pytest.mark.parametrize("value", [".", "..", "x" * 250, "a b", "a/b", "a:b", "ü", "a*"])
def test_topic_bad(value: str) -> None:
    assert v.topic_problem(value)
    with pytest.raises(v.ValidationError, match=r"^mirror_topic\.source_topic: .*249 characters"):
        v.check_topic(value, "mirror_topic.source_topic")


def test_topic_required() -> None:
    with pytest.raises(v.ValidationError, match=r"^mirror_topic_id is required"):
        v.check_topic("", "mirror_topic_id")


# --------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.1:9092",
        "localhost:9092",
        "broker-1.example.com:9093,broker-2.example.com:9093",
        "[::1]:9092",
        "[2001:db8::1]:1",
        "kafka_1:65535",
    ],
)
def test_bootstrap_ok(value: str) -> None:
    assert v.check_bootstrap(value, "link.source.bootstrap_servers") == []


@pytest.mark.parametrize(
    "value",
    [
        "foo",
        "foo:",
        ":9092",
        "foo:0",
        "foo:65536",
        "foo:abc",
        "PLAINTEXT://foo:9092",
        "foo:9092, bar:9092",
        "foo:9092,",
        "::1:9092",
        "[::1]9092",
        "[zz::1]:9092",
        "999.1.1.1:9092",
        "-bad-.com:9092",
        "a..b:9092",
    ],
)
def test_bootstrap_bad(value: str) -> None:
    problems = v.check_bootstrap(value, "link.source.bootstrap_servers")
    assert problems
    assert all(p.startswith("link.source.bootstrap_servers") for p in problems)
    assert "example: " in problems[0]


def test_bootstrap_message_shape() -> None:
    assert v.check_bootstrap("foo", "link.source.bootstrap_servers") == [
        "link.source.bootstrap_servers: 'foo' is not host:port (example: 10.0.0.1:9092)"
    ]
    assert v.check_bootstrap("", "link.source.bootstrap_servers") == [
        "link.source.bootstrap_servers is required (example: 10.0.0.1:9092)"
    ]


# --------------------------------------------------------------------------- connections


def conn(given: bool = True, **kw: str) -> v.Connection:
    secrets = {k: kw.pop(k) for k in list(kw) if k in v.SECRET_FIELDS}
    kw.setdefault("bootstrap_servers", "b:9092")
    return v.Connection.make(kw, secrets, given=secrets if given else ())


def problems(c: v.Connection) -> list[str]:
    return v.check_connection(c, "link.source")[1]


def test_plaintext_default() -> None:
    assert problems(conn()) == []
    assert problems(conn(security_protocol="PLAINTEXT")) == []
    assert v.effective_security_protocol(conn().fields) == "PLAINTEXT"


def test_bad_protocol() -> None:
    (p,) = problems(conn(security_protocol="TLS"))
    assert p.startswith("link.source.security_protocol: 'TLS' is not one of PLAINTEXT, SSL")


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_needs_mechanism_user_password(protocol: str) -> None:
    found = problems(conn(security_protocol=protocol))
    assert any(p.startswith("link.source.sasl_mechanism is required") for p in found)
    assert any(p.startswith("link.source.sasl_username is required") for p in found)
    assert any(p.startswith("link.source.sasl_password is required") for p in found)
    ok = conn(security_protocol=protocol, sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password="pw")
    assert problems(ok) == []
    # a stored (not given) password counts too
    stored = conn(given=False, security_protocol=protocol, sasl_mechanism="PLAIN", sasl_username="u", sasl_password="pw")
    assert problems(stored) == []


def test_sasl_bad_mechanism() -> None:
    found = problems(
        conn(security_protocol="SASL_SSL", sasl_mechanism="GSSAPI", sasl_username="u", sasl_password="pw")
    )
    assert found == ["link.source.sasl_mechanism: 'GSSAPI' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"]


def test_sasl_fields_without_sasl_protocol() -> None:
    found = problems(conn(security_protocol="SSL", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="hunter2"))
    assert {p.split(" ")[0] for p in found} == {
        "link.source.sasl_mechanism",
        "link.source.sasl_username",
        "link.source.sasl_password",
    }
    assert not any("hunter2" in p for p in found)


def test_stored_secrets_dropped_when_protocol_no_longer_uses_them() -> None:
    c, found = v.check_connection(conn(given=False, sasl_password="pw", ssl_key_pem=PEM_KEY), "link.source")
    assert found == []
    assert c.secrets == {}


def test_ssl_pems() -> None:
    assert problems(conn(security_protocol="SSL", ssl_ca_pem=PEM_CERT)) == []
    assert problems(
        conn(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p",
             ssl_ca_pem=PEM_CERT, ssl_certificate_pem=PEM_CERT, ssl_key_pem=PEM_KEY)
    ) == []
    (p,) = problems(conn(security_protocol="SSL", ssl_ca_pem="not a pem"))
    assert p.startswith("link.source.ssl_ca_pem does not look like PEM")
    found = problems(conn(security_protocol="SSL", ssl_key_pem="secret-key-bytes"))
    assert any(p.startswith("link.source.ssl_key_pem does not look like PEM") for p in found)
    assert any(p.startswith("link.source.ssl_key_pem needs link.source.ssl_certificate_pem") for p in found)
    assert not any("secret-key-bytes" in p for p in found)


def test_ssl_pems_without_ssl_protocol() -> None:
    found = problems(conn(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
                          sasl_password="p", ssl_ca_pem=PEM_CERT, ssl_key_pem=PEM_KEY))
    assert {p.split(" ")[0] for p in found} == {"link.source.ssl_ca_pem", "link.source.ssl_key_pem"}


def test_stored_key_without_certificate_hints_mask() -> None:
    (p,) = problems(conn(given=False, security_protocol="SSL", ssl_key_pem=PEM_KEY))
    assert "update_mask path source.ssl_key_pem" in p


def spec(**kw: object) -> v.LinkSpec:
    return v.LinkSpec(
        source=kw.get("source", conn()),  # type: ignore[arg-type]
        destination=kw.get("destination", conn()),  # type: ignore[arg-type]
        config=kw.get("config", {}),  # type: ignore[arg-type]
        paused=bool(kw.get("paused", False)),
    )


def test_link_spec_collects_all_problems() -> None:
    bad = spec(source=conn(bootstrap_servers="foo"), destination=conn(bootstrap_servers=""), config={"nope": "1"})
    with pytest.raises(v.ValidationError) as info:
        v.check_link_spec(bad)
    text = str(info.value)
    assert "link.source.bootstrap_servers: 'foo' is not host:port" in text
    assert "link.destination.bootstrap_servers is required" in text
    assert "link.config: config key 'nope' is unknown; known keys: mirror.batch.max.records" in text


def test_link_spec_config_value() -> None:
    with pytest.raises(v.ValidationError, match=r"link\.config: config mirror\.producer\.linger\.ms='x'"):
        v.check_link_spec(spec(config={"mirror.producer.linger.ms": "x"}))


# --------------------------------------------------------------------------- masks


def test_check_mask() -> None:
    assert v.check_mask([]) == []
    assert v.check_mask(["*"]) == ["source", "destination", "config", "paused"]
    ok = ["source", "destination.sasl_password", "config", "config.mirror.topic.prefix", "paused"]
    assert v.check_mask(ok) == ok
    for bad, why in [
        ("name", "cannot be updated"),
        ("etag", "cannot be updated"),
        ("status", "cannot be updated"),
        ("source.nope", "names no connection field"),
        ("source.sasl_password_set", "output only"),
        ("config.", "cannot be updated"),
        ("", "cannot be updated"),
    ]:
        with pytest.raises(v.ValidationError, match=rf"^update_mask: path '{bad}' .*{why}.*allowed paths"):
            v.check_mask([bad])


def test_apply_update_empty_mask_replaces_present_fields() -> None:
    current = spec(source=conn(given=False, bootstrap_servers="old:1"), config={"mirror.topic.prefix": "a."}, paused=True)
    request = spec(destination=conn(bootstrap_servers="new:2"), config={}, paused=False)
    merged = v.apply_update(current, request, [], has_source=False, has_destination=True)
    assert merged.source.fields["bootstrap_servers"] == "old:1"
    assert merged.destination.fields["bootstrap_servers"] == "new:2"
    assert merged.config == {}
    assert merged.paused is False


def test_apply_update_sub_paths() -> None:
    current = spec(config={"mirror.topic.prefix": "a.", "mirror.producer.linger.ms": "7"})
    request = spec(
        source=conn(bootstrap_servers="x:1", sasl_username="ignored"),
        config={"mirror.topic.prefix": "b."},
        paused=True,
    )
    merged = v.apply_update(
        current, request, ["source.bootstrap_servers", "config.mirror.topic.prefix", "config.mirror.producer.linger.ms"]
    )
    assert merged.source.fields["bootstrap_servers"] == "x:1"
    assert merged.source.fields["sasl_username"] == ""
    assert merged.config == {"mirror.topic.prefix": "b."}  # linger absent in request -> removed
    assert merged.paused is False


def test_apply_update_secrets() -> None:
    stored = conn(given=False, security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="old")
    current = spec(source=stored)
    empty = spec(source=conn(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u"))
    # replacing the whole source with an empty password keeps the stored one
    merged = v.apply_update(current, empty, ["source"])
    assert merged.source.secrets == {"sasl_password": "old"}
    assert "sasl_password" not in merged.source.given
    # naming the secret explicitly with an empty value clears it
    merged = v.apply_update(current, empty, ["source", "source.sasl_password"])
    assert merged.source.secrets == {}
    merged = v.apply_update(current, empty, ["source.sasl_password"])
    assert merged.source.secrets == {}
    # a new password replaces it
    new = spec(source=conn(sasl_password="new"))
    merged = v.apply_update(current, new, ["source.sasl_password"])
    assert merged.source.secrets == {"sasl_password": "new"}
    assert merged.source.fields["sasl_username"] == "u"


# --------------------------------------------------------------------------- etags, paging, offsets


def test_etag() -> None:
    assert v.etag(3) == '"3"'
    assert v.etag_matches("", 3)
    assert v.etag_matches('"3"', 3)
    assert v.etag_matches("3", 3)
    assert not v.etag_matches('"2"', 3)


def test_page_size() -> None:
    assert v.page_size(0) == 100
    assert v.page_size(5) == 5
    assert v.page_size(5000) == 1000
    with pytest.raises(v.ValidationError, match=r"^page_size: -1 is negative"):
        v.page_size(-1)


def test_page_token_roundtrip_and_bad() -> None:
    token = v.encode_page_token("links", "dr-east")
    assert v.decode_page_token(token, "links") == "dr-east"
    assert v.decode_page_token("", "links") is None
    for bad in ["garbage!", "e30", token + "x"]:
        with pytest.raises(v.ValidationError, match=r"^page_token"):
            v.decode_page_token(bad, "links")
    with pytest.raises(v.ValidationError, match=r"^page_token"):
        v.decode_page_token(token, "links/other")


def test_partition_and_offsets() -> None:
    assert v.check_partition(-1, allow_all=True) == -1
    with pytest.raises(v.ValidationError, match=r"^partition: -1"):
        v.check_partition(-1)
    with pytest.raises(v.ValidationError, match=r"^partition: -2 .*-1 for all"):
        v.check_partition(-2, allow_all=True)
    with pytest.raises(v.ValidationError, match=r"^source_offsets\[1\]: -5 is negative"):
        v.check_source_offsets([1, -5])
