"""The real `clusterlink` CLI, run as a subprocess against a running service
with real Kafka clusters behind it.

Fixtures (tests/conftest.py): `service_endpoint` ("host:port" of a running
`clusterlink serve`), `kafka_source` and `kafka_destination` (with
`.bootstrap`). Waits poll with a deadline; nothing sleeps to wait.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "clusterlink.cli.main"]
WAIT = 120.0  # seconds any single state change may take on a loaded machine


def run(*args: str, endpoint: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("CLUSTERLINK_ENDPOINT", "CLUSTERLINK_DEBUG")}
    full_env.update(env or {})
    argv = [*CLI, *args]
    if endpoint is not None:
        argv += ["--endpoint", endpoint]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, env=full_env, check=False)


def ok(*args: str, endpoint: str) -> str:
    result = run(*args, endpoint=endpoint)
    assert result.returncode == 0, f"clusterlink {' '.join(args)} failed ({result.returncode}): {result.stderr}"
    assert result.stderr == "", result.stderr
    return result.stdout


def ok_json(*args: str, endpoint: str) -> Any:
    return json.loads(ok(*args, "-o", "json", endpoint=endpoint))


def poll(what: str, probe: Callable[[], Any], check: Callable[[Any], bool], timeout: float = WAIT) -> Any:
    """Calls probe() until check(value) holds; fails with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last seen: {value!r}")
        time.sleep(0.1)  # between polls only; every probe is a fresh CLI process anyway


def assert_one_error_line(result: subprocess.CompletedProcess[str], prefix: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_source_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=60)


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=partition)
    assert producer.flush(60) == 0


@pytest.fixture
def link(service_endpoint: str, kafka_source: Any, kafka_destination: Any) -> Iterator[str]:
    """A fresh link between the two clusters, force-deleted afterwards."""
    name = unique("cli")
    ok(
        "link", "create", name,
        "--source-bootstrap", kafka_source.bootstrap,
        "--destination-bootstrap", kafka_destination.bootstrap,
        "--config", "mirror.status.interval.ms=200",
        endpoint=service_endpoint,
    )  # fmt: skip
    yield name
    run("link", "delete", name, "--force", endpoint=service_endpoint)


def test_link_lifecycle(service_endpoint: str, kafka_source: Any, kafka_destination: Any) -> None:
    name = unique("cli")
    out = ok(
        "link", "create", name,
        "--source-bootstrap", kafka_source.bootstrap,
        "--destination-bootstrap", kafka_destination.bootstrap,
        "--config", "mirror.producer.linger.ms=10",
        endpoint=service_endpoint,
    )  # fmt: skip
    assert out == f'created link "{name}"\n'
    try:
        # list, as a table
        table = ok("link", "list", endpoint=service_endpoint).splitlines()
        assert table[0].split() == ["NAME", "SOURCE", "DESTINATION", "STATE", "PAUSED", "MIRROR_TOPICS"]
        row = next(line.split() for line in table[1:] if line.split()[0] == name)
        assert row[1] == kafka_source.bootstrap and row[2] == kafka_destination.bootstrap
        assert row[4] == "no" and row[5] == "0"

        # list, as JSON
        links = ok_json("link", "list", endpoint=service_endpoint)
        mine = next(item for item in links if item["name"] == f"links/{name}")
        assert mine["source"]["bootstrap_servers"] == kafka_source.bootstrap
        assert mine["config"]["mirror.producer.linger.ms"] == "10"
        assert mine["paused"] is False
        assert isinstance(mine["status"]["mirror_topic_count"], int)

        # describe, both ways; the endpoint may also come from the environment
        described = run("link", "describe", name, env={"CLUSTERLINK_ENDPOINT": service_endpoint})
        assert described.returncode == 0, described.stderr
        assert described.stdout.splitlines()[0].split() == ["Name:", name]
        assert "mirror.producer.linger.ms" in described.stdout
        detail = ok_json("link", "describe", name, endpoint=service_endpoint)
        assert detail["name"] == f"links/{name}"
        assert detail["etag"]

        # update: set one key, remove another
        ok("link", "update", name, "--config", "mirror.topic.prefix=x.", endpoint=service_endpoint)
        ok("link", "update", name, "--remove-config", "mirror.producer.linger.ms", endpoint=service_endpoint)
        config = ok_json("link", "describe", name, endpoint=service_endpoint)["config"]
        assert config.get("mirror.topic.prefix") == "x."
        assert "mirror.producer.linger.ms" not in config

        # pause and resume
        paused = ok_json("link", "pause", name, endpoint=service_endpoint)
        assert paused["paused"] is True
        assert ok_json("link", "describe", name, endpoint=service_endpoint)["paused"] is True
        resumed = ok_json("link", "resume", name, endpoint=service_endpoint)
        assert resumed["paused"] is False
    finally:
        deleted = run("link", "delete", name, endpoint=service_endpoint)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == f'deleted link "{name}"\n'
    gone = run("link", "describe", name, endpoint=service_endpoint)
    assert_one_error_line(gone, "error: NOT_FOUND:")


