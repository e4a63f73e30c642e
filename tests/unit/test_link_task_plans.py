"""The pure rules of the new topics, topic config and ACL sync tasks."""

from __future__ import annotations

import json

import pytest

from clusterlink.config import filters, link_config, topic_configs
from clusterlink.engine.tasks import acl_sync, new_topics
from clusterlink.engine.tasks.acl_sync import Binding

# --------------------------------------------------------------------------- new topics

ALL = filters.parse('{"topicFilters":[{"name":"*"}]}', "topicFilters")


def existing(sources=(), names=(), foreign=()) -> new_topics.Existing:
    return new_topics.Existing(frozenset(sources), frozenset(names), frozenset(foreign))


def test_new_topics_get_prefixed_mirrors_once():
    todo = new_topics.plan(["orders", "payments"], ALL, "dr.", existing(sources=["orders"], names=["dr.orders"]))
    assert todo.create == [("dr.payments", "payments")] and not todo.skipped


def test_internal_topics_and_the_other_halfs_mirrors_are_never_mirrored():
    todo = new_topics.plan(["__consumer_offsets", "__x", "orders", "b.payments"], ALL, "a.",
                           existing(foreign=["b.payments"]))
    assert todo.create == [("a.orders", "orders")]


def test_new_topics_follow_include_and_exclude_filters():
    only = filters.parse(json.dumps({"topicFilters": [
        {"name": "shop.", "patternType": "PREFIXED"},
        {"name": "shop.tmp-*", "patternType": "GLOB", "filterType": "EXCLUDE"}]}), "topicFilters")
    todo = new_topics.plan(["shop.a", "shop.tmp-1", "other"], only, "", existing())
    assert todo.create == [("shop.a", "shop.a")]


def test_a_name_too_long_or_taken_is_reported_not_created():
    long_topic = "t" * 245
    todo = new_topics.plan([long_topic, "orders"], ALL, "dr.x.", existing(names=["dr.x.orders"]))
    assert todo.create == []
    assert any("longer than 249" in s for s in todo.skipped)
    assert any("already has a mirror topic named 'dr.x.orders'" in s for s in todo.skipped)


# --------------------------------------------------------------------------- topic configs


def test_config_sync_sets_changed_keys_and_removes_keys_gone_from_the_source():
    keys = topic_configs.synced_keys(["min.insync.replicas"], ["segment.ms"])
    to_set, to_delete = topic_configs.sync_plan(
        {"retention.ms": "2", "min.insync.replicas": "1", "segment.ms": "9", "compression.type": "gzip"},
        {"retention.ms": "1", "max.message.bytes": "5", "segment.ms": "7", "compression.type": "producer"},
        keys)
    assert to_set == {"min.insync.replicas": "1", "retention.ms": "2"}
    assert to_delete == ["max.message.bytes"]  # segment.ms is excluded, compression.type never synced


@pytest.mark.parametrize("value, problem", [
    ("compression.type", "never synced"),
    ("retention.ms,message.timestamp.type", "never synced"),
    ("Retention.MS", "not a topic config name"),
])
def test_config_key_lists_refuse_keys_that_cannot_be_synced(value, problem):
    assert problem in topic_configs.key_problem(value)


def test_config_key_lists_accept_plain_keys():
    assert topic_configs.key_problem("min.insync.replicas, unclean.leader.election.enable") is None


# --------------------------------------------------------------------------- link config


@pytest.mark.parametrize("config, needle", [
    ({"auto.create.mirror.topics.enable": "true"}, "needs auto.create.mirror.topics.filters"),
    ({"acl.sync.enable": "true"}, "needs acl.filters"),
    ({"auto.create.mirror.topics.filters": '{"groupFilters":[]}'}, "topicFilters"),
    ({"acl.filters": '{"aclFilters":[{"resourceFilter":{"resourceType":"TOPICS"}}]}'}, "resourceType must be one of"),
    ({"acl.filters": '{"aclFilters":[{"accessFilter":{"principal":"alice"}}]}'}, "TYPE:NAME"),
    ({"topic.config.sync.ms": "999"}, "1000"),
    ({"acl.sync.ms": "10"}, "1000"),
    ({"auto.create.mirror.topics.ms": "0"}, "1000"),
    ({"topic.config.sync.include": "retention.ms", "topic.config.sync.exclude": "retention.ms"}, "both name"),
])
def test_bad_task_settings_are_refused(config, needle):
    problems = link_config.validate(config)
    assert problems and any(needle in p for p in problems), problems


def test_only_cluster_wide_tasks_keep_a_runtime_without_mirrors():
    assert link_config.runs_without_mirrors({"auto.create.mirror.topics.enable": "true"})
    assert link_config.runs_without_mirrors({"acl.sync.enable": "true"})
    assert not link_config.runs_without_mirrors({"consumer.offset.sync.enable": "true"})
    assert not link_config.runs_without_mirrors({})


# --------------------------------------------------------------------------- ACL filters and sync


def test_acl_filters_take_cluster_linkings_form_with_any_for_missing_fields():
    parsed = filters.parse_acl_filters(json.dumps({"aclFilters": [
        {"resourceFilter": {"resourceType": "topic", "name": "orders", "patternType": "literal"},
         "accessFilter": {"principal": "User:alice", "host": "*", "operation": "any", "permissionType": "allow"}},
        {"resourceFilter": {}, "accessFilter": {}},
    ]}))
    assert parsed[0] == filters.AclFilter("TOPIC", "orders", "LITERAL", "User:alice", "*", "ANY", "ALLOW")
    assert parsed[1] == filters.AclFilter()


def acl(name: str, pattern: str = "LITERAL", kind: str = "TOPIC", op: str = "READ") -> Binding:
    return Binding(kind, name, pattern, "User:alice", "*", op, "ALLOW")


def test_the_prefix_goes_before_topic_names_only():
    assert acl_sync.translate(acl("orders"), "dr.") == acl("dr.orders")
    assert acl_sync.translate(acl("ord", "PREFIXED"), "dr.") == acl("dr.ord", "PREFIXED")
    assert acl_sync.translate(acl("*"), "dr.") == acl("dr.", "PREFIXED")  # every topic -> every mirror topic
    assert acl_sync.translate(acl("app", kind="GROUP"), "dr.") == acl("app", kind="GROUP")
    assert acl_sync.translate(acl("orders"), "") == acl("orders")


def test_acl_sync_creates_what_is_missing_and_deletes_only_its_own():
    source = {acl("orders"), acl("payments")}
    theirs = acl("dr.audit")                   # on the destination, not the link's
    stale_ours = acl("dr.old")                 # the link made it; gone from the source
    vanished_ours = acl("dr.gone")             # the link made it; someone deleted it already
    destination = {theirs, stale_ours, acl("dr.payments")}   # dr.payments exists, made by someone else
    todo = acl_sync.plan(source, destination, {stale_ours, vanished_ours}, "dr.")
    assert todo.create == {acl("dr.orders")}
    assert todo.delete == {stale_ours}
    assert todo.forget == {vanished_ours}


def test_acl_sync_recreates_its_own_acl_deleted_on_the_destination():
    todo = acl_sync.plan({acl("orders")}, set(), {acl("orders")}, "")
    assert todo.create == {acl("orders")} and not todo.delete and not todo.forget
