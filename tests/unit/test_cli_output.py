"""Unit tests of the CLI: JSON conversion, tables, argument parsing, endpoint
resolution, error mapping and the promote wait loop. No service needed, except
the one test that proves an unreachable endpoint gives one clear line."""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from clusterlink.cli import link_cmd, main, mirror_cmd, output
from clusterlink.cli.client import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    CliError,
    error_from_rpc,
    resolve_endpoint,
)
from clusterlink.v1 import clusterlink_pb2 as pb

BIG = 5_000_000_000  # beyond int32: MessageToDict would make it a string


def _mirror() -> pb.MirrorTopic:
    mirror = pb.MirrorTopic(
        name="links/dr-east/mirrorTopics/east.orders",
        source_topic="orders",
        state=pb.MirrorTopic.ACTIVE,
        max_lag=BIG,
        offset_fidelity=pb.TRANSLATED,
    )
    mirror.partitions.add(partition=0, source_end_offset=10, mirror_end_offset=10, lag=0, offset_fidelity=pb.EXACT)
    mirror.partitions.add(
        partition=1,
        source_log_start_offset=3,
        source_end_offset=BIG + 10,
        mirror_end_offset=10,
        lag=BIG,
        offset_fidelity=pb.TRANSLATED,
        mirrored_source_offset=10,
    )
    mirror.create_time.FromSeconds(1_700_000_000)
    return mirror


def _link() -> pb.Link:
    link = pb.Link(
        name="links/dr-east",
        source=pb.ClusterConnection(
            bootstrap_servers="a:9092",
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="mirror",
            sasl_password="hunter2",  # a server never returns it; the CLI must not print it anyway
            sasl_password_set=True,
            ssl_key_pem="-----BEGIN PRIVATE KEY-----",
            ssl_key_set=True,
        ),
        destination=pb.ClusterConnection(bootstrap_servers="b:9092"),
        config={"mirror.topic.prefix": "east.", "mirror.producer.linger.ms": "10"},
        etag="abc",
        status=pb.LinkStatus(state=pb.LinkStatus.DEGRADED, mirror_topic_count=2),
    )
    link.status.tasks.add(name="mirrorTopics/orders", state=pb.LinkTask.ERROR, last_error="boom\non two lines")
    return link


# --------------------------------------------------------------------------- JSON


def test_mirror_json_has_int_offsets_enum_names_and_zero_values() -> None:
    data = output.mirror_dict(_mirror())
    assert data["state"] == "ACTIVE"
    assert data["offset_fidelity"] == "TRANSLATED"
    assert data["max_lag"] == BIG and isinstance(data["max_lag"], int)
    assert data["reason"] == ""
    assert [p["partition"] for p in data["partitions"]] == [0, 1]
    first, second = data["partitions"]
    assert first["lag"] == 0 and isinstance(first["lag"], int)  # zero is printed, as an int
    assert first["source_log_start_offset"] == 0
    assert first["offset_fidelity"] == "EXACT"
    assert second["lag"] == BIG and isinstance(second["lag"], int)
    assert second["source_end_offset"] == BIG + 10
    assert data["create_time"] == "2023-11-14T22:13:20Z"
    assert data["update_time"] is None
    # Survives a JSON round trip unchanged.
    assert json.loads(output.dumps(data)) == data


def test_unspecified_enum_is_named_and_unknown_number_kept() -> None:
    data = output.to_dict(pb.MirrorTopic())
    assert data["state"] == "STATE_UNSPECIFIED"
    assert data["partitions"] == []
    assert output.to_dict(pb.MirrorTopic(state=42))["state"] == 42


def test_link_json_never_contains_secrets() -> None:
    data = output.link_dict(_link())
    text = output.dumps(data)
    assert "hunter2" not in text and "PRIVATE KEY" not in text
    assert "sasl_password" not in data["source"] and "ssl_key_pem" not in data["source"]
    assert data["source"]["sasl_password_set"] is True
    assert data["config"] == {"mirror.producer.linger.ms": "10", "mirror.topic.prefix": "east."}
    assert data["status"]["state"] == "DEGRADED"
    assert data["status"]["mirror_topic_count"] == 2
    assert data["status"]["tasks"][0]["state"] == "ERROR"