def test_mirror_topic_lifecycle(service_endpoint: str, kafka_source: Any, link: str) -> None:
    topic = unique("orders")
    create_source_topic(kafka_source.bootstrap, topic, partitions=3)
    produce(kafka_source.bootstrap, topic, 10, partition=0)

    out = ok("mirror", "create", link, topic, endpoint=service_endpoint)
    assert out.startswith(f'created mirror topic "{topic}" on link "{link}"')

    def describe() -> dict[str, Any]:
        return ok_json("mirror", "describe", link, topic, endpoint=service_endpoint)  # type: ignore[no-any-return]

    mirror = poll(
        "the mirror to be ACTIVE and caught up",
        describe,
        lambda m: m["state"] == "ACTIVE"
        and len(m["partitions"]) == 3
        and any(p["partition"] == 0 and p["mirror_end_offset"] == 10 for p in m["partitions"])
        and m["max_lag"] == 0,
    )
    assert mirror["name"] == f"links/{link}/mirrorTopics/{topic}"
    assert mirror["source_topic"] == topic
    assert mirror["offset_fidelity"] == "EXACT"
    by_partition = {p["partition"]: p for p in mirror["partitions"]}
    assert sorted(by_partition) == [0, 1, 2]
    for p in mirror["partitions"]:
        for key in ("partition", "lag", "source_end_offset", "mirror_end_offset", "source_log_start_offset"):
            assert type(p[key]) is int, (key, p)
        assert p["lag"] == 0
    assert by_partition[0]["source_end_offset"] == 10
    assert by_partition[1]["mirror_end_offset"] == 0

    # the table form
    table = ok("mirror", "describe", link, topic, endpoint=service_endpoint).splitlines()
    assert table[0].split() == ["Name:", topic]
    assert ["State:", "ACTIVE"] in [line.split() for line in table]
    header = table.index(next(line for line in table if line.startswith("PARTITION")))
    # A last REPLICA column appears when the service records which replica copies each partition.
    assert table[header].split()[:6] == ["PARTITION", "SOURCE_START", "SOURCE_END", "MIRROR_END", "LAG", "FIDELITY"]
    assert table[header].split()[6:] in ([], ["REPLICA"])
    assert table[header + 1].split()[:6] == ["0", "0", "10", "10", "0", "EXACT"]

    listed = ok_json("mirror", "list", link, endpoint=service_endpoint)
    assert [m["source_topic"] for m in listed] == [topic]
    list_table = ok("mirror", "list", link, endpoint=service_endpoint).splitlines()
    assert list_table[1].split()[:3] == [topic, topic, "ACTIVE"]

    # pause and resume
    out = ok("mirror", "pause", link, topic, endpoint=service_endpoint)
    assert out.startswith(f'paused mirror topic "{topic}" on link "{link}": state ')
    poll("the mirror to be PAUSED", describe, lambda m: m["state"] == "PAUSED")
    ok("mirror", "resume", link, topic, endpoint=service_endpoint)
    poll("the mirror to be ACTIVE again", describe, lambda m: m["state"] == "ACTIVE")

    # mirroring goes on after the resume
    produce(kafka_source.bootstrap, topic, 5, partition=0)
    poll(
        "the new records to be mirrored",
        describe,
        lambda m: any(p["partition"] == 0 and p["mirror_end_offset"] == 15 for p in m["partitions"]),
    )

    # delete, keeping the destination topic: the answer says what is still to come
    out = ok("mirror", "delete", link, topic, endpoint=service_endpoint)
    assert out == (
        f'deletion of mirror topic "{topic}" on link "{link}" requested (state DELETING): mirroring stops, '
        "then the mirror topic is removed; the destination topic is kept\n"
    )
    poll(
        "the mirror to disappear",
        lambda: run("mirror", "describe", link, topic, endpoint=service_endpoint),
        lambda r: r.returncode == 1 and "NOT_FOUND" in r.stderr,
    )


def test_replicas_list(service_endpoint: str) -> None:
    """Table and JSON; what each replica owns is the serve process's to write."""
    table = ok("replicas", "list", endpoint=service_endpoint).splitlines()
    assert table[0].split() == ["REPLICA", "ADDRESS", "HEARTBEAT", "LINKS"]
    listed = ok_json("replicas", "list", endpoint=service_endpoint)
    assert isinstance(listed, list) and len(listed) == len(table) - 1
    for replica in listed:
        assert replica["name"] == "replicas/" + replica["replica_id"]
        assert set(replica) == {"name", "replica_id", "address", "start_time", "heartbeat_time", "links"}
    assert [line.split()[0] for line in table[1:]] == [r["replica_id"] for r in listed]


