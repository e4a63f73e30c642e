"""The API's pure validators: names, topics, bootstrap servers, connections, masks, paging."""

from __future__ import annotations

import pytest

from clusterlink.api import validation as v
from clusterlink.config import link_config

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
    assert "link.config: config key 'nope' is unknown; known keys: " in text
    assert sorted(link_config.KNOBS)[0] in text  # the known keys are listed (as many as fit)


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


def test_partition_and_offsets() -> None:
    assert v.check_partition(-1, allow_all=True) == -1
    with pytest.raises(v.ValidationError, match=r"^partition: -1"):
        v.check_partition(-1)
    with pytest.raises(v.ValidationError, match=r"^partition: -2 .*-1 for all"):
        v.check_partition(-2, allow_all=True)
    with pytest.raises(v.ValidationError, match=r"^source_offsets\[1\]: -5 is negative"):
        v.check_source_offsets([1, -5])


# --------------------------------------------------------------------------- hardening (issue 7)
#
# Every rule is matched in full: a value that only *starts* with a valid name
# (for example, one with a trailing newline, which `$` lets through) is refused.

NEWLINE_NAMES = ["abc\n", "abc\r\n", "abc\x00", "\nabc", "ab\tc", "abc\u2028", "abc\x85"]


@pytest.mark.parametrize("value", NEWLINE_NAMES)
def test_link_id_with_control_characters_is_refused(value: str) -> None:
    with pytest.raises(v.ValidationError, match=r"^link_id: .*lower-case letters"):
        v.check_link_id(value)
    with pytest.raises(v.ValidationError, match=r"^name: "):
        v.parse_link_name(f"links/{value}")


@pytest.mark.parametrize("value", [*NEWLINE_NAMES, "a\n", "\u0661"])
def test_topic_with_control_characters_is_refused(value: str) -> None:
    assert v.topic_problem(value)
    assert not v.topic_ok(value)
    with pytest.raises(v.ValidationError, match=r"^mirror_topic_id: .*249 characters"):
        v.check_topic(value, "mirror_topic_id")
    with pytest.raises(v.ValidationError, match=r"^name: the topic "):
        v.parse_mirror_topic_name(f"links/a/mirrorTopics/{value}")


def test_kafka_topic_rules_in_full() -> None:
    assert v.topic_ok("x" * 249) and not v.topic_ok("x" * 250)
    assert not v.topic_ok(".") and not v.topic_ok("..") and v.topic_ok("...")
    for bad in ["a b", "a/b", "é", "a\n", "ａ"]:  # full-width a, too
        assert not v.topic_ok(bad), bad


def test_a_config_prefix_with_a_newline_is_refused() -> None:
    (problem,) = v.check_config({"mirror.topic.prefix": "p\n"})
    assert problem.startswith("link.config: config mirror.topic.prefix='p\\n' ")
    # The prefix rule itself is matched in full, so it names the allowed characters.
    assert "may contain only ASCII letters" in problem


@pytest.mark.parametrize(
    "value", ["+5", " 5", "5 ", "5\n", "1_000", "\uff15", "\u0665", "5.0", "0x10", "1e3", "-1", "", "5" * 40]
)
def test_config_numbers_are_strict(value: str) -> None:
    (problem,) = v.check_config({"mirror.producer.linger.ms": value})
    assert problem.startswith("link.config: config mirror.producer.linger.ms=")
    assert "from 0 to 60000" in problem
    assert len(problem) < 300


def test_messages_quote_only_the_start_of_a_bad_value() -> None:
    huge = "a" * 1_000_000
    for call in (
        lambda: v.check_link_id(huge),
        lambda: v.parse_link_name("links/" + huge),
        lambda: v.parse_mirror_topic_name("links/a/mirrorTopics/" + huge),
        lambda: v.check_topic(huge, "mirror_topic.source_topic"),
        lambda: v.check_mask([huge]),
        lambda: v.check_etag(huge, "link.etag"),
    ):
        with pytest.raises(v.ValidationError) as info:
            call()
        text = str(info.value)
        assert len(text) < 400, text
        assert "a" * 40 not in text
        assert "(1000" in text or "characters" in text
    assert v.shown("x\n" * 100) == "'" + "x\\n" * 16 + "'... (200 characters)"
    assert v.shown("\uff15") == "'\\uff15'"


def test_connection_text_fields_are_bounded_and_never_quote_secrets() -> None:
    found = problems(conn(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u\n",
                          sasl_password="hunter2\x00" + "x" * 5000))
    assert any(p.startswith("link.source.sasl_username contains a control character") for p in found)
    assert any(p.startswith("link.source.sasl_password is 5008 characters long") for p in found)
    assert not any("hunter2" in p for p in found)
    found = problems(conn(security_protocol="SSL", ssl_ca_pem=PEM_CERT + "\x00"))
    assert any(p.startswith("link.source.ssl_ca_pem contains a control character") for p in found)
    assert problems(conn(security_protocol="SSL", ssl_ca_pem=PEM_CERT.replace("\n", "\r\n"))) == []
    (p,) = problems(conn(security_protocol="SASL_SSL\n"))
    assert p.startswith("link.source.security_protocol: 'SASL_SSL\\n' is not one of")