# --------------------------------------------------------------------------- tables


def test_render_table_aligns_and_right_aligns_numbers() -> None:
    text = output.render_table(("NAME", "LAG", "NOTE"), [("a", 5, None), ("longer", 12345, "x")])
    assert text.splitlines() == [
        "NAME      LAG  NOTE",
        "a           5  -",
        "longer  12345  x",
    ]


def test_render_table_empty_is_header_only() -> None:
    assert output.render_table(("NAME", "STATE"), []) == "NAME  STATE"


def test_render_table_refuses_ragged_rows() -> None:
    with pytest.raises(ValueError):
        output.render_table(("A", "B"), [("only one",)])


def test_mirror_detail_table() -> None:
    text = output.mirror_detail(_mirror())
    lines = text.splitlines()
    assert lines[0].split() == ["Name:", "east.orders"]
    for label, value in (
        ("Link:", "dr-east"),
        ("Source topic:", "orders"),
        ("State:", "ACTIVE"),
        ("Reason:", "-"),
        ("Max lag:", str(BIG)),
        ("Fidelity:", "TRANSLATED"),
    ):
        assert any(line.startswith(label) and line.endswith(" " + value) for line in lines), label
    header = next(line for line in lines if line.startswith("PARTITION"))
    assert header.split() == ["PARTITION", "SOURCE_START", "SOURCE_END", "MIRROR_END", "LAG", "FIDELITY"]
    rows = lines[lines.index(header) + 1 :]
    assert rows[0].split() == ["0", "0", "10", "10", "0", "EXACT"]
    assert rows[1].split() == ["1", "3", str(BIG + 10), "10", str(BIG), "TRANSLATED"]
    # Columns line up: text columns start under their header, numbers end under it.
    assert rows[0].index("EXACT") == rows[1].index("TRANSLATED") == header.index("FIDELITY")
    lag_end = header.index("LAG") + len("LAG")
    assert rows[0][:lag_end].endswith(" 0") and rows[1][:lag_end].endswith(str(BIG))


def test_links_table_and_detail() -> None:
    table = output.links_table([_link()]).splitlines()
    assert table[0].split() == ["NAME", "SOURCE", "DESTINATION", "STATE", "PAUSED", "MIRROR_TOPICS"]
    assert table[1].split() == ["dr-east", "a:9092", "b:9092", "DEGRADED", "no", "2"]
    detail = output.link_detail(_link())
    assert "hunter2" not in detail and "PRIVATE KEY" not in detail
    assert ["mirror.topic.prefix", "east."] in [line.split() for line in detail.splitlines()]
    assert "boom on two lines" in detail  # multi-line errors stay on one table row
    assert output.link_detail(pb.Link(name="links/x")).count("Tasks: none") == 1


def test_mirrors_table() -> None:
    lines = output.mirrors_table([_mirror()]).splitlines()
    assert lines[0].split() == ["NAME", "SOURCE_TOPIC", "STATE", "PARTITIONS", "MAX_LAG", "FIDELITY", "REASON"]
    assert lines[1].split() == ["east.orders", "orders", "ACTIVE", "2", str(BIG), "TRANSLATED", "-"]


def test_names() -> None:
    assert output.link_id("links/dr-east") == "dr-east"
    assert output.mirror_id("links/dr-east/mirrorTopics/a.b") == "a.b"
    assert output.mirror_link_id("links/dr-east/mirrorTopics/a.b") == "dr-east"
    assert link_cmd.link_name("dr-east") == link_cmd.link_name("links/dr-east") == "links/dr-east"
    assert mirror_cmd.mirror_name("dr-east", "orders") == "links/dr-east/mirrorTopics/orders"


# --------------------------------------------------------------------------- argument parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a=b", ("a", "b")), ("a=b=c", ("a", "b=c")), ("a=", ("a", "")), (" k =v", ("k", "v"))],
)
def test_parse_key_value(text: str, expected: tuple[str, str]) -> None:
    assert link_cmd.parse_key_value(text) == expected


