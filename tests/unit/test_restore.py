"""The pure parts of a restore (engine.restore) and of reading group offsets (kafka.groups)."""

from __future__ import annotations

from clusterlink.engine import restore
from clusterlink.kafka.groups import _c_string


def test_plan_starts_each_diverged_partition_where_its_side_partition_ends():
    parts = restore.plan({1: 150, 0: 40}, {0: 90, 1: 200}, {0: 7})
    assert [(s.partition, s.divergence_offset, s.end_offset, s.side_start_offset, s.records) for s in parts] == \
        [(0, 40, 90, 7, 0), (1, 150, 200, 0, 0)]


def test_the_store_keeps_what_the_plan_says():
    parts = restore.plan({0: 3}, {0: 9}, {0: 2})
    parts[0].records = 6
    assert restore.from_rows(restore.rows(parts)) == parts
    assert restore.from_rows(None) == []


def test_the_reason_while_restoring_says_what_is_set_aside_and_where():
    rows = restore.rows(restore.plan({0: 150}, {0: 200}, {}))
    rows[0]["records"] = 20
    text = restore.describe(restore.SETTING_ASIDE, rows, "orders.diverged")
    assert text == "restore: setting records aside; set aside in 'orders.diverged' so far: " \
                   "partition 0: 20 record(s) from offset 150"
    assert restore.describe(restore.REPLACING, [], "x").startswith("restore: replacing the destination topic")


def test_one_transactional_id_per_link_and_mirror_topic():
    assert restore.transactional_id("b-to-a", "orders") == "clusterlink-restore-b-to-a-orders"


def test_commit_metadata_ends_at_the_first_nul_as_librdkafka_reads_it():
    assert _c_string("app-meta\x00") == "app-meta"
    assert _c_string(None) == ""
    assert _c_string("plain") == "plain"
