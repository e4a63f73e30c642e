"""What the consumer offset sync writes on the destination (pure planning)."""

from clusterlink.engine.segments import Segment
from clusterlink.engine.tasks.group_offsets import Commit, MirroredPartition, MirroredTopic, plan, translate

EXACT = MirroredPartition(mirrored_source_offset=1000, segments=())


def test_exact_partition_offsets_are_copied_with_metadata():
    mirrored = {"orders": MirroredTopic("orders", {0: EXACT, 1: EXACT})}
    got = plan({"app": {("orders", 0): (10, "m0"), ("orders", 1): (20, "")}}, mirrored, "")
    assert got == {"app": [Commit("orders", 0, 10, "m0"), Commit("orders", 1, 20, "")]}


def test_an_offset_is_never_ahead_of_what_the_mirror_holds():
    part = MirroredPartition(mirrored_source_offset=500, segments=())
    assert translate(800, part) == 500
    assert translate(499, part) == 499


def test_translated_partition_offsets_follow_the_segments():
    # Source offsets 100 and 101 were a transaction marker and an aborted record.
    part = MirroredPartition(1000, (Segment(0, 0), Segment(102, 100)))
    assert translate(50, part) == 50
    assert translate(102, part) == 100
    assert translate(101, part) == 100  # inside the gap: the next record's offset
    assert translate(600, part) == 598
    assert translate(5000, part) == 998  # capped at the mirrored offset, then translated


def test_unmirrored_topics_and_partitions_are_skipped_and_the_prefix_applies():
    mirrored = {"orders": MirroredTopic("dc1.orders", {0: EXACT})}
    got = plan({"app": {("orders", 0): (7, ""), ("orders", 3): (9, ""), ("other", 0): (1, "")},
                "idle": {("other", 0): (5, "")}}, mirrored, "dc1.")
    assert got == {"dc1.app": [Commit("dc1.orders", 0, 7, "")]}


def test_no_committed_offset_is_not_written():
    mirrored = {"orders": MirroredTopic("orders", {0: EXACT})}
    assert plan({"app": {("orders", 0): (-1001, "")}}, mirrored, "") == {}