def test_promote_wait(service_endpoint: str, kafka_source: Any, link: str) -> None:
    topic = unique("payments")
    create_source_topic(kafka_source.bootstrap, topic, partitions=1)
    produce(kafka_source.bootstrap, topic, 20)
    ok("mirror", "create", link, topic, endpoint=service_endpoint)
    poll(
        "the mirror to be ACTIVE",
        lambda: ok_json("mirror", "describe", link, topic, endpoint=service_endpoint),
        lambda m: m["state"] == "ACTIVE",
    )
    result = run("mirror", "promote", link, topic, "--wait", "--timeout", str(WAIT), "-o", "json", endpoint=service_endpoint)
    assert result.returncode == 0, result.stderr
    promoted = json.loads(result.stdout)
    assert promoted["state"] == "PROMOTED"
    assert promoted["max_lag"] == 0
    assert [p["mirror_end_offset"] for p in promoted["partitions"]] == [20]


def test_bad_input_is_one_error_line(service_endpoint: str, kafka_source: Any, kafka_destination: Any) -> None:
    bad_name = run(
        "link", "create", "Not_A_Valid_Name",
        "--source-bootstrap", kafka_source.bootstrap,
        "--destination-bootstrap", kafka_destination.bootstrap,
        endpoint=service_endpoint,
    )  # fmt: skip
    assert_one_error_line(bad_name, "error: INVALID_ARGUMENT: ")

    bad_config = run(
        "link", "create", unique("cli"),
        "--source-bootstrap", kafka_source.bootstrap,
        "--destination-bootstrap", kafka_destination.bootstrap,
        "--config", "no.such.key=1",
        endpoint=service_endpoint,
    )  # fmt: skip
    line = assert_one_error_line(bad_config, "error: INVALID_ARGUMENT: ")
    assert "no.such.key" in line

    missing = run("mirror", "describe", unique("nolink"), "topic", endpoint=service_endpoint)
    assert_one_error_line(missing, "error: NOT_FOUND: ")

    # usage errors are argparse's: exit 2
    usage = run("link", "create", "x", "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1",
                "--config", "novalue", endpoint=service_endpoint)  # fmt: skip
    assert usage.returncode == 2
    assert "expected KEY=VALUE, got 'novalue' (missing '=')" in usage.stderr