@pytest.mark.parametrize(("text", "problem"), [("foo", "missing '='"), ("=v", "empty KEY")])
def test_parse_key_value_errors(text: str, problem: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=problem):
        link_cmd.parse_key_value(text)


def test_config_without_equals_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main.main(
        ["link", "create", "x", "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1", "--config", "foo"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "argument --config: expected KEY=VALUE, got 'foo' (missing '=')" in err


def test_config_key_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main.main(["link", "update", "x", "--config", "a=1", "--config", "a=2"])
    assert code == 2
    assert "'a' given more than once" in capsys.readouterr().err


def test_parser_collects_config_and_connection_options() -> None:
    args = main.build_parser().parse_args(
        [
            "link", "create", "dr-east",
            "--source-bootstrap", "a:1,a:2",
            "--destination-bootstrap", "b:1",
            "--config", "mirror.topic.prefix=east.",
            "--config", "mirror.producer.linger.ms=10",
            "--source-security-protocol", "sasl_ssl",
            "--validate-only",
        ]
    )  # fmt: skip
    assert args.config == {"mirror.topic.prefix": "east.", "mirror.producer.linger.ms": "10"}
    assert args.source_bootstrap == "a:1,a:2"
    assert args.source_security_protocol == "SASL_SSL"
    assert args.validate_only is True
    assert args.output == "table"
    assert args.func is link_cmd.cmd_create


def test_password_is_not_an_option() -> None:
    with pytest.raises(SystemExit):
        main.build_parser().parse_args(
            ["link", "create", "x", "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1",
             "--source-sasl-password", "hunter2"]
        )  # fmt: skip


def test_output_choices() -> None:
    parser = main.build_parser()
    assert parser.parse_args(["mirror", "describe", "l", "t", "-o", "json"]).output == "json"
    assert parser.parse_args(["link", "list"]).output == "table"
    with pytest.raises(SystemExit):
        parser.parse_args(["link", "list", "-o", "yaml"])


def test_help_and_missing_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["--help"]) == 0
    assert main.main([]) == 2
    assert main.main(["link"]) == 2
    assert main.main(["mirror", "promote", "l", "t", "--timeout", "soon"]) == 2
    capsys.readouterr()


# --------------------------------------------------------------------------- endpoint and errors


def test_endpoint_resolution() -> None:
    assert resolve_endpoint("h:1", {ENDPOINT_ENV: "e:2"}) == "h:1"
    assert resolve_endpoint(None, {ENDPOINT_ENV: "e:2"}) == "e:2"
    assert resolve_endpoint(None, {ENDPOINT_ENV: "  "}) == DEFAULT_ENDPOINT
    assert resolve_endpoint(None, {}) == DEFAULT_ENDPOINT == "127.0.0.1:50051"


def test_endpoint_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "env-host:9")
    assert resolve_endpoint(None) == "env-host:9"
    monkeypatch.delenv(ENDPOINT_ENV)
    assert resolve_endpoint(None) == DEFAULT_ENDPOINT


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_error_mapping() -> None:
    refused = _RpcError(
        grpc.StatusCode.UNAVAILABLE,
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused",
    )
    assert str(error_from_rpc(refused, "127.0.0.1:1")) == (
        "cannot reach the ClusterLink service at 127.0.0.1:1 (is 'clusterlink serve' running?)"
    )
    store_down = _RpcError(grpc.StatusCode.UNAVAILABLE, "the store is unreachable: timeout")
    assert str(error_from_rpc(store_down, "h:1")) == "UNAVAILABLE: the store is unreachable: timeout"
    invalid = _RpcError(grpc.StatusCode.INVALID_ARGUMENT, "link.source.bootstrap_servers: empty\nlink_id: bad")
    err = error_from_rpc(invalid, "h:1")
    assert str(err) == "INVALID_ARGUMENT: link.source.bootstrap_servers: empty; link_id: bad"
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    slow = error_from_rpc(_RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), "h:1", 30)
    assert str(slow) == "DEADLINE_EXCEEDED: the ClusterLink service at h:1 did not answer within 30 s"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_gives_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"127.0.0.1:{_free_port()}"
    assert main.main(["link", "list", "--endpoint", endpoint]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: cannot reach the ClusterLink service at {endpoint} (is 'clusterlink serve' running?)\n"
    )