@pytest.mark.parametrize("value", ["a:9092\n", "a:9092\x00", "a:٩٠٩٢", "١.١.١.١:9092", "[::１]:9092"])
def test_bootstrap_in_full(value: str) -> None:
    assert v.check_bootstrap(value, "link.source.bootstrap_servers")


def test_bootstrap_problems_are_bounded() -> None:
    many = ",".join(f"bad{i}" for i in range(90))
    found = v.check_bootstrap(many, "link.source.bootstrap_servers")
    assert len(found) == 4 and found[-1] == "link.source.bootstrap_servers: 87 more bad entries"
    assert v.check_bootstrap(",".join(["a:1"] * 101), "f") == ["f: 101 entries given; at most 100 are allowed"]
    assert "at most 4096 characters" in v.check_bootstrap("a" * 5000, "f")[0]


def test_link_spec_message_is_bounded() -> None:
    bad = spec(config={f"k{i}": "1" for i in range(60)}, source=conn(bootstrap_servers="x" * 3000 + ",y"))
    with pytest.raises(v.ValidationError) as info:
        v.check_link_spec(bad)
    assert len(str(info.value)) <= v.MESSAGE_LIMIT + 40
    assert "and 57 more" in str(info.value)


@pytest.mark.parametrize("value", ['"3"', "3", 'W/"3"'])
def test_etag_ok(value: str) -> None:
    assert v.check_etag(value, "etag") == value
    assert v.etag_matches(value, 3)


@pytest.mark.parametrize("value", ['"3"\n', " 3", '"3', "three", '"-3"', "3" * 19, "\uff13"])
def test_etag_bad(value: str) -> None:
    with pytest.raises(v.ValidationError, match=r"^etag: .* is not an etag; send the etag you read"):
        v.check_etag(value, "etag")


def test_mask_paths_are_bounded() -> None:
    with pytest.raises(v.ValidationError, match=r"^update_mask: path 'paused\\n' cannot be updated"):
        v.check_mask(["paused\n"])
    with pytest.raises(v.ValidationError, match=r"^update_mask: 101 paths given; at most 100"):
        v.check_mask(["paused"] * 101)


# --------------------------------------------------------------------------- page tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tokens() -> tuple[v.PageTokens, Clock]:
    from cryptography.fernet import Fernet

    clock = Clock()
    return v.PageTokens(Fernet(Fernet.generate_key()), ttl=3600, clock=clock), clock


def test_page_token_roundtrip(tokens: tuple[v.PageTokens, Clock]) -> None:
    codec, _ = tokens
    token = codec.encode("links", "dr-east")
    assert codec.decode(token, "links") == "dr-east"
    assert codec.decode("", "links") is None
    assert "dr-east" not in token  # opaque
    longest = codec.encode("links/" + "a" * 63, "t" * 249)
    assert len(longest) <= v.PAGE_TOKEN_MAX_LEN
    assert codec.decode(longest, "links/" + "a" * 63) == "t" * 249


def test_page_token_malformed(tokens: tuple[v.PageTokens, Clock]) -> None:
    import base64

    codec, _ = tokens
    token = codec.encode("links", "dr-east")
    nested = base64.urlsafe_b64encode(b"[" * 100_000).decode()  # once a RecursionError
    legacy = base64.urlsafe_b64encode(b'{"c":"links","a":"dr-east"}').decode().rstrip("=")
    for bad in ["garbage!", "e30", token + "x", token[:-5], nested, legacy, "x" * 2000, token + "\n", "ａ"]:
        with pytest.raises(v.ValidationError, match=r"^page_token: .* is not a page token of this service") as info:
            codec.decode(bad, "links")
        assert len(str(info.value)) < 300


def test_page_token_of_another_service(tokens: tuple[v.PageTokens, Clock]) -> None:
    from cryptography.fernet import Fernet

    codec, clock = tokens
    other = v.PageTokens(Fernet(Fernet.generate_key()), clock=clock)
    with pytest.raises(v.ValidationError, match=r"^page_token: .* is not a page token of this service"):
        codec.decode(other.encode("links", "dr-east"), "links")


def test_page_token_from_another_list(tokens: tuple[v.PageTokens, Clock]) -> None:
    codec, _ = tokens
    with pytest.raises(v.ValidationError, match=r"^page_token: the page token belongs to another list"):
        codec.decode(codec.encode("links/a", "orders"), "links/b")
    with pytest.raises(v.ValidationError, match=r"^page_token: the page token belongs to another list"):
        codec.decode(codec.encode("links/a", "orders"), "links")


def test_page_token_stale(tokens: tuple[v.PageTokens, Clock]) -> None:
    codec, clock = tokens
    token = codec.encode("links", "dr-east")
    clock.now += 3600
    assert codec.decode(token, "links") == "dr-east"
    clock.now += 2
    with pytest.raises(v.ValidationError, match=r"^page_token: the page token has expired .*start the list again"):
        codec.decode(token, "links")


def test_page_token_with_a_name_that_breaks_the_rule(tokens: tuple[v.PageTokens, Clock]) -> None:
    codec, _ = tokens
    for collection, after in [("links", "abc\n"), ("links", "Bad"), ("links/a", "a b"), ("links/a", "..")]:
        with pytest.raises(v.ValidationError, match=r"^page_token: "):
            codec.decode(codec.encode(collection, after), collection)