def test_secrets_never_printed(service_endpoint: str, kafka_source: Any, kafka_destination: Any) -> None:
    secret = "s3cret-" + uuid.uuid4().hex
    result = run(
        "link", "create", unique("cli"),
        "--source-bootstrap", kafka_source.bootstrap,
        "--destination-bootstrap", kafka_destination.bootstrap,
        "--source-security-protocol", "SASL_PLAINTEXT",
        "--source-sasl-mechanism", "PLAIN",
        "--source-sasl-username", "mirror",
        "--source-sasl-password-env", "CLI_TEST_PASSWORD",
        "--validate-only", "-o", "json",
        endpoint=service_endpoint,
        env={"CLI_TEST_PASSWORD": secret},
    )  # fmt: skip
    assert secret not in result.stdout and secret not in result.stderr
    if result.returncode == 0:
        link = json.loads(result.stdout)
        assert link["source"]["sasl_username"] == "mirror"
        assert "sasl_password" not in link["source"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint() -> None:
    endpoint = f"127.0.0.1:{_free_port()}"
    for args in (("link", "list"), ("mirror", "describe", "l", "t", "-o", "json")):
        result = run(*args, endpoint=endpoint)
        assert_one_error_line(
            result, f"error: cannot reach the ClusterLink service at {endpoint} (is 'clusterlink serve' running?)"
        )
    from_env = run("link", "list", env={"CLUSTERLINK_ENDPOINT": endpoint})
    assert_one_error_line(from_env, f"error: cannot reach the ClusterLink service at {endpoint}")


# --------------------------------------------------------------------------- hardening (issue 7)


def topic_exists(bootstrap: str, topic: str) -> bool:
    return topic in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics


def test_delete_destination_topic_says_what_is_still_to_come(
    service_endpoint: str, kafka_source: Any, kafka_destination: Any, link: str
) -> None:
    topic = unique("gone")
    create_source_topic(kafka_source.bootstrap, topic, partitions=1)
    produce(kafka_source.bootstrap, topic, 3)
    ok("mirror", "create", link, topic, endpoint=service_endpoint)
    poll("the destination topic", lambda: topic_exists(kafka_destination.bootstrap, topic), bool)

    # without --wait: only requested; it must not claim the destination topic is deleted
    out = ok("mirror", "delete", link, topic, "--delete-destination-topic", endpoint=service_endpoint)
    assert out == (
        f'deletion of mirror topic "{topic}" on link "{link}" requested (state DELETING): mirroring stops, '
        "then the destination topic is deleted and the mirror topic removed; --wait waits until that is done\n"
    )
    assert "destination topic deleted" not in out
    # The deletion goes on by itself (it may finish before another command could run).
    poll("the mirror topic gone", lambda: run("mirror", "describe", link, topic, endpoint=service_endpoint).returncode,
         lambda rc: rc == 1)
    gone = run("mirror", "describe", link, topic, endpoint=service_endpoint)
    assert_one_error_line(gone, "error: NOT_FOUND: ")
    poll("the destination topic deleted", lambda: not topic_exists(kafka_destination.bootstrap, topic), bool)

    # --wait returns once it is done, and then says so.
    again = unique("gone")
    create_source_topic(kafka_source.bootstrap, again, partitions=1)
    ok("mirror", "create", link, again, endpoint=service_endpoint)
    poll("the destination topic", lambda: topic_exists(kafka_destination.bootstrap, again), bool)
    out = ok("mirror", "delete", link, again, "--delete-destination-topic", "--wait", "--timeout", str(WAIT),
             endpoint=service_endpoint)
    assert out == f'deleted mirror topic "{again}" on link "{link}" (destination topic deleted)\n'
    assert not topic_exists(kafka_destination.bootstrap, again)


def test_malformed_names_tokens_and_numbers_are_one_error_line(service_endpoint: str) -> None:
    """The examples of issue 7, through the CLI: each is refused with one short line and exit code 1."""
    name = unique("cli")
    ok("link", "create", name, "--source-bootstrap", "127.0.0.1:1", "--destination-bootstrap", "127.0.0.1:2",
       endpoint=service_endpoint)
    try:
        cases = [
            (("link", "create", "abc\n", "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1"), "link_id"),
            (("link", "create", "a" * 100_000, "--source-bootstrap", "a:1", "--destination-bootstrap", "b:1"), "link_id"),
            (("link", "describe", "abc\n"), "name"),
            (("mirror", "create", name, "a\n"), "mirror_topic.source_topic"),
            (("mirror", "create", name, "orders", "--name", "a\n"), "mirror_topic_id"),
            (("mirror", "describe", name, "a\n"), "name"),
            (("link", "update", name, "--config", "mirror.topic.prefix=p\n"), "mirror.topic.prefix"),
            (("link", "list", "--page-token", "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb" * 100), "page_token"),
            (("link", "list", "--page-token", "not-a-token"), "page_token"),
            (("mirror", "list", name, "--page-token", "e30"), "page_token"),
        ]
        for value in ["+5", " 5", "5\n", "1_000", "\uff15", "\u0665"]:
            cases.append((("link", "update", name, "--config", f"mirror.producer.linger.ms={value}"),
                          "mirror.producer.linger.ms"))
        for args, field in cases:
            result = run(*args, endpoint=service_endpoint)
            line = assert_one_error_line(result, "error: INVALID_ARGUMENT: ")
            assert field in line, (args, line)
            assert len(line) < 1024, (args, len(line))
        # nothing of it was stored
        config = ok_json("link", "describe", name, endpoint=service_endpoint)["config"]
        assert config == {}
        assert ok_json("mirror", "list", name, endpoint=service_endpoint) == []
        # one page at a time, with the token the CLI prints
        first = ok_json("link", "list", "--page-size", "1", endpoint=service_endpoint)
        assert len(first["links"]) == 1
        if first["next_page_token"]:
            second = ok_json("link", "list", "--page-token", first["next_page_token"], endpoint=service_endpoint)
            assert second["links"][0]["name"] > first["links"][0]["name"]
        # the CLI's own numbers are strict too (usage errors: exit 2)
        for args in (("mirror", "translate", name, "t", "--partition", "+1", "5"),
                     ("mirror", "translate", name, "t", "--partition", "0", "\u0665"),
                     ("mirror", "promote", name, "t", "--wait", "--timeout", "nan"),
                     ("link", "list", "--page-size", " 5")):
            usage = run(*args, endpoint=service_endpoint)
            assert usage.returncode == 2, (args, usage.stderr)
            assert "written with the digits 0-9" in usage.stderr, usage.stderr
    finally:
        run("link", "delete", name, "--force", endpoint=service_endpoint)