# --------------------------------------------------------------------------- commands against a recording client


class _Recorder:
    """Stands in for client.Client: records calls, answers from a table."""

    rpc_timeout = 30.0

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        self.calls.append((method, request))
        answer = self.answers[method]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _use(monkeypatch: pytest.MonkeyPatch, recorder: _Recorder) -> None:
    monkeypatch.setattr(link_cmd, "connect", lambda args: recorder)
    monkeypatch.setattr(mirror_cmd, "connect", lambda args: recorder)


def test_update_sends_one_mask_path_per_config_key(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder({"UpdateLink": pb.Link(name="links/dr-east")})
    _use(monkeypatch, recorder)
    argv = ["link", "update", "dr-east", "--config", "mirror.topic.prefix=e.", "--remove-config",
            "mirror.producer.linger.ms", "--etag", "abc"]  # fmt: skip
    assert main.main(argv) == 0
    method, request = recorder.calls[0]
    assert method == "UpdateLink"
    assert request.link.name == "links/dr-east"
    assert dict(request.link.config) == {"mirror.topic.prefix": "e."}
    assert list(request.update_mask.paths) == ["config.mirror.topic.prefix", "config.mirror.producer.linger.ms"]
    assert request.link.etag == "abc"


def test_create_reads_passwords_from_file_and_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = _Recorder({"CreateLink": pb.Link(name="links/dr-east")})
    _use(monkeypatch, recorder)
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("DEST_PW", "other")
    argv = ["link", "create", "dr-east", "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1",
            "--source-sasl-password-file", str(tmp_path / "pw"), "--destination-sasl-password-env", "DEST_PW"]  # fmt: skip
    assert main.main(argv) == 0
    request = recorder.calls[0][1]
    assert request.link_id == "dr-east"
    assert request.link.source.sasl_password == "s3cret"
    assert request.link.destination.sasl_password == "other"
    assert capsys.readouterr().out == 'created link "dr-east"\n'


def test_missing_password_env_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, _Recorder({}))
    monkeypatch.delenv("NO_SUCH_VAR_X", raising=False)
    argv = ["link", "create", "x", "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1",
            "--source-sasl-password-env", "NO_SUCH_VAR_X"]  # fmt: skip
    assert main.main(argv) == 1
    assert capsys.readouterr().err == (
        "error: environment variable NO_SUCH_VAR_X (--source-sasl-password-env) is not set\n"
    )


def test_rpc_error_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    failure = CliError("NOT_FOUND: link links/nope not found", grpc.StatusCode.NOT_FOUND)
    _use(monkeypatch, _Recorder({"GetMirrorTopic": failure}))
    assert main.main(["mirror", "describe", "nope", "t", "-o", "json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: NOT_FOUND: link links/nope not found\n"


def test_mirror_describe_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _use(monkeypatch, _Recorder({"GetMirrorTopic": _mirror()}))
    assert main.main(["mirror", "describe", "dr-east", "east.orders", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "ACTIVE"
    assert [(p["partition"], p["lag"]) for p in data["partitions"]] == [(0, 0), (1, BIG)]


def test_list_pages_through_everything(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pages = [
        pb.ListLinksResponse(links=[pb.Link(name="links/a")], next_page_token="p2"),
        pb.ListLinksResponse(links=[pb.Link(name="links/b")]),
    ]
    recorder = _Recorder({"ListLinks": pages})
    _use(monkeypatch, recorder)
    assert main.main(["link", "list", "-o", "json"]) == 0
    assert [link["name"] for link in json.loads(capsys.readouterr().out)] == ["links/a", "links/b"]
    assert [request.page_token for _, request in recorder.calls] == ["", "p2"]


def test_mirror_delete_keeps_destination_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = _Recorder({"DeleteMirrorTopic": empty_pb2.Empty()})
    _use(monkeypatch, recorder)
    assert main.main(["mirror", "delete", "dr-east", "orders"]) == 0
    assert recorder.calls[0][1].delete_destination_topic is False
    assert main.main(["mirror", "delete", "dr-east", "orders", "--delete-destination-topic"]) == 0
    assert recorder.calls[1][1].delete_destination_topic is True
    capsys.readouterr()


# --------------------------------------------------------------------------- promote --wait


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _state(state: int, lag: int = 0, reason: str = "") -> pb.MirrorTopic:
    return pb.MirrorTopic(name="links/l/mirrorTopics/t", state=state, max_lag=lag, reason=reason)


def test_wait_for_promotion_succeeds_after_polling() -> None:
    clock = _Clock()
    recorder = _Recorder(
        {
            "GetMirrorTopic": [
                _state(pb.MirrorTopic.PROMOTING, 3),
                CliError("cannot reach", grpc.StatusCode.UNAVAILABLE),  # transient: retried
                _state(pb.MirrorTopic.PROMOTED),
            ]
        }
    )
    start = _state(pb.MirrorTopic.PROMOTING, 5, "waiting for lag 0")
    done = mirror_cmd.wait_for_promotion(
        recorder, "links/l/mirrorTopics/t", start, 60, "t", clock=clock, sleep=clock.sleep  # type: ignore[arg-type]
    )
    assert done.state == pb.MirrorTopic.PROMOTED
    assert len(recorder.calls) == 3


def test_wait_for_promotion_reports_failure_reason() -> None:
    clock = _Clock()
    recorder = _Recorder({"GetMirrorTopic": [_state(pb.MirrorTopic.FAILED, reason="foreign write at offset 7")]})
    with pytest.raises(CliError, match="is FAILED: foreign write at offset 7"):
        mirror_cmd.wait_for_promotion(
            recorder, "n", _state(pb.MirrorTopic.PROMOTING), 60, "t", clock=clock, sleep=clock.sleep  # type: ignore[arg-type]
        )


def test_wait_for_promotion_times_out_with_state_and_lag() -> None:
    clock = _Clock()
    recorder = _Recorder({"GetMirrorTopic": _state(pb.MirrorTopic.PROMOTING, 42, "lag 42 on partition 3")})
    with pytest.raises(CliError) as caught:
        mirror_cmd.wait_for_promotion(
            recorder, "n", _state(pb.MirrorTopic.PROMOTING), 5, "t", clock=clock, sleep=clock.sleep  # type: ignore[arg-type]
        )
    message = str(caught.value)
    assert "not promoted within 5 s" in message
    assert "state PROMOTING, max lag 42" in message and "lag 42 on partition 3" in message
    assert clock.now == pytest.approx(5.0)


def test_wait_for_promotion_stops_on_other_errors() -> None:
    clock = _Clock()
    denied = CliError("PERMISSION_DENIED: no", grpc.StatusCode.PERMISSION_DENIED)
    recorder = _Recorder({"GetMirrorTopic": [denied]})
    with pytest.raises(CliError, match="PERMISSION_DENIED"):
        mirror_cmd.wait_for_promotion(
            recorder, "n", _state(pb.MirrorTopic.PROMOTING), 60, "t", clock=clock, sleep=clock.sleep  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------- optional command modules


def test_missing_optional_module_is_skipped() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    main._register_optional(sub, "nothing", "clusterlink.cli.no_such_module_xyz")
    assert "nothing" not in sub.choices


def test_broken_optional_module_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = main.importlib.import_module

    def fake_import(name: str) -> Any:
        if name == "clusterlink.cli.sandbox_cmd":
            raise ModuleNotFoundError("No module named 'libfoo'", name="libfoo")
        return real_import(name)

    monkeypatch.setattr(main.importlib, "import_module", fake_import)
    assert main.main(["sandbox", "up"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: the 'sandbox' command is unavailable: ModuleNotFoundError")
    # The other commands still work.
    assert main.main(["link", "config-keys", "-o", "json"]) == 0
    keys = json.loads(capsys.readouterr().out)
    assert "mirror.topic.prefix" in {k["key"] for k in keys}
